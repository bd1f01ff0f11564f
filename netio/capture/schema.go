package capture

import (
	"strconv"

	"sequent/core/event"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// SchemaVersion is the version of the JSON every message carries in "schema". A field
// may be added without changing it; renaming, removing or changing a field's meaning
// makes a new version. Version 2 added the entry's "epoch" to every event and to its id
// (shard:op:index:epoch; version 1's was shard:op:index), and the capture_superseded
// message. Later, within version 2, capture_gap gained "epoch" too, and its id with it
// (shard:op:gap:epoch; before: shard:op:gap, which a consumer may still read in a stream,
// and which capture still writes when it cannot name the entry at op).
const SchemaVersion = 2

// The JSON of one event (schema 2). Ids and amounts (every u128) are decimal strings;
// other integers are JSON numbers; names are the ones `sequent client --json` prints.
//
//	{"schema":2, "id":"0:42:3:1", "shard":0, "op":42, "index":3, "epoch":1,
//	 "kind":"transfer_created", "timestamp":1700000000000000123,
//	 "transfer":{…TransferJSON…}, "debit_balance":{…BalanceJSON…},
//	 "credit_balance":{…BalanceJSON…}}
//
// "account" (AccountJSON) and "owner" for account_created; "transfer", "debit_balance" and
// "credit_balance" for transfer_created, transfer_posted, transfer_voided and
// transfer_expired (the expired transfer is the pending one; balances are after the
// release); "order" (OrderJSON) for order_*; "market_data" (MarketDataJSON) for trade and
// level. The Go types below decode it (tests decode every message with them, refusing
// unknown fields).
//
// The id, shard:op:index:epoch, is the message's Nats-Msg-Id too. "epoch" is the
// failover epoch of the primary that wrote the log entry: a replicated entry has the
// same on both nodes, so a promoted standby republishing an op (sync mode) produces the
// same id and JetStream drops the copy. Two primaries that wrote different entries at
// the same op (async mode, or a degraded primary, then a failover) produce different
// ids, so the new history is never taken for a duplicate of the lost one.
//
// Two messages are not events (no "index" payload; "kind" says which):
//
//	{"schema":2, "id":"0:90:gap:1", "shard":0, "op":90, "epoch":1, "kind":"capture_gap",
//	 "from_op":51, "to_op":90}
//	    Subject <prefix>.<shard>.capture.gap. The events of ops from_op..to_op are lost
//	    for good (the log holding them was retired before capture published them), or
//	    may be (the stream lost its last message: some of them were published, then
//	    removed, and a consumer that read them in time has them; a consumer that
//	    handled ops up to N misses at most those after N). Either way none of them
//	    comes again: the stream continues after to_op. "epoch" is that of the entry at
//	    to_op in the publisher's history (as an event's: a failover may discard that
//	    history, and a capture_superseded after the marker then voids it and the ops it
//	    named); absent, and not in the id ("0:90:gap"), when neither the publisher's log
//	    nor a snapshot at to_op named that entry, or it predates gap epochs: such a
//	    marker names no history.
//	{"schema":2, "id":"0:41:1:superseded:2", "shard":0, "op":41, "index":1,
//	 "kind":"capture_superseded", "epoch":2, "superseded_epoch":1,
//	 "from_op":42, "to_op":45}
//	    Subject <prefix>.<shard>.capture.superseded. The messages published before it
//	    for ops from_op..to_op (the newest of them of superseded_epoch) belong to a
//	    history that a failover discarded: a primary published them, then lost its
//	    place to a node that never received those entries (async replication, or a
//	    degraded primary). They never happened; undo what was done with them. The
//	    stream continues after the event op:index (the last one that stands; 0:0 when
//	    none does) with the history of the primary of "epoch": ops from op onwards
//	    again, with different ids.
//
// Every committed change is captured, whoever made it and whoever may read it: the
// matching engine's own accounts and transfers (escrow accounts, fills and their
// settlements) too, marked "system": true, because without them the captured ledger
// would not balance. An order's reservation is no transfer and no event (core/event's
// doc): it shows only in the balances of the account's next transfer event. Ownership
// limits what a client reads over the binary protocol, not what this stream holds: it is
// an operators' stream, to be secured as such in NATS.
// Balances are the true balances after the change, not the ones the sender was shown.
type EventJSON struct {
	Schema    int    `json:"schema"`
	ID        string `json:"id"`
	Shard     uint32 `json:"shard"`
	Op        uint64 `json:"op"`
	Index     uint32 `json:"index"`
	Kind      string `json:"kind"`
	Timestamp uint64 `json:"timestamp"`
	// System is true for Sequent's own accounts and transfers (ids in the system range,
	// bit 127 set: the matching engine's escrow accounts, holds and settlements); absent
	// otherwise.
	System  bool         `json:"system,omitempty"`
	Account *AccountJSON `json:"account,omitempty"`
	// Owner is the client that created the account (account_created only; 0: the system).
	Owner         *uint64         `json:"owner,omitempty"`
	Transfer      *TransferJSON   `json:"transfer,omitempty"`
	DebitBalance  *BalanceJSON    `json:"debit_balance,omitempty"`
	CreditBalance *BalanceJSON    `json:"credit_balance,omitempty"`
	Order         *OrderJSON      `json:"order,omitempty"`
	MarketData    *MarketDataJSON `json:"market_data,omitempty"`
	// Epoch: events, the failover epoch of the primary that wrote the log entry (schema
	// 2); capture_gap, that of the entry at its op (absent when unknown);
	// capture_superseded, the epoch of the primary whose history replaces the
	// superseded messages.
	Epoch uint64 `json:"epoch,omitempty"`
	// FromOp and ToOp: the ops a capture_gap or capture_superseded message covers.
	FromOp uint64 `json:"from_op,omitempty"`
	ToOp   uint64 `json:"to_op,omitempty"`
	// SupersededEpoch (capture_superseded): the epoch of the newest message it voids.
	SupersededEpoch uint64 `json:"superseded_epoch,omitempty"`
}

// AccountJSON is an account, as `sequent client lookup-accounts --json` prints it: the
// one definition of netio/jsonview, shared with the HTTP API.
type AccountJSON = jsonview.Account

// TransferJSON is a transfer, as `sequent client lookup-transfers --json` prints it
// (netio/jsonview's, as AccountJSON).
type TransferJSON = jsonview.Transfer

// BalanceJSON is an account's balances, as `sequent client balance-history --json`
// prints them (without the timestamp: the event has it).
type BalanceJSON struct {
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
}

// OrderJSON is an execution report, as `sequent client reports --json` prints it, plus
// client, type and contra_order_id.
type OrderJSON struct {
	OrderID        uint64 `json:"order_id"`
	ClientOrderID  uint64 `json:"client_order_id"`
	Client         uint64 `json:"client"`
	Account        uint64 `json:"account"`
	Instrument     uint32 `json:"instrument"`
	Kind           uint8  `json:"kind"`
	Status         string `json:"status"`
	Side           uint8  `json:"side"`
	Type           uint8  `json:"type"`
	Liquidity      uint8  `json:"liquidity"`
	TradeID        uint64 `json:"trade_id"`
	ContraOrderID  uint64 `json:"contra_order_id"`
	Price          uint64 `json:"price"`
	Quantity       uint64 `json:"quantity"`
	LeavesQuantity uint64 `json:"leaves_quantity"`
	FilledQuantity uint64 `json:"filled_quantity"`
	Fee            string `json:"fee"`
	Timestamp      uint64 `json:"timestamp"`
}

// MarketDataJSON is a market-data update (PROTOCOL.md section 10's MarketDataUpdate).
type MarketDataJSON struct {
	Instrument  uint32 `json:"instrument"`
	Sequence    uint64 `json:"sequence"`
	Kind        uint8  `json:"kind"`
	Side        uint8  `json:"side"`
	Price       uint64 `json:"price"`
	Quantity    string `json:"quantity"`
	OrderCount  uint32 `json:"order_count"`
	TradeID     uint64 `json:"trade_id"`
	BidPrice    uint64 `json:"bid_price"`
	BidQuantity string `json:"bid_quantity"`
	AskPrice    uint64 `json:"ask_price"`
	AskQuantity string `json:"ask_quantity"`
	Timestamp   uint64 `json:"timestamp"`
}

// jsonWriter appends JSON to a buffer without reflection or allocation.
type jsonWriter struct {
	b     []byte
	first bool
}

func (w *jsonWriter) open() { w.b = append(w.b, '{'); w.first = true }
func (w *jsonWriter) close() {
	w.b = append(w.b, '}')
	w.first = false
}

func (w *jsonWriter) key(name string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) number(name string, value uint64) {
	w.key(name)
	w.b = strconv.AppendUint(w.b, value, 10)
}

func (w *jsonWriter) decimal(name string, value model.Uint128) {
	w.key(name)
	w.b = append(w.b, '"')
	w.b = value.AppendDecimal(w.b)
	w.b = append(w.b, '"')
}

// system writes "system": true when id lies in the system range, nothing otherwise.
func (w *jsonWriter) system(id model.Uint128) {
	if model.IsSystemID(id) {
		w.key("system")
		w.b = append(w.b, "true"...)
	}
}

// text writes a string that needs no escaping (names, ids: ASCII letters, digits, _ :).
func (w *jsonWriter) text(name, value string) {
	w.key(name)
	w.b = append(w.b, '"')
	w.b = append(w.b, value...)
	w.b = append(w.b, '"')
}

// appendMessageID appends shard:op:index:epoch, the message's Nats-Msg-Id and JSON "id"
// (epoch: of the log entry that produced event e).
func appendMessageID(b []byte, shard uint32, e *event.Event, epoch uint64) []byte {
	b = strconv.AppendUint(b, uint64(shard), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, e.Op, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(e.Index), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, epoch, 10)
}

// appendEvent appends the JSON of event e of buffer to b; epoch is the log entry's.
func appendEvent(b []byte, shard uint32, buffer *event.Buffer, e *event.Event, epoch uint64) []byte {
	w := jsonWriter{b: b}
	w.open()
	w.number("schema", SchemaVersion)
	w.key("id")
	w.b = append(w.b, '"')
	w.b = appendMessageID(w.b, shard, e, epoch)
	w.b = append(w.b, '"')
	w.number("shard", uint64(shard))
	w.number("op", e.Op)
	w.number("index", uint64(e.Index))
	w.number("epoch", epoch)
	w.text("kind", e.Kind.String())
	switch {
	case e.Kind == event.KindAccountCreated:
		account := buffer.Account(e)
		w.number("timestamp", account.Timestamp)
		w.system(account.ID)
		w.key("account")
		w.account(account)
		w.number("owner", buffer.AccountOwner(e))
	case e.Kind.Ledger():
		t := buffer.Transfer(e)
		timestamp := t.Transfer.Timestamp
		w.number("timestamp", timestamp)
		w.system(t.Transfer.ID)
		w.key("transfer")
		w.transfer(&t.Transfer)
		w.key("debit_balance")
		w.balance(&t.Debit)
		w.key("credit_balance")
		w.balance(&t.Credit)
	case e.Kind.Order():
		r := buffer.Order(e)
		w.number("timestamp", r.Timestamp)
		w.key("order")
		w.order(r)
	default:
		u := buffer.MarketDataOf(e)
		w.number("timestamp", u.Timestamp)
		w.key("market_data")
		w.marketData(u)
	}
	w.close()
	return w.b
}

func (w *jsonWriter) account(a *model.Account) {
	w.open()
	w.decimal("id", a.ID)
	w.number("ledger", uint64(a.Ledger))
	w.number("code", uint64(a.Code))
	w.number("flags", uint64(a.Flags))
	w.decimal("debits_pending", a.DebitsPending)
	w.decimal("debits_posted", a.DebitsPosted)
	w.decimal("credits_pending", a.CreditsPending)
	w.decimal("credits_posted", a.CreditsPosted)
	w.decimal("user_data_128", a.UserData128)
	w.number("user_data_64", a.UserData64)
	w.number("user_data_32", uint64(a.UserData32))
	w.number("timestamp", a.Timestamp)
	w.close()
}

func (w *jsonWriter) transfer(t *model.Transfer) {
	w.open()
	w.decimal("id", t.ID)
	w.decimal("debit_account_id", t.DebitAccountID)
	w.decimal("credit_account_id", t.CreditAccountID)
	w.decimal("amount", t.Amount)
	w.decimal("pending_id", t.PendingID)
	w.number("ledger", uint64(t.Ledger))
	w.number("code", uint64(t.Code))
	w.number("flags", uint64(t.Flags))
	w.number("timeout", uint64(t.Timeout))
	w.decimal("user_data_128", t.UserData128)
	w.number("user_data_64", t.UserData64)
	w.number("user_data_32", uint64(t.UserData32))
	w.number("timestamp", t.Timestamp)
	w.close()
}

func (w *jsonWriter) balance(b *model.Balance) {
	w.open()
	w.decimal("debits_pending", b.DebitsPending)
	w.decimal("debits_posted", b.DebitsPosted)
	w.decimal("credits_pending", b.CreditsPending)
	w.decimal("credits_posted", b.CreditsPosted)
	w.close()
}

func (w *jsonWriter) order(r *model.ExecutionReport) {
	w.open()
	w.number("order_id", r.OrderID)
	w.number("client_order_id", r.ClientOrderID)
	w.number("client", r.Client)
	w.number("account", r.Account)
	w.number("instrument", uint64(r.Instrument))
	w.number("kind", uint64(r.Kind))
	w.text("status", r.Status.String())
	w.number("side", uint64(r.Side))
	w.number("type", uint64(r.Type))
	w.number("liquidity", uint64(r.Liquidity))
	w.number("trade_id", r.TradeID)
	w.number("contra_order_id", r.ContraOrderID)
	w.number("price", r.Price)
	w.number("quantity", r.Quantity)
	w.number("leaves_quantity", r.LeavesQuantity)
	w.number("filled_quantity", r.FilledQuantity)
	w.decimal("fee", r.Fee)
	w.number("timestamp", r.Timestamp)
	w.close()
}

func (w *jsonWriter) marketData(u *model.MarketDataUpdate) {
	w.open()
	w.number("instrument", uint64(u.Instrument))
	w.number("sequence", u.Sequence)
	w.number("kind", uint64(u.Kind))
	w.number("side", uint64(u.Side))
	w.number("price", u.Price)
	w.decimal("quantity", u.Quantity)
	w.number("order_count", uint64(u.OrderCount))
	w.number("trade_id", u.TradeID)
	w.number("bid_price", u.BidPrice)
	w.decimal("bid_quantity", u.BidQuantity)
	w.number("ask_price", u.AskPrice)
	w.decimal("ask_quantity", u.AskQuantity)
	w.number("timestamp", u.Timestamp)
	w.close()
}

// appendSubject appends the subject of event e: consumers filter by shard, family,
// ledger or instrument, kind and account with NATS wildcards.
//
//	<prefix>.<shard>.ledger.<ledger>.<kind>.<debit account>.<credit account>
//	    (account_created: the account's id in both account positions)
//	<prefix>.<shard>.order.<instrument>.<kind>.<client>.<trading account>
//	<prefix>.<shard>.market.<instrument>.<kind>
func appendSubject(b []byte, prefix string, shard uint32, buffer *event.Buffer, e *event.Event) []byte {
	b = append(b, prefix...)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(shard), 10)
	switch {
	case e.Kind == event.KindAccountCreated:
		a := buffer.Account(e)
		b = appendTokens(b, "ledger", uint64(a.Ledger), e.Kind)
		b = append(a.ID.AppendDecimal(append(b, '.')), '.')
		return a.ID.AppendDecimal(b)
	case e.Kind.Ledger():
		t := &buffer.Transfer(e).Transfer
		b = appendTokens(b, "ledger", uint64(t.Ledger), e.Kind)
		b = append(t.DebitAccountID.AppendDecimal(append(b, '.')), '.')
		return t.CreditAccountID.AppendDecimal(b)
	case e.Kind.Order():
		r := buffer.Order(e)
		b = appendTokens(b, "order", uint64(r.Instrument), e.Kind)
		b = strconv.AppendUint(append(b, '.'), r.Client, 10)
		return strconv.AppendUint(append(b, '.'), r.Account, 10)
	}
	return appendTokens(b, "market", uint64(buffer.MarketDataOf(e).Instrument), e.Kind)
}

func appendTokens(b []byte, family string, scope uint64, kind event.Kind) []byte {
	b = append(append(b, '.'), family...)
	b = strconv.AppendUint(append(b, '.'), scope, 10)
	return append(append(b, '.'), kind.String()...)
}
