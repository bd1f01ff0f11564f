package core

import (
	"bytes"
	"fmt"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// flatEvent is an event with its payload, comparable with ==.
type flatEvent struct {
	Op       uint64
	Index    uint32
	Kind     event.Kind
	Account  model.Account
	Owner    uint64
	Transfer event.Transfer
	Order    model.ExecutionReport
	Market   model.MarketDataUpdate
}

// flatten copies an output's events with their payloads.
func flatten(out *Output) []flatEvent {
	b := &out.Events
	flat := make([]flatEvent, 0, b.Len())
	for i := range b.Events {
		e := &b.Events[i]
		f := flatEvent{Op: e.Op, Index: e.Index, Kind: e.Kind}
		switch {
		case e.Kind == event.KindAccountCreated:
			f.Account, f.Owner = *b.Account(e), b.AccountOwner(e)
		case e.Kind.Ledger():
			f.Transfer = *b.Transfer(e)
		case e.Kind.Order():
			f.Order = *b.Order(e)
		default:
			f.Market = *b.MarketDataOf(e)
		}
		flat = append(flat, f)
	}
	return flat
}

func kinds(events []flatEvent) string {
	text := ""
	for _, e := range events {
		text += fmt.Sprintf("%d:%d:%s ", e.Op, e.Index, e.Kind)
	}
	return text
}

// TestLedgerEvents checks every ledger event kind, its name (op, index) and payload: a
// created account, a created transfer with both balances after it, a linked chain that
// fails (no events: its changes were undone), a post and a void of pending transfers,
// and an expiry at the start of a later entry (which names it after that entry's first
// op), with the balances after the release.
func TestLedgerEvents(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7) // Its accounts may go negative.
	out := h.apply(Request{Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2)})
	if got := kinds(flatten(out)); got != "2:0:account_created 2:1:account_created " {
		t.Fatalf("accounts: %s", got)
	}
	if events := flatten(out); events[1].Account.ID != model.U128(2) ||
		events[1].Account.Timestamp == 0 || events[1].Account.Reserved != 0 {
		t.Fatalf("account payload: %+v", events[1].Account)
	}
	chainHead := simpleTransfer(11, 1, 2, 5)
	chainHead.Flags = model.TransferLinked
	pending := simpleTransfer(20, 1, 2, 7)
	pending.Flags = model.TransferPending
	expiring := simpleTransfer(21, 2, 1, 3)
	expiring.Flags, expiring.Timeout = model.TransferPending, 1
	out = h.apply(Request{Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(10, 1, 2, 100),
			chainHead, simpleTransfer(12, 1, 99, 5), pending, expiring)})
	events := flatten(out)
	if got := kinds(events); got != "3:0:transfer_created 3:1:transfer_created 3:2:transfer_created " {
		t.Fatalf("transfers: %s", got)
	}
	first := events[0].Transfer
	if first.Transfer.ID != model.U128(10) || first.Debit.DebitsPosted != model.U128(100) ||
		first.Credit.CreditsPosted != model.U128(100) || first.Transfer.Timestamp == 0 {
		t.Fatalf("transfer payload: %+v", first)
	}
	if events[1].Transfer.Transfer.ID != model.U128(20) || events[1].Transfer.Debit.DebitsPending != model.U128(7) {
		t.Fatalf("pending payload: %+v", events[1].Transfer)
	}
	post := model.Transfer{ID: model.U128(30), PendingID: model.U128(20), Amount: model.U128(4),
		Flags: model.TransferPostPending}
	out = h.apply(Request{Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateTransfers, Body: transfersBody(post)})
	events = flatten(out)
	if len(events) != 1 || events[0].Kind != event.KindTransferPosted ||
		events[0].Transfer.Transfer.Amount != model.U128(4) ||
		events[0].Transfer.Transfer.DebitAccountID != model.U128(1) ||
		events[0].Transfer.Debit.DebitsPending != model.U128(0) ||
		events[0].Transfer.Debit.DebitsPosted != model.U128(104) {
		t.Fatalf("post: %+v", events)
	}
	h.timestamp += 2_000_000_000 // Transfer 21 expires at the start of the next entry.
	void := model.Transfer{ID: model.U128(31), PendingID: model.U128(21),
		Flags: model.TransferVoidPending}
	out = h.apply(Request{Client: 0, Operation: model.OperationPulse},
		Request{Client: 7, Session: 1, Number: 4, Operation: model.OperationCreateTransfers,
			Body: transfersBody(void)})
	events = flatten(out)
	if got := kinds(events); got != "5:0:transfer_expired " {
		t.Fatalf("expiry entry: %s (a void of an expired transfer is refused)", got)
	}
	expired := events[0].Transfer
	if expired.Transfer.ID != model.U128(21) || !expired.Debit.DebitsPending.IsZero() ||
		!expired.Credit.CreditsPending.IsZero() {
		t.Fatalf("expired payload: %+v", expired)
	}
	pendingVoid := simpleTransfer(40, 1, 2, 9)
	pendingVoid.Flags = model.TransferPending
	h.apply(Request{Client: 7, Session: 1, Number: 5, Operation: model.OperationCreateTransfers,
		Body: transfersBody(pendingVoid)})
	out = h.apply(Request{Client: 7, Session: 1, Number: 6, Operation: model.OperationCreateTransfers,
		Body: transfersBody(model.Transfer{ID: model.U128(41), PendingID: model.U128(40),
			Flags: model.TransferVoidPending})})
	if events = flatten(out); len(events) != 1 || events[0].Kind != event.KindTransferVoided ||
		!events[0].Transfer.Debit.DebitsPending.IsZero() {
		t.Fatalf("void: %+v", events)
	}
	retry := h.apply(Request{Client: 7, Session: 1, Number: 6, Operation: model.OperationCreateTransfers,
		Body: transfersBody(model.Transfer{ID: model.U128(41), PendingID: model.U128(40),
			Flags: model.TransferVoidPending})})
	if !retry.Replies[0].Duplicate || retry.Events.Len() != 0 {
		t.Fatalf("a retried request produced %d events", retry.Events.Len())
	}
}

// TestEventsReplayIdentically applies a mixed history (ledger and matching) live, then
// replays it from a mid-way snapshot and from scratch, and requires the very same events
// (names and payloads, market-data sequences included) for every entry: the property that
// lets a standby, a restarted node and the capture's catch-up publish the same stream.
func TestEventsReplayIdentically(t *testing.T) {
	h := newHarness(t, Config{})
	var live [][]flatEvent
	record := func(out *Output) { live = append(live, flatten(out)) }
	// The bank (client 9), whose accounts 1 and 2 may go negative, is an operator.
	record(h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 9, Scopes: model.ScopeOperator}})}))
	record(h.apply(tradingAccountRequests()...))
	record(h.apply(Request{Client: 9, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: encodeRecords(model.TransferSize, tradingFunds()...)}))
	record(h.apply(Request{Client: 9, Session: 1, Number: 3, Operation: model.OperationCreateInstruments,
		Body: encodeRecords(model.InstrumentSize, tradingInstrument())}))
	var snapshot bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatal(err)
	}
	halfway := len(h.entries)
	for i := uint64(0); i < 6; i++ {
		sell := tradingOrder(model.SideSell, 100+i, 50+i%3, 3)
		buy := tradingOrder(model.SideBuy, 200+i, 53, 4)
		record(h.apply(Request{Client: 7, Session: 1, Number: 1 + 2*i, Operation: model.OperationPlaceOrders,
			Body: encodeRecords(model.OrderSize, sell)},
			Request{Client: 8, Session: 1, Number: 1 + i, Operation: model.OperationPlaceOrders,
				Body: encodeRecords(model.OrderSize, buy)}))
	}
	last := live[len(live)-1]
	if countKind(last, event.KindTrade) == 0 || countKind(last, event.KindLevel) == 0 ||
		countKind(last, event.KindOrderFilled) == 0 || countKind(last, event.KindTransferCreated) == 0 {
		t.Fatalf("the trading entries produced no trades, levels, fills or settlements: %s", kinds(last))
	}
	restored, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	scratch := New(Config{})
	for i := range h.entries {
		out := &Output{}
		if err := scratch.Apply(&h.entries[i], out); err != nil {
			t.Fatal(err)
		}
		requireSameEvents(t, "replay from scratch", i, live[i], flatten(out))
		if i < halfway {
			continue
		}
		out.Reset()
		if err := restored.Apply(&h.entries[i], out); err != nil {
			t.Fatal(err)
		}
		requireSameEvents(t, "replay from the snapshot", i, live[i], flatten(out))
	}
}

func requireSameEvents(t *testing.T, what string, entry int, want, got []flatEvent) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: entry %d: %d events, live had %d", what, entry, len(got), len(want))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("%s: entry %d event %d differs:\n live %+v\n got  %+v", what, entry, i,
				want[i], got[i])
		}
	}
}

func countKind(events []flatEvent, kind event.Kind) int {
	count := 0
	for _, e := range events {
		if e.Kind == kind {
			count++
		}
	}
	return count
}

// TestApplyEventsAllocateNothing applies entries into a reused output: once its buffers
// have grown, producing events allocates nothing.
func TestApplyEventsAllocateNothing(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7) // Its accounts may go negative.
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1, 2)})
	out := &Output{}
	number := uint64(1)
	id := uint64(1000)
	body := make([]byte, 64*model.TransferSize)
	apply := func() {
		for i := 0; i < 64; i++ {
			id++
			transfer := simpleTransfer(id, 1, 2, 1)
			transfer.Encode(body[i*model.TransferSize:])
		}
		number++
		h.timestamp += 1000
		entry := Entry{FirstOp: h.op + 1, Timestamp: h.timestamp, Body: AppendRequest(h.entryBuffer[:0],
			&Request{Client: 7, Session: 2, Number: number, Operation: model.OperationCreateTransfers, Body: body})}
		h.entryBuffer = entry.Body
		out.Reset()
		if err := h.machine.Apply(&entry, out); err != nil {
			t.Fatal(err)
		}
		h.op++
	}
	for range 4 {
		apply()
	}
	if allocations := testing.AllocsPerRun(20, apply); allocations != 0 {
		t.Fatalf("%v allocations per entry", allocations)
	}
	if out.Events.Len() != 64 {
		t.Fatalf("%d events for 64 transfers", out.Events.Len())
	}
}

// TestEventsIgnoreWhoAsked: an event is the committed change itself, the same whoever sent
// the request (account_created names the account's owner, the client that created it). A
// client paying into another client's account gets a result whose credit
// balances are hidden (it may not read them), and none at all without the balances flag;
// the events carry both accounts' true balances either way. A refusal of the ownership
// rules changes nothing and produces no event, and neither does set_grants (it changes
// no account, transfer or order; package event, "What is not an event").
func TestEventsIgnoreWhoAsked(t *testing.T) {
	h := newHarness(t, Config{})
	// Each client may issue from its own account (a transfer grant over that id alone), so
	// it may create one that can go negative; the grants give neither read access to the other's.
	issuers := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 7, Scopes: model.ScopeTransfer, Ledger: 1, First: model.U128(1), Last: model.U128(1)},
			{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1, First: model.U128(2), Last: model.U128(2)}})})
	if issuers.Replies[0].Status != model.StatusOK {
		t.Fatalf("set_grants: %s", issuers.Replies[0].Status)
	}
	for client := uint64(7); client <= 8; client++ {
		out := h.apply(Request{Client: client, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: accountsBody(client - 6)})
		if out.Events.Len() != 1 || out.Events.AccountOwner(&out.Events.Events[0]) != client {
			t.Fatalf("account of client %d: %d events, owners %v", client, out.Events.Len(),
				out.Events.AccountOwners)
		}
	}
	grants := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 9, Scopes: model.ScopeRead, Ledger: 1}})})
	if grants.Replies[0].Status != model.StatusOK || grants.Events.Len() != 0 {
		t.Fatalf("set_grants: %s with %d events", grants.Replies[0].Status, grants.Events.Len())
	}
	for number, flags := range []uint8{RequestFlagReplyBalances, 0} {
		out := h.apply(Request{Client: 8, Session: 1, Number: uint64(2 + number), Flags: flags,
			Operation: model.OperationCreateTransfers,
			Body:      transfersBody(simpleTransfer(uint64(10+number), 2, 1, 5))})
		if flags != 0 {
			var result model.TransferResult
			result.DecodeWithBalances(out.Body(&out.Replies[0]))
			if result.Status != model.StatusOK || !result.CreditAccount.CreditsPosted.IsZero() ||
				result.DebitAccount.DebitsPosted != model.U128(5) {
				t.Fatalf("the payer's result: %+v (the payee's balances must be hidden)", result)
			}
		}
		events := flatten(out)
		posted := model.U128(uint64(5 * (number + 1)))
		if len(events) != 1 || events[0].Transfer.Credit.CreditsPosted != posted ||
			events[0].Transfer.Debit.DebitsPosted != posted {
			t.Fatalf("flags %d: events %+v; want both balances after the transfer (%s)", flags,
				events, posted)
		}
	}
	refused := h.apply(Request{Client: 8, Session: 1, Number: 4,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(20, 1, 2, 5))})
	if statuses := eventStatuses(t, refused.Body(&refused.Replies[0])); statuses[0] !=
		model.StatusDebitAccountNotOwned || refused.Events.Len() != 0 {
		t.Fatalf("debiting another's account: %v with %d events", statuses, refused.Events.Len())
	}
}
