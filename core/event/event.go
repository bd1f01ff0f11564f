package event

import (
	"strconv"

	"sequent/core/model"
)

// Kind is what an event says happened. Numbers and names are stable: change capture
// publishes the names and market data carries the numbers.
type Kind uint8

// Event kinds.
const (
	KindAccountCreated  Kind = 1  // An account was created (payload: the account).
	KindTransferCreated Kind = 2  // A single-phase or pending transfer was created.
	KindTransferPosted  Kind = 3  // A post_pending transfer was created (it posted a pending one).
	KindTransferVoided  Kind = 4  // A void_pending transfer was created (it voided a pending one).
	KindTransferExpired Kind = 5  // A pending transfer expired (payload: that transfer).
	KindOrderAccepted   Kind = 6  // An order was accepted (payload: its execution report).
	KindOrderReplaced   Kind = 7  // An order's price or quantity changed.
	KindOrderCanceled   Kind = 8  // An order is done without filling; the report's status says why.
	KindOrderFilled     Kind = 9  // One side of a trade (payload: that side's fill report).
	KindOrderExpired    Kind = 10 // A good-till-time order reached its deadline.
	KindTrade           Kind = 11 // A trade, as the public sees it (payload: market data).
	KindLevel           Kind = 12 // A price level's new total (payload: market data).
	kindCount                = 13
)

var kindNames = [kindCount]string{
	KindAccountCreated:  "account_created",
	KindTransferCreated: "transfer_created",
	KindTransferPosted:  "transfer_posted",
	KindTransferVoided:  "transfer_voided",
	KindTransferExpired: "transfer_expired",
	KindOrderAccepted:   "order_accepted",
	KindOrderReplaced:   "order_replaced",
	KindOrderCanceled:   "order_canceled",
	KindOrderFilled:     "order_filled",
	KindOrderExpired:    "order_expired",
	KindTrade:           "trade",
	KindLevel:           "level",
}

// String returns the kind's stable snake_case name.
func (k Kind) String() string {
	if k > 0 && k < kindCount {
		return kindNames[k]
	}
	return "kind_" + strconv.Itoa(int(k))
}

// Kinds returns every defined kind in numeric order.
func Kinds() []Kind {
	kinds := make([]Kind, 0, kindCount-1)
	for k := Kind(1); k < kindCount; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// Ledger reports whether the kind is a ledger change (account or transfer).
func (k Kind) Ledger() bool { return k >= KindAccountCreated && k <= KindTransferExpired }

// Order reports whether the kind is an order's change (an execution report).
func (k Kind) Order() bool { return k >= KindOrderAccepted && k <= KindOrderExpired }

// MarketData reports whether the kind is public market data (trade or level).
func (k Kind) MarketData() bool { return k == KindTrade || k == KindLevel }

// Event is one committed change. (Op, Index) names it uniquely and for ever on its shard:
// Op is the log position of the request that caused it (expiries run at the start of an
// entry and carry the entry's first op), Index its position among that op's events, from
// 0. Both are derived from the log alone, so every replica and every replay of the same
// log produces the same events with the same names.
type Event struct {
	Op       uint64
	Index    uint32
	Kind     Kind
	position uint32 // Index of the payload in the Buffer slice of the kind's family.
}

// Transfer is a transfer event's payload: the stored transfer and both accounts'
// balances right after the change (for an expiry, right after the release).
type Transfer struct {
	Transfer model.Transfer
	Debit    model.Balance
	Credit   model.Balance
}

// Buffer collects the events of one log entry, in order. The state machine fills it
// while it applies the entry (on the sequencer goroutine) and consumers read it after
// release. Reset keeps the capacity, so a reused Buffer allocates nothing in the steady
// state. Payloads are held by value in one slice per family: appending copies a record,
// never encodes it (that is left to the consumers, off the sequencer).
type Buffer struct {
	Events   []Event
	Accounts []model.Account
	// AccountOwners[i] is the client that created Accounts[i] (0: the system), the owner
	// the ledger records for it (package ledger, "Ownership").
	AccountOwners []uint64
	Transfers     []Transfer
	Orders        []model.ExecutionReport
	MarketData    []model.MarketDataUpdate
	op            uint64 // Op the next event belongs to.
	opStart       int    // len(Events) when op began: Index = len(Events) - opStart.
}

// Mark is a position in a Buffer, to undo the events of a linked chain that failed.
type Mark struct{ events, accounts, transfers int }

// Reset empties the buffer, keeping its capacity.
func (b *Buffer) Reset() {
	b.Events, b.Accounts, b.Transfers = b.Events[:0], b.Accounts[:0], b.Transfers[:0]
	b.AccountOwners, b.Orders, b.MarketData = b.AccountOwners[:0], b.Orders[:0], b.MarketData[:0]
	b.op, b.opStart = 0, 0
}

// Len returns how many events the buffer holds.
func (b *Buffer) Len() int { return len(b.Events) }

// BeginOp makes the next events belong to op, numbered from 0.
func (b *Buffer) BeginOp(op uint64) {
	if op != b.op {
		b.op, b.opStart = op, len(b.Events)
	}
}

// Op returns the op the next event belongs to.
func (b *Buffer) Op() uint64 { return b.op }

func (b *Buffer) push(kind Kind, position int) {
	b.Events = append(b.Events, Event{Op: b.op, Index: uint32(len(b.Events) - b.opStart),
		Kind: kind, position: uint32(position)})
}

// AppendAccount records a created account (a copy of it) and its owner, the client
// whose request created it (0: the system).
func (b *Buffer) AppendAccount(account *model.Account, owner uint64) {
	b.Accounts = append(b.Accounts, *account)
	b.AccountOwners = append(b.AccountOwners, owner)
	b.push(KindAccountCreated, len(b.Accounts)-1)
}

// AppendTransfer records a transfer event of kind (created, posted, voided, expired)
// with the balances given. The ledger records its events with AppendTransferIn (the hot
// path, filled in place); this form is for callers that hold balances as values (tests,
// tools).
func (b *Buffer) AppendTransfer(kind Kind, transfer *model.Transfer, debit, credit model.Balance) {
	b.Transfers = append(b.Transfers, Transfer{Transfer: *transfer, Debit: debit, Credit: credit})
	b.push(kind, len(b.Transfers)-1)
}

// AppendTransferIn appends a transfer event of kind and returns it for the caller to
// fill its Debit and Credit balances in place (the ledger, whose in-memory accounts are
// not model.Account, copies each balance field once this way). The pointer is valid
// until the next append.
func (b *Buffer) AppendTransferIn(kind Kind, transfer *model.Transfer) *Transfer {
	position := len(b.Transfers)
	if position == cap(b.Transfers) {
		b.Transfers = append(b.Transfers, Transfer{})
	} else {
		b.Transfers = b.Transfers[:position+1]
	}
	t := &b.Transfers[position]
	t.Transfer = *transfer
	b.push(kind, position)
	return t
}

// AppendOrder records an order's execution report; a rejection changes nothing and is
// not an event (it is only told to the sender).
func (b *Buffer) AppendOrder(report *model.ExecutionReport) {
	kind := orderKind(report.Kind)
	if kind == 0 {
		return
	}
	b.Orders = append(b.Orders, *report)
	b.push(kind, len(b.Orders)-1)
}

func orderKind(kind model.ReportKind) Kind {
	switch kind {
	case model.ReportAccepted:
		return KindOrderAccepted
	case model.ReportReplaced:
		return KindOrderReplaced
	case model.ReportCanceled:
		return KindOrderCanceled
	case model.ReportFill:
		return KindOrderFilled
	case model.ReportExpired:
		return KindOrderExpired
	}
	return 0
}

// AppendMarketData records a market-data update (trade or level).
func (b *Buffer) AppendMarketData(update *model.MarketDataUpdate) {
	kind := KindLevel
	if update.Kind == model.MarketDataTrade {
		kind = KindTrade
	}
	b.MarketData = append(b.MarketData, *update)
	b.push(kind, len(b.MarketData)-1)
}

// Mark returns the current position (the zero Mark on a nil buffer).
func (b *Buffer) Mark() Mark {
	if b == nil {
		return Mark{}
	}
	return Mark{events: len(b.Events), accounts: len(b.Accounts), transfers: len(b.Transfers)}
}

// Truncate drops every event appended after m. Only ledger events may lie after a mark
// (linked chains are the ledger's); a nil buffer ignores it.
func (b *Buffer) Truncate(m Mark) {
	if b == nil {
		return
	}
	b.Events, b.Accounts, b.Transfers = b.Events[:m.events], b.Accounts[:m.accounts],
		b.Transfers[:m.transfers]
	b.AccountOwners = b.AccountOwners[:m.accounts]
}

// Account returns the payload of an account event.
func (b *Buffer) Account(e *Event) *model.Account { return &b.Accounts[e.position] }

// AccountOwner returns the owner of an account event's account (0: the system).
func (b *Buffer) AccountOwner(e *Event) uint64 { return b.AccountOwners[e.position] }

// Transfer returns the payload of a transfer event.
func (b *Buffer) Transfer(e *Event) *Transfer { return &b.Transfers[e.position] }

// Order returns the payload of an order event.
func (b *Buffer) Order(e *Event) *model.ExecutionReport { return &b.Orders[e.position] }

// MarketDataOf returns the payload of a trade or level event.
func (b *Buffer) MarketDataOf(e *Event) *model.MarketDataUpdate {
	return &b.MarketData[e.position]
}

// AppendFrom copies event e of source (with its payload) to the end of b, keeping its
// op and index. Consumers use it to keep events beyond a release.
func (b *Buffer) AppendFrom(source *Buffer, e *Event) {
	var position int
	switch {
	case e.Kind == KindAccountCreated:
		b.Accounts = append(b.Accounts, source.Accounts[e.position])
		b.AccountOwners = append(b.AccountOwners, source.AccountOwners[e.position])
		position = len(b.Accounts) - 1
	case e.Kind.Ledger():
		b.Transfers = append(b.Transfers, source.Transfers[e.position])
		position = len(b.Transfers) - 1
	case e.Kind.Order():
		b.Orders = append(b.Orders, source.Orders[e.position])
		position = len(b.Orders) - 1
	default:
		b.MarketData = append(b.MarketData, source.MarketData[e.position])
		position = len(b.MarketData) - 1
	}
	b.Events = append(b.Events, Event{Op: e.Op, Index: e.Index, Kind: e.Kind,
		position: uint32(position)})
}
