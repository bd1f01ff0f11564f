package e2e

// Session 47's hunt (helper hunt47b): what flows out of Sequent, read as an integrator
// reads README "Change data capture (NATS JetStream)" and "Market data" and PROTOCOL.md
// section 8a. The consumer below is written from those words alone: it decodes the JSON
// into its own types, not the project's (capture.EventJSON), so a field the documents
// name and the code does not write, or writes otherwise, shows.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/model"
	"sequent/netio/client"
)

// documentedBalance is an account's four balances as the README's example prints them
// (decimal strings).
type documentedBalance struct {
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
}

// documentedEvent is one message of the stream, with the fields the README's example
// and its subject list name.
type documentedEvent struct {
	Schema    int     `json:"schema"`
	ID        string  `json:"id"`
	Shard     uint32  `json:"shard"`
	Op        uint64  `json:"op"`
	Index     uint32  `json:"index"`
	Epoch     uint64  `json:"epoch"`
	Kind      string  `json:"kind"`
	Timestamp uint64  `json:"timestamp"`
	System    bool    `json:"system"`
	Owner     *uint64 `json:"owner"`
	Account   *struct {
		ID     string `json:"id"`
		Ledger uint32 `json:"ledger"`
	} `json:"account"`
	Transfer *struct {
		ID        string `json:"id"`
		Debit     string `json:"debit_account_id"`
		Credit    string `json:"credit_account_id"`
		Amount    string `json:"amount"`
		PendingID string `json:"pending_id"`
		Ledger    uint32 `json:"ledger"`
		Flags     uint16 `json:"flags"`
		Timeout   uint32 `json:"timeout"`
	} `json:"transfer"`
	DebitBalance  *documentedBalance `json:"debit_balance"`
	CreditBalance *documentedBalance `json:"credit_balance"`
	Order         *struct {
		Client     uint64 `json:"client"`
		Account    uint64 `json:"account"`
		Instrument uint32 `json:"instrument"`
	} `json:"order"`
	MarketData *struct {
		Instrument uint32 `json:"instrument"`
		Sequence   uint64 `json:"sequence"`
		Side       uint8  `json:"side"`
		Price      uint64 `json:"price"`
		Quantity   string `json:"quantity"`
		OrderCount uint32 `json:"order_count"`
	} `json:"market_data"`
	FromOp          uint64 `json:"from_op"`
	ToOp            uint64 `json:"to_op"`
	SupersededEpoch uint64 `json:"superseded_epoch"`

	subject   string // The NATS subject it was stored under.
	messageID string // Its Nats-Msg-Id header.
}

// readDocumentedStream reads every message of the stream in stream order (nil when the
// stream cannot be read yet).
func readDocumentedStream(t *testing.T, url, stream string) []documentedEvent {
	t.Helper()
	var events []documentedEvent
	for _, message := range streamMessages(t, url, stream) {
		sequence := message.Sequence
		var e documentedEvent
		if err := json.Unmarshal(message.Data, &e); err != nil {
			t.Fatalf("message %d is not JSON: %v\n%s", sequence, err, message.Data)
		}
		e.subject = message.Subject
		e.messageID = message.Header.Get("Nats-Msg-Id")
		// README: each message carries Nats-Expected-Last-Sequence and, behind a
		// session's first message, Nats-Expected-Last-Msg-Id, the previous message's id.
		// JetStream keeps the headers it was given: where they are, they must say so.
		if last := message.Header.Get("Nats-Expected-Last-Sequence"); last != "" &&
			last != strconv.FormatUint(sequence-1, 10) {
			t.Fatalf("message %d (%s): Nats-Expected-Last-Sequence %s", sequence, e.ID, last)
		}
		if last := message.Header.Get("Nats-Expected-Last-Msg-Id"); last != "" &&
			len(events) > 0 && last != events[len(events)-1].messageID {
			t.Fatalf("message %d (%s): Nats-Expected-Last-Msg-Id %s", sequence, e.ID, last)
		}
		events = append(events, e)
	}
	return events
}

// documentedSubject is the subject the README's list gives an event.
func documentedSubject(e documentedEvent) string {
	switch {
	case e.Kind == "account_created" && e.Account != nil:
		return fmt.Sprintf("sequent.%d.ledger.%d.account_created.%s.%s", e.Shard,
			e.Account.Ledger, e.Account.ID, e.Account.ID)
	case strings.HasPrefix(e.Kind, "transfer_") && e.Transfer != nil:
		return fmt.Sprintf("sequent.%d.ledger.%d.%s.%s.%s", e.Shard, e.Transfer.Ledger,
			e.Kind, e.Transfer.Debit, e.Transfer.Credit)
	case strings.HasPrefix(e.Kind, "order_") && e.Order != nil:
		return fmt.Sprintf("sequent.%d.order.%d.%s.%d.%d", e.Shard, e.Order.Instrument,
			e.Kind, e.Order.Client, e.Order.Account)
	case (e.Kind == "trade" || e.Kind == "level") && e.MarketData != nil:
		return fmt.Sprintf("sequent.%d.market.%d.%s", e.Shard, e.MarketData.Instrument, e.Kind)
	case e.Kind == "capture_gap":
		return fmt.Sprintf("sequent.%d.capture.gap", e.Shard)
	}
	return "(no documented subject for kind " + e.Kind + ")"
}

// ledgerFollower keeps every account's balances from the stream's events alone, the way
// a downstream ledger would: each transfer event moves amounts by the documented
// semantics, and the event's balances ("the true balances after the change") must equal
// what the moves give.
//
// Order reservations are no events (PROTOCOL.md, "What an order holds is a reservation,
// not a transfer"): they move a trading account's debits_pending and the escrow's
// credits_pending with no transfer, so the follower compares the pending balances only
// of the accounts in exact (those no order ever pays from), and the posted ones of all.
type ledgerFollower struct {
	balances map[string]*[4]*big.Int // debits pending, debits posted, credits pending, credits posted
	pending  map[string][3]string    // pending transfer id: debit, credit, amount
	exact    map[string]bool         // accounts whose pending balances are compared too
	problems []string
	// books: per instrument, the levels the level events gave (PROTOCOL.md 8a: absolute
	// quantity, 0 removes), and sequences the instrument's last sequence.
	books     map[uint32]map[bookLevelKey]model.DepthLevel
	sequences map[uint32]uint64
}

// bookLevelKey names a price level of one side.
type bookLevelKey struct {
	side  model.Side
	price uint64
}

func newLedgerFollower(exact map[string]bool) *ledgerFollower {
	return &ledgerFollower{balances: map[string]*[4]*big.Int{}, pending: map[string][3]string{},
		exact: exact, books: map[uint32]map[bookLevelKey]model.DepthLevel{},
		sequences: map[uint32]uint64{}}
}

// differs reports whether stated (pending and posted, in ledgerFollower.balances'
// order) departs from what the events gave account.
func (f *ledgerFollower) differs(account string, stated [4]string) bool {
	want := f.balance(account)
	for i := range stated {
		if (i%2 == 1 || f.exact[account]) && stated[i] != want[i].String() {
			return true
		}
	}
	return false
}

func (f *ledgerFollower) balance(id string) *[4]*big.Int {
	b := f.balances[id]
	if b == nil {
		b = &[4]*big.Int{new(big.Int), new(big.Int), new(big.Int), new(big.Int)}
		f.balances[id] = b
	}
	return b
}

func decimal(text string) *big.Int {
	v, ok := new(big.Int).SetString(text, 10)
	if !ok {
		return big.NewInt(-1)
	}
	return v
}

// apply moves the balances by one event and compares them with the event's.
func (f *ledgerFollower) apply(e documentedEvent) {
	if e.Kind == "account_created" {
		f.balance(e.Account.ID)
		return
	}
	if !strings.HasPrefix(e.Kind, "transfer_") {
		return
	}
	tr := e.Transfer
	debit, credit := f.balance(tr.Debit), f.balance(tr.Credit)
	amount := decimal(tr.Amount)
	switch e.Kind {
	case "transfer_created":
		switch {
		case tr.Flags&model.TransferPending != 0:
			debit[0].Add(debit[0], amount)
			credit[2].Add(credit[2], amount)
			f.pending[tr.ID] = [3]string{tr.Debit, tr.Credit, tr.Amount}
		case tr.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0:
			f.problems = append(f.problems, e.ID+": a post or void as transfer_created")
		default:
			debit[1].Add(debit[1], amount)
			credit[3].Add(credit[3], amount)
		}
	case "transfer_posted", "transfer_voided", "transfer_expired":
		key := tr.PendingID
		if e.Kind == "transfer_expired" {
			key = tr.ID // The expired transfer is the pending one (schema.go).
		}
		p, ok := f.pending[key]
		if !ok {
			f.problems = append(f.problems, fmt.Sprintf("%s: %s of pending %s never created",
				e.ID, e.Kind, key))
			return
		}
		delete(f.pending, key)
		debit, credit = f.balance(p[0]), f.balance(p[1])
		reserved := decimal(p[2])
		debit[0].Sub(debit[0], reserved)
		credit[2].Sub(credit[2], reserved)
		if e.Kind == "transfer_posted" {
			debit[1].Add(debit[1], amount)
			credit[3].Add(credit[3], amount)
		}
		if p[0] != tr.Debit || p[1] != tr.Credit {
			f.problems = append(f.problems, fmt.Sprintf("%s: %s names accounts %s->%s, the pending %s->%s",
				e.ID, e.Kind, tr.Debit, tr.Credit, p[0], p[1]))
		}
	default:
		f.problems = append(f.problems, e.ID+": undocumented kind "+e.Kind)
		return
	}
	for side, stated := range map[string]*documentedBalance{tr.Debit: e.DebitBalance,
		tr.Credit: e.CreditBalance} {
		if stated == nil {
			f.problems = append(f.problems, e.ID+": no balance of account "+side)
			continue
		}
		got := [4]string{stated.DebitsPending, stated.DebitsPosted, stated.CreditsPending,
			stated.CreditsPosted}
		if f.differs(side, got) {
			f.problems = append(f.problems, fmt.Sprintf(
				"%s (%s %s): account %s's balances %v, the events so far give %v",
				e.ID, e.Kind, tr.ID, side, got, *f.balance(side)))
		}
	}
}

// checkDocumentedStream follows the events and reports every way the stream departs from
// the README: ids unique and equal to shard:op:index:epoch and Nats-Msg-Id, op order,
// subjects, schema 2, market-data sequences per instrument with no gaps (PROTOCOL.md
// 8a: +1 for every update, trades and levels alike), and balances.
func checkDocumentedStream(events []documentedEvent, exact map[string]bool) (*ledgerFollower,
	[]string) {
	return checkDocumentedStreamWithGaps(events, exact, nil)
}

// checkDocumentedStreamWithGaps is checkDocumentedStream for a stream that may hold
// capture_gap markers: each is checked and appended to gaps.
func checkDocumentedStreamWithGaps(events []documentedEvent, exact map[string]bool,
	gaps *[]documentedEvent) (*ledgerFollower, []string) {
	f := newLedgerFollower(exact)
	var problems []string
	seen := map[string]bool{}
	sequences := f.sequences
	var lastOp uint64
	var lastIndex uint32
	for i, e := range events {
		if seen[e.ID] {
			problems = append(problems, e.ID+": in the stream twice")
		}
		seen[e.ID] = true
		if e.messageID != e.ID {
			problems = append(problems, fmt.Sprintf("%s: Nats-Msg-Id %q", e.ID, e.messageID))
		}
		if e.Schema != 2 {
			problems = append(problems, fmt.Sprintf("%s: schema %d", e.ID, e.Schema))
		}
		if subject := documentedSubject(e); subject != e.subject {
			problems = append(problems, fmt.Sprintf("%s: subject %s, documented %s", e.ID,
				e.subject, subject))
		}
		if e.Kind == "capture_gap" && gaps != nil {
			// "The events of ops from_op..to_op are lost ... a consumer that handled ops
			// up to N misses at most those after N ... the stream continues after to_op";
			// its id is shard:op:gap:epoch, op being to_op.
			*gaps = append(*gaps, e)
			if want := fmt.Sprintf("%d:%d:gap:%d", e.Shard, e.Op, e.Epoch); e.ID != want {
				problems = append(problems, fmt.Sprintf("%s: gap id, fields say %s", e.ID, want))
			}
			if e.Op != e.ToOp || e.FromOp > e.ToOp || e.FromOp > lastOp+1 {
				problems = append(problems, fmt.Sprintf("%s: gap %d..%d after op %d", e.ID,
					e.FromOp, e.ToOp, lastOp))
			}
			lastOp, lastIndex = e.ToOp, math.MaxUint32
			continue
		}
		if e.Kind == "capture_gap" || e.Kind == "capture_superseded" {
			problems = append(problems, e.ID+": unexpected marker "+e.Kind)
			continue
		}
		if want := fmt.Sprintf("%d:%d:%d:%d", e.Shard, e.Op, e.Index, e.Epoch); e.ID != want {
			problems = append(problems, fmt.Sprintf("%s: id, fields say %s", e.ID, want))
		}
		if i > 0 && (e.Op < lastOp || e.Op == lastOp && e.Index <= lastIndex) {
			problems = append(problems, fmt.Sprintf("%s after %d:%d: not in op order", e.ID,
				lastOp, lastIndex))
		}
		lastOp, lastIndex = e.Op, e.Index
		if e.MarketData != nil {
			instrument := e.MarketData.Instrument
			if e.MarketData.Sequence != sequences[instrument]+1 {
				problems = append(problems, fmt.Sprintf("%s: instrument %d's sequence %d after %d",
					e.ID, instrument, e.MarketData.Sequence, sequences[instrument]))
			}
			sequences[instrument] = e.MarketData.Sequence
			if e.Kind == "level" {
				book := f.books[instrument]
				if book == nil {
					book = map[bookLevelKey]model.DepthLevel{}
					f.books[instrument] = book
				}
				key := bookLevelKey{model.Side(e.MarketData.Side), e.MarketData.Price}
				quantity := decimal(e.MarketData.Quantity)
				if quantity.Sign() == 0 {
					delete(book, key)
				} else {
					book[key] = model.DepthLevel{Price: key.price, Side: key.side,
						Quantity: model.U128(quantity.Uint64()), OrderCount: e.MarketData.OrderCount}
				}
			}
		}
		// README: the engine's own accounts and transfers (ids in the reserved range,
		// bit 127: PROTOCOL.md) are marked "system": true, and account_created names its
		// "owner" (0: the system).
		var id string
		switch {
		case e.Kind == "account_created" && e.Account != nil:
			id = e.Account.ID
			if e.Owner == nil || (*e.Owner == 0) != inSystemRange(id) {
				problems = append(problems, fmt.Sprintf("%s: account %s's owner %v", e.ID, id, e.Owner))
			}
		case e.Transfer != nil:
			id = e.Transfer.ID
		}
		if id != "" && e.System != inSystemRange(id) {
			problems = append(problems, fmt.Sprintf("%s: %s %s system %v", e.ID, e.Kind, id, e.System))
		}
		f.apply(e)
	}
	return f, append(problems, f.problems...)
}

// TestHunt47bCapturedLedgerAgreesWithTheLedger drives a node with change capture through
// every ledger event kind (single-phase, pending then posted in part, voided and
// expired) and trading (orders that rest, trade and are canceled: the engine's reservations,
// fills and settlements), with a SIGKILL and restart in the middle, and reads the stream as the
// README describes it: every message once, in op order, under its documented subject,
// with market-data sequences that have no holes, and each transfer event's balances
// the ones the events before it give; at the end the balances the stream gives equal
// the node's own (lookup_accounts) for every client account, and the book built from its
// level events equals get_book.
func TestHunt47bCapturedLedgerAgreesWithTheLedger(t *testing.T) {
	capturedLedgerAgreesWithTheLedger(t, "SEQUENT_0")
}

// capturedLedgerAgreesWithTheLedger runs the test above with the node's extra flags,
// reading streamName (kept general for a node of several shards).
func capturedLedgerAgreesWithTheLedger(t *testing.T, streamName string, extra ...string) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("47", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "trade", "admin"))
	s := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{"--keys", keys,
		"--cdc-nats", natsURL}, extra...)...)
	connect := func() *client.Client {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		raw := make([]byte, 32)
		for i := range raw {
			raw[i] = 0x47
		}
		c, err := client.Dial(ctx, client.Config{Addresses: []string{s.address}, Client: 1,
			Key: 1, Secret: raw, DialTimeout: dialTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := connect()
	tradingSetup(t, c)
	transfers := func(c *client.Client, batch ...model.Transfer) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		results, err := c.CreateTransfers(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Status != model.StatusOK {
				t.Fatalf("transfer %d of the batch: %s", i, r.Status)
			}
		}
	}
	pendingTransfer := func(id, debit, credit, amount uint64, timeoutSeconds uint32) model.Transfer {
		p := transferOn(id, debit, credit, amount, 1)
		p.Flags, p.Timeout = model.TransferPending, timeoutSeconds
		return p
	}
	// Accounts 31 and 32 (ledger 1) never trade, so every balance of theirs is a sum of
	// transfer events. Pending transfers: 500 posted in part, 501 voided, 502 expires.
	ctx, cancel := context30s()
	defer cancel()
	if results, err := c.CreateAccounts(ctx, []model.Account{account(31, 0),
		account(32, 0)}); err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("accounts: %v %+v", err, results)
	}
	transfers(c, transferOn(499, 1, 31, 1000, 1), pendingTransfer(500, 31, 32, 70, 0),
		pendingTransfer(501, 32, 31, 30, 0), pendingTransfer(502, 31, 32, 9, 1),
		transferOn(503, 31, 11, 4, 1))
	placeOrders(t, c, 1, 20)

	s.kill() // A crash in the middle: the stream must neither lose nor repeat anything.
	s.restart()
	c = connect()
	post := transferOn(510, 31, 32, 50, 1)
	post.Flags, post.PendingID = model.TransferPostPending, model.U128(500)
	void := transferOn(511, 32, 31, 0, 1)
	void.Flags, void.PendingID = model.TransferVoidPending, model.U128(501)
	transfers(c, post, void, transferOn(512, 21, 32, 3, 1))
	placeOrders(t, c, 100, 20)
	ctx, cancel = context30s()
	defer cancel()
	if _, err := c.CancelOrders(ctx, []model.OrderCancel{{ClientOrderID: 900, Account: 1,
		OriginalClientOrderID: 100}}); err != nil {
		t.Fatal(err)
	}

	clientAccounts := []uint64{1, 2, 11, 12, 21, 22, 31, 32}
	exact := map[string]bool{"1": true, "2": true, "31": true, "32": true}
	var last []string
	deadline := time.Now().Add(hangGuard)
	for !func() bool {
		events := readDocumentedStream(t, natsURL, streamName)
		f, problems := checkDocumentedStream(events, exact)
		for _, e := range events {
			if want := strings.TrimPrefix(streamName, "SEQUENT_"); strconv.FormatUint(uint64(e.Shard), 10) != want {
				problems = append(problems, fmt.Sprintf("%s: shard %d in %s", e.ID, e.Shard, streamName))
			}
		}
		if len(problems) > 0 {
			t.Fatalf("the stream departs from the README (%d messages):\n%s", len(events),
				strings.Join(problems, "\n"))
		}
		ctx, cancel := context30s()
		defer cancel()
		ids := make([]model.Uint128, len(clientAccounts))
		for i, id := range clientAccounts {
			ids[i] = model.U128(id)
		}
		accounts, err := c.LookupAccounts(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		last = last[:0]
		agree := true
		for _, a := range accounts {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if f.differs(a.ID.String(), node) {
				agree = false
				last = append(last, fmt.Sprintf("account %s: stream %v, node %v", a.ID,
					*f.balance(a.ID.String()), node))
			}
		}
		header, levels, err := c.GetBook(ctx, 5, model.DepthLevelsPerSideMax)
		if err != nil {
			t.Fatal(err)
		}
		book := f.books[5]
		same := header.Sequence == f.sequences[5] && len(levels) == len(book)
		for _, level := range levels {
			level.Reserved = [3]byte{}
			same = same && book[bookLevelKey{level.Side, level.Price}] == level
		}
		if !same {
			agree = false
			last = append(last, fmt.Sprintf("instrument 5: stream's book at sequence %d %v, get_book at %d %v",
				f.sequences[5], book, header.Sequence, levels))
		}
		if _, waiting := f.pending["502"]; waiting {
			last = append(last, "transfer 502 has not expired in the stream")
			agree = false
		}
		return agree
	}() {
		if time.Now().After(deadline) {
			t.Fatalf("the stream's balances never reached the node's:\n%s", strings.Join(last, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHunt47bFullStreamHoldsUpItsShardAlone: README, "A node of several shards": "A
// stream that is down, full or refusing holds up that shard's capture alone: the other
// shards' captures keep publishing". Shard 0's stream is created beforehand full at 10
// messages with discard new (JetStream refuses what does not fit); shard 1's is the
// node's own. Transfers on both shards, a SIGKILL and restart while the stream is still
// full, more transfers; shard 1's stream holds its events meanwhile, /healthz names shard
// 0's capture lagging and not shard 1's; once the limit is lifted shard 0's stream holds
// every event once, in op order, with the balances of the node.
func TestHunt47bFullStreamHoldsUpItsShardAlone(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	connection, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	full := jetstream.StreamConfig{Name: "SEQUENT_0", Subjects: []string{"sequent.0.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute, MaxMsgs: 10,
		Discard: jetstream.DiscardNew}
	if _, err := js.CreateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("4b", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	httpAddress := freePort(t)
	s := startServer(t, filepath.Join(dir, "a"), freePort(t), "--keys", keys, "--cdc-nats",
		natsURL, "--cdc-lag-warning", "500ms", "--http", httpAddress, "--shards", "2",
		"--placement", "range", "--placement-ranges", "0,100")
	c, err := dialWith(t, s.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	write := func(c *client.Client, count int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range count {
			for _, pair := range [][2]uint64{{1, 2}, {100, 101}} {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], next)})
				if err != nil || results[0].Status != model.StatusOK {
					t.Fatalf("transfer %d: %v %+v", next, err, results)
				}
				next++
			}
		}
	}
	transfersIn := func(stream string) int {
		events := readDocumentedStream(t, natsURL, stream)
		_, problems := checkDocumentedStream(events, map[string]bool{"1": true, "2": true,
			"100": true, "101": true})
		if len(problems) > 0 {
			t.Fatalf("%s departs from the README:\n%s", stream, strings.Join(problems, "\n"))
		}
		count := 0
		for _, e := range events {
			if e.Kind == "transfer_created" {
				count++
			}
		}
		return count
	}
	write(c, 15)
	eventually(t, "shard 1's stream to hold its 15 transfers while shard 0's is full", func() bool {
		return transfersIn("SEQUENT_1") == 15
	})
	eventually(t, "/healthz to name shard 0's capture lagging, not shard 1's", func() bool {
		response, err := http.Get("http://" + httpAddress + "/healthz")
		if err != nil {
			return false
		}
		defer response.Body.Close()
		body, _ := io.ReadAll(response.Body)
		if strings.Contains(string(body), "shard 1: ") {
			t.Fatalf("shard 1's capture reported lagging: %s", body)
		}
		return strings.Contains(string(body), "shard 0: ")
	})

	c.Close()
	s.kill() // A crash while shard 0's stream is still full.
	s.restart()
	if c, err = dialWith(t, s.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 5)
	eventually(t, "shard 1's stream to hold its 20 transfers", func() bool {
		return transfersIn("SEQUENT_1") == 20
	})
	if held := transfersIn("SEQUENT_0"); held > 10 {
		t.Fatalf("shard 0's full stream holds %d transfers", held)
	}
	full.MaxMsgs = -1
	if _, err := js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shard 0's stream to hold its 20 transfers once the limit is lifted", func() bool {
		return transfersIn("SEQUENT_0") == 20
	})
	eventually(t, "/healthz to drop capture_lagging once shard 0 caught up", func() bool {
		response, err := http.Get("http://" + httpAddress + "/healthz")
		if err != nil {
			return false
		}
		defer response.Body.Close()
		body, _ := io.ReadAll(response.Body)
		return !strings.Contains(string(body), "capture_lagging")
	})
	ids := []model.Uint128{model.U128(1), model.U128(2), model.U128(100), model.U128(101)}
	ctx, cancel = context30s()
	defer cancel()
	accounts, err := c.LookupAccounts(ctx, ids)
	if err != nil || len(accounts) != 4 {
		t.Fatalf("lookup: %v %d", err, len(accounts))
	}
	for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		f, _ := checkDocumentedStream(readDocumentedStream(t, natsURL, stream),
			map[string]bool{"1": true, "2": true, "100": true, "101": true})
		for _, a := range accounts[2*shard : 2*shard+2] {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if f.differs(a.ID.String(), node) {
				t.Fatalf("%s: account %s: stream %v, node %v", stream, a.ID,
					*f.balance(a.ID.String()), node)
			}
		}
	}
}

// TestHunt47bPromotionWhileJetStreamIsDown: README, "Change data capture": after a
// promotion capture resumes from the last message the stream holds once it has checked
// that message belongs to its own log, and a primary "promoted while NATS is down keeps
// all of its log meanwhile". A sync pair of two-shard nodes: transfers on both shards,
// JetStream goes away, more transfers, the primary is killed (SIGKILL) and the standby
// promoted, more transfers, and only then JetStream comes back: each shard's stream holds
// every event once, in op order, under its documented subject, with the node's
// balances.
func TestHunt47bPromotionWhileJetStreamIsDown(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	jetStream := startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("b4", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey,
		"--cdc-nats", natsURL, "--shards", "2", "--placement", "range",
		"--placement-ranges", "0,100"}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	c, err := dialWith(t, a.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	write := func(c *client.Client, rounds int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range rounds {
			for _, pair := range [][2]uint64{{1, 2}, {100, 101}, {2, 1}, {101, 100}} {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], next)})
				if err != nil || results[0].Status != model.StatusOK {
					t.Fatalf("transfer %d: %v %+v", next, err, results)
				}
				next++
			}
		}
	}
	exact := map[string]bool{"1": true, "2": true, "100": true, "101": true}
	transfersIn := func(stream string) int {
		events := readDocumentedStream(t, natsURL, stream)
		_, problems := checkDocumentedStream(events, exact)
		if len(problems) > 0 {
			t.Fatalf("%s departs from the README:\n%s", stream, strings.Join(problems, "\n"))
		}
		count := 0
		for _, e := range events {
			if e.Kind == "transfer_created" {
				count++
			}
		}
		return count
	}
	write(c, 5)
	eventually(t, "both streams to hold the first transfers", func() bool {
		return transfersIn("SEQUENT_0") == 10 && transfersIn("SEQUENT_1") == 10
	})
	jetStream.Shutdown()
	jetStream.WaitForShutdown()
	write(c, 5)
	c.Close()
	a.kill()
	promote(t, bHTTP, token)
	if c, err = dialWith(t, b.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 5)
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	write(c, 5)
	for _, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		eventually(t, stream+" to hold its 40 transfers", func() bool {
			return transfersIn(stream) == 40
		})
	}
	ids := []model.Uint128{model.U128(1), model.U128(2), model.U128(100), model.U128(101)}
	ctx, cancel = context30s()
	defer cancel()
	accounts, err := c.LookupAccounts(ctx, ids)
	if err != nil || len(accounts) != 4 {
		t.Fatalf("lookup: %v %d", err, len(accounts))
	}
	for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		f, _ := checkDocumentedStream(readDocumentedStream(t, natsURL, stream), exact)
		for _, a := range accounts[2*shard : 2*shard+2] {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if f.differs(a.ID.String(), node) {
				t.Fatalf("%s: account %s: stream %v, node %v", stream, a.ID,
					*f.balance(a.ID.String()), node)
			}
		}
	}
}

// TestHunt47bPurgedStreamWhileJetStreamIsDown: README, "Change data capture": a stream
// that lost its last message (purged) no longer says where capture stands; the next
// session (here a restart after SIGKILL) publishes a capture_gap from the op of the
// newest message left (op 1 when none is) to the shard's released op and resumes after
// it: "what consumers may have missed is named, nothing is published twice"; and "the
// marker stops at what may have been published: on a node primary since it started, at
// the larger of its recovered op and the highest op its capture already sent, so ops
// released later (while capture waited for NATS ...) are published after the marker
// rather than named lost". On a two-shard node only shard 1's stream is purged: once
// while the node runs (it publishes on, no marker), then again just before a SIGKILL,
// with JetStream down from the SIGKILL until the restarted node has taken more
// transfers. Shard 1's stream then holds one capture_gap (counted in
// sequent_capture_gaps_total{shard="1"}) and every event after it, shard 0's no marker;
// a consumer that read both streams in time has every event once and the node's
// balances.
func TestHunt47bPurgedStreamWhileJetStreamIsDown(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	jetStream := startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("b7", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	httpAddress := freePort(t)
	s := startServer(t, filepath.Join(dir, "a"), freePort(t), "--keys", keys, "--cdc-nats",
		natsURL, "--shards", "2", "--placement", "range", "--placement-ranges", "0,100",
		"--http", httpAddress)
	c, err := dialWith(t, s.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	write := func(c *client.Client, rounds int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range rounds {
			for _, pair := range [][2]uint64{{1, 2}, {100, 101}, {2, 1}, {101, 100}} {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], next)})
				if err != nil || results[0].Status != model.StatusOK {
					t.Fatalf("transfer %d: %v %+v", next, err, results)
				}
				next++
			}
		}
	}
	exact := map[string]bool{"1": true, "2": true, "100": true, "101": true}
	count := func(events []documentedEvent) int {
		n := 0
		for _, e := range events {
			if e.Kind == "transfer_created" {
				n++
			}
		}
		return n
	}
	write(c, 5)
	var before [2][]documentedEvent // What the consumer read before the purge.
	for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		eventually(t, stream+" to hold its first transfers", func() bool {
			before[shard] = readDocumentedStream(t, natsURL, stream)
			return count(before[shard]) == 10
		})
	}
	connection, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "SEQUENT_1")
	if err != nil {
		t.Fatal(err)
	}
	purge := func() {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		if err := stream.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	}
	purge()
	// Published on after the purge: a running session does not notice it, and after
	// these the stream holds its last message again.
	write(c, 5)
	eventually(t, "SEQUENT_1 to hold the transfers after the purge", func() bool {
		events := readDocumentedStream(t, natsURL, "SEQUENT_1")
		if count(events) == 10 {
			before[1] = append(before[1], events...)
			return true
		}
		return false
	})
	purge() // Now the stream has lost its last message, and the node crashes.
	c.Close()
	s.kill()
	connection.Close()
	jetStream.Shutdown()
	jetStream.WaitForShutdown()
	s.restart()
	if c, err = dialWith(t, s.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 5)
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	write(c, 1)
	var gaps [2][]documentedEvent
	var followers [2]*ledgerFollower
	want := int(next-1) / 2 // Transfers per shard: as many local to each.
	for shard, name := range []string{"SEQUENT_0", "SEQUENT_1"} {
		eventually(t, name+" to hold the later transfers", func() bool {
			events := readDocumentedStream(t, natsURL, name)
			all := events
			if shard == 1 { // The purge removed what the consumer read before it.
				all = append(slices.Clone(before[1]), events...)
			}
			gaps[shard] = nil
			f, problems := checkDocumentedStreamWithGaps(all, exact, &gaps[shard])
			if len(problems) > 0 {
				t.Fatalf("%s departs from the README:\n%s", name, strings.Join(problems, "\n"))
			}
			followers[shard] = f
			return count(all) == want && (shard == 0 || len(gaps[1]) > 0)
		})
	}
	if len(gaps[0]) != 0 || len(gaps[1]) != 1 {
		t.Fatalf("gap markers: shard 0 %d, shard 1 %d; want 0 and 1", len(gaps[0]), len(gaps[1]))
	}
	if gap := gaps[1][0]; gap.FromOp != 1 || gap.subject != "sequent.1.capture.gap" {
		t.Fatalf("shard 1's gap %s from op %d under %s: the stream held no message, so from op 1",
			gap.ID, gap.FromOp, gap.subject)
	}
	// "once the stream has stored it, logs an error and counts sequent_capture_gaps_total":
	// the marker is stored, its acknowledgement may still be on its way to the node.
	eventually(t, "sequent_capture_gaps_total to count shard 1's marker", func() bool {
		metrics := httpGet(t, "http://"+httpAddress+"/metrics")
		if strings.Contains(metrics, `sequent_capture_gaps_total{shard="1"} 2`) ||
			!strings.Contains(metrics, `sequent_capture_gaps_total{shard="0"} 0`+"\n") {
			t.Fatalf("/metrics counts other gaps than shard 1's marker:\n%s", metrics)
		}
		return strings.Contains(metrics, `sequent_capture_gaps_total{shard="1"} 1`+"\n")
	})
	ids := []model.Uint128{model.U128(1), model.U128(2), model.U128(100), model.U128(101)}
	ctx, cancel = context30s()
	defer cancel()
	accounts, err := c.LookupAccounts(ctx, ids)
	if err != nil || len(accounts) != 4 {
		t.Fatalf("lookup: %v %d", err, len(accounts))
	}
	for shard := range 2 {
		for _, a := range accounts[2*shard : 2*shard+2] {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if followers[shard].differs(a.ID.String(), node) {
				t.Fatalf("shard %d: account %s: stream %v, node %v", shard, a.ID,
					*followers[shard].balance(a.ID.String()), node)
			}
		}
	}
}

// followSuperseding reads events as a consumer following the README would: on a
// capture_superseded marker it undoes the messages after the event it names (op:index,
// "the last one that stands"), which must be of ops from_op..to_op, and goes on with
// the new history. It returns the events that stand, and the markers.
func followSuperseding(t *testing.T, events []documentedEvent) (standing, markers []documentedEvent) {
	t.Helper()
	for _, e := range events {
		if e.Kind != "capture_superseded" {
			standing = append(standing, e)
			continue
		}
		markers = append(markers, e)
		if want := fmt.Sprintf("%d:%d:%d:superseded:%d", e.Shard, e.Op, e.Index, e.Epoch); e.ID != want ||
			e.subject != fmt.Sprintf("sequent.%d.capture.superseded", e.Shard) {
			t.Fatalf("capture_superseded %s under %s; fields say id %s", e.ID, e.subject, want)
		}
		cut := len(standing)
		for cut > 0 && (standing[cut-1].Op > e.Op ||
			standing[cut-1].Op == e.Op && standing[cut-1].Index > e.Index) {
			cut--
		}
		for _, undone := range standing[cut:] {
			if undone.Op < e.FromOp || undone.Op > e.ToOp {
				t.Fatalf("capture_superseded %s (ops %d..%d) undoes %s", e.ID, e.FromOp, e.ToOp,
					undone.ID)
			}
		}
		if cut == len(standing) || standing[len(standing)-1].Epoch != e.SupersededEpoch {
			t.Fatalf("capture_superseded %s voids nothing of epoch %d", e.ID, e.SupersededEpoch)
		}
		standing = standing[:cut]
	}
	return standing, markers
}

// TestHunt47bAsyncDivergenceOnTwoShards: README, "A node of several shards": each shard
// has "its own capture_gap and capture_superseded markers (about that shard's ops
// only)". An async pair of two-shard nodes: transfers on both shards reach the standby;
// the standby is killed and the primary takes transfers on shard 0 alone, and publishes
// them; the primary is killed, the standby started again and promoted, and transfers go
// on both shards. SEQUENT_0 holds one capture_superseded voiding exactly the lost
// transfers, SEQUENT_1 none; a consumer that undoes what the marker says has, on each
// shard, the promoted node's balances.
func TestHunt47bAsyncDivergenceOnTwoShards(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("ab", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey,
		"--replication-mode", "async", "--cdc-nats", natsURL, "--shards", "2",
		"--placement", "range", "--placement-ranges", "0,100"}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	c, err := dialWith(t, a.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	write := func(c *client.Client, rounds int, pairs ...[2]uint64) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range rounds {
			for _, pair := range pairs {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], next)})
				if err != nil || results[0].Status != model.StatusOK {
					t.Fatalf("transfer %d: %v %+v", next, err, results)
				}
				next++
			}
		}
	}
	both := [][2]uint64{{1, 2}, {100, 101}}
	write(c, 5, both...)
	standbyReads, err := dialWith(t, b.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the standby to hold the first transfers of both shards", func() bool {
		ctx, cancel := context30s()
		defer cancel()
		accounts, err := standbyReads.LookupAccounts(ctx, []model.Uint128{model.U128(2),
			model.U128(101)})
		return err == nil && len(accounts) == 2 && accounts[0].CreditsPosted.Lo == 1+3+5+7+9 &&
			accounts[1].CreditsPosted.Lo == 2+4+6+8+10
	})
	standbyReads.Close()
	exact := map[string]bool{"1": true, "2": true, "100": true, "101": true}
	transfersIn := func(stream string) int {
		events, _ := followSuperseding(t, readDocumentedStream(t, natsURL, stream))
		count := 0
		for _, e := range events {
			if e.Kind == "transfer_created" {
				count++
			}
		}
		return count
	}
	b.kill()
	write(c, 5, [2]uint64{1, 2}) // Alone: async mode releases on local durability.
	eventually(t, "SEQUENT_0 to hold the lost transfers", func() bool {
		return transfersIn("SEQUENT_0") == 10
	})
	c.Close()
	a.kill()
	b.restart()
	promote(t, bHTTP, token)
	if c, err = dialWith(t, b.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 5, both...)
	for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		eventually(t, stream+" to hold the promoted node's transfers", func() bool {
			// The newest transfer of the shard: SEQUENT_0 held 10 before the promotion.
			events := readDocumentedStream(t, natsURL, stream)
			newest := strconv.FormatUint(next-2+uint64(shard), 10)
			return slices.ContainsFunc(events, func(e documentedEvent) bool {
				return e.Kind == "transfer_created" && e.Transfer.ID == newest
			})
		})
	}
	ctx, cancel = context30s()
	defer cancel()
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1), model.U128(2),
		model.U128(100), model.U128(101)})
	if err != nil || len(accounts) != 4 {
		t.Fatalf("lookup: %v %d", err, len(accounts))
	}
	for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
		standing, markers := followSuperseding(t, readDocumentedStream(t, natsURL, stream))
		if count := transfersIn(stream); count != 10 {
			t.Fatalf("%s holds %d transfers that stand, want 10", stream, count)
		}
		if len(markers) != 1-shard {
			t.Fatalf("%s holds %d capture_superseded markers, want %d", stream, len(markers), 1-shard)
		}
		f, problems := checkDocumentedStream(standing, exact)
		if len(problems) > 0 {
			t.Fatalf("%s departs from the README:\n%s", stream, strings.Join(problems, "\n"))
		}
		for _, a := range accounts[2*shard : 2*shard+2] {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if f.differs(a.ID.String(), node) {
				t.Fatalf("%s: account %s: stream %v, node %v", stream, a.ID,
					*f.balance(a.ID.String()), node)
			}
		}
	}
}

// inSystemRange reports whether a decimal id has bit 127 set: the ids the server keeps
// for itself (PROTOCOL.md section 10).
func inSystemRange(id string) bool { return decimal(id).Bit(127) == 1 }

// TestHunt47bSettlementAccountsNetAcrossStreams: README, "A node of several shards": a
// cross-shard transfer appears as its saga's steps in the two streams, and "summed over
// every shard's stream, each pair's settlement accounts net to zero once no saga is in
// flight". Transfers both ways between the shards of a two-shard node, one whose credit
// account is missing (step 3 is a void), and a SIGKILL and restart in the middle; then,
// from the two streams alone: every settlement account (the same id on both shards)
// nets to zero with nothing pending, every pending step-1 transfer is posted or voided,
// and the client accounts have the node's balances.
func TestHunt47bSettlementAccountsNetAcrossStreams(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("5e", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	s := startServer(t, filepath.Join(dir, "a"), freePort(t), "--keys", keys, "--cdc-nats",
		natsURL, "--shards", "2", "--placement", "range", "--placement-ranges", "0,100")
	c, err := dialWith(t, s.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	write := func(c *client.Client, rounds int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range rounds {
			for _, pair := range [][2]uint64{{1, 100}, {101, 2}, {2, 101}, {1, 150}} {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], next)})
				if err != nil || (results[0].Status == model.StatusOK) == (pair[1] == 150) {
					t.Fatalf("transfer %d %v: %v %+v", next, pair, err, results)
				}
				next++
			}
		}
	}
	write(c, 4)
	c.Close()
	s.kill()
	s.restart()
	if c, err = dialWith(t, s.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 4)
	ids := []model.Uint128{model.U128(1), model.U128(2), model.U128(100), model.U128(101)}
	exact := map[string]bool{"1": true, "2": true, "100": true, "101": true}
	var last []string
	deadline := time.Now().Add(hangGuard)
	for !func() bool {
		last = last[:0]
		var followers [2]*ledgerFollower
		for shard, stream := range []string{"SEQUENT_0", "SEQUENT_1"} {
			f, problems := checkDocumentedStream(readDocumentedStream(t, natsURL, stream), exact)
			if len(problems) > 0 {
				t.Fatalf("%s departs from the README:\n%s", stream, strings.Join(problems, "\n"))
			}
			followers[shard] = f
			for id := range f.pending {
				last = append(last, fmt.Sprintf("%s: transfer %s still pending", stream, id))
			}
		}
		for id, b := range followers[0].balances {
			other, ok := followers[1].balances[id]
			if !inSystemRange(id) || !ok {
				continue
			}
			net := new(big.Int).Sub(b[3], b[1])
			net.Add(net, other[3]).Sub(net, other[1])
			if net.Sign() != 0 || b[0].Sign() != 0 || b[2].Sign() != 0 ||
				other[0].Sign() != 0 || other[2].Sign() != 0 {
				last = append(last, fmt.Sprintf("settlement account %s: shard 0 %v, shard 1 %v",
					id, *b, *other))
			}
		}
		ctx, cancel := context30s()
		defer cancel()
		accounts, err := c.LookupAccounts(ctx, ids)
		if err != nil || len(accounts) != 4 {
			t.Fatalf("lookup: %v %d", err, len(accounts))
		}
		for i, a := range accounts {
			node := [4]string{a.DebitsPending.String(), a.DebitsPosted.String(),
				a.CreditsPending.String(), a.CreditsPosted.String()}
			if f := followers[i/2]; f.differs(a.ID.String(), node) {
				last = append(last, fmt.Sprintf("account %s: stream %v, node %v", a.ID,
					*f.balance(a.ID.String()), node))
			}
		}
		return len(last) == 0
	}() {
		if time.Now().After(deadline) {
			t.Fatalf("the streams never agreed with the node:\n%s", strings.Join(last, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
