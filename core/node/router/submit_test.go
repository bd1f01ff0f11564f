package router

import (
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// Unit tests of Submit's refusals, of parts refused when submitted, of requests the
// router answers alone, and of Abandon.

// scriptedShards answers each shard's submissions with the statuses queued for it (ok
// once they run out), keeping the requests it accepted.
type scriptedShards struct {
	recordingShards
	statuses map[uint16][]model.Status
}

func (s *scriptedShards) Submit(shard uint16, request *backend.Request) model.Status {
	if queue := s.statuses[shard]; len(queue) > 0 {
		s.statuses[shard] = queue[1:]
		if queue[0] != model.StatusOK {
			return queue[0]
		}
	}
	return s.recordingShards.Submit(shard, request)
}

// accepted returns the requests of operation the shards accepted, in order.
func (s *scriptedShards) accepted(operation model.Operation) []submitted {
	var list []submitted
	for _, sub := range s.submitted {
		if sub.request.Operation == operation {
			list = append(list, sub)
		}
	}
	return list
}

type recordingReplier struct{ replies []backend.Reply }

func (r *recordingReplier) Deliver(replies []backend.Reply) {
	r.replies = append(r.replies, replies...)
}
func (r *recordingReplier) DeliverReports([]backend.Report) {}

type submitRig struct {
	router  *Router
	shards  *scriptedShards
	replier *recordingReplier
	wakes   int
	ids     [2][2]model.Uint128 // Two account ids on each of shards 0 and 1.
}

func newSubmitRig(t *testing.T, placement *shardmap.Map) *submitRig {
	t.Helper()
	rig := &submitRig{shards: &scriptedShards{statuses: map[uint16][]model.Status{}},
		replier: &recordingReplier{}}
	router, err := New(Config{Map: placement, Shards: rig.shards, Transport: discardTransport{},
		Replier: rig.replier, Wake: func() { rig.wakes++ }})
	if err != nil {
		t.Fatal(err)
	}
	rig.router = router
	found := [2]int{}
	for id := uint64(1); placement.Shards > 1 && (found[0] < 2 || found[1] < 2); id++ {
		shard := placement.AccountShard(model.U128(id), 1)
		if shard < 2 && found[shard] < 2 {
			rig.ids[shard][found[shard]] = model.U128(id)
			found[shard]++
		}
	}
	return rig
}

// transfers encodes one local transfer on each shard listed (between its two accounts);
// linked chains the first to the second.
func (rig *submitRig) transfers(linked bool, shards ...uint16) []byte {
	body := make([]byte, len(shards)*model.TransferSize)
	for i, shard := range shards {
		transfer := model.Transfer{ID: model.U128(uint64(100 + i)),
			DebitAccountID: rig.ids[shard][0], CreditAccountID: rig.ids[shard][1],
			Amount: model.U128(1), Ledger: 1, Code: 1}
		if linked && i == 0 {
			transfer.Flags = model.TransferLinked
		}
		transfer.Encode(body[i*model.TransferSize:])
	}
	return body
}

func (rig *submitRig) lookup(shards ...uint16) []byte {
	body := make([]byte, len(shards)*model.IDSize)
	for i, shard := range shards {
		rig.ids[shard][0].PutLE(body[i*model.IDSize:])
	}
	return body
}

// answer delivers a shard's ok reply to part (per-event results all ok, or body).
func (rig *submitRig) answer(part submitted, body []byte) {
	if body == nil {
		body = make([]byte, len(part.request.Body)/model.TransferSize*model.EventResultSize)
	}
	rig.router.Deliver(part.shard, []backend.Reply{{Connection: part.request.Connection,
		Client: part.request.Client, Session: part.request.Session, Number: part.request.Number,
		Operation: part.request.Operation, Status: model.StatusOK, Op: 9, Body: body}})
}

// Submit refuses, before splitting anything, a request whose reply could not be routed
// (connection 0 or at the router's own range), whose body has no valid shape, or a
// write without a request number; a read may come without one. One shard: every request
// goes through unchanged, the shard judges it.
func TestSubmitRefusesBeforeSplitting(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	twoShards := rig.transfers(false, 0, 1)
	for _, test := range []struct {
		name       string
		connection uint64
		number     uint64
		operation  model.Operation
		body       []byte
		want       model.Status
		parts      int
	}{
		{"connection 0", 0, 1, model.OperationCreateTransfers, twoShards,
			model.StatusInternalError, 0},
		{"a router connection", ClientConnectionLimit, 1, model.OperationCreateTransfers,
			twoShards, model.StatusInternalError, 0},
		{"the last client connection", ClientConnectionLimit - 1, 1,
			model.OperationCreateTransfers, twoShards, model.StatusOK, 2},
		{"a body cut short", 1, 1, model.OperationCreateTransfers, twoShards[:len(twoShards)-1],
			core.CheckShape(model.OperationCreateTransfers, 0, twoShards[:len(twoShards)-1], false), 0},
		{"a write without a number", 1, 0, model.OperationCreateTransfers, twoShards,
			model.StatusInvalidBody, 0},
		{"a read without a number", 1, 0, model.OperationLookupAccounts, rig.lookup(0, 1),
			model.StatusOK, 2},
	} {
		before := len(rig.shards.submitted)
		status := rig.router.Submit(&backend.Request{Connection: test.connection, Client: 7,
			Session: 1, Number: test.number, Operation: test.operation, Body: test.body})
		if status != test.want || len(rig.shards.submitted)-before != test.parts {
			t.Errorf("%s: %s and %d parts, want %s and %d", test.name, status,
				len(rig.shards.submitted)-before, test.want, test.parts)
		}
	}

	one := newSubmitRig(t, shardmap.Single())
	request := &backend.Request{Connection: 1, Client: 7, Session: 1, Number: 0,
		Operation: model.OperationCreateTransfers, Body: []byte{1, 2, 3}}
	if status := one.router.Submit(request); status != model.StatusOK ||
		len(one.shards.submitted) != 1 || string(one.shards.submitted[0].request.Body) != "\x01\x02\x03" ||
		one.shards.submitted[0].request.Connection != 1 {
		t.Fatalf("one shard: %s, submitted %+v; want the request unchanged", status,
			one.shards.submitted)
	}
}

// A request every event of which the router refuses (a linked chain over two shards)
// has no part: it is answered at once, through Flush after Wake, with each event's
// refusal and Duplicate false (nothing was applied, nothing answered from a cache).
func TestRequestTheRouterAnswersAlone(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	status := rig.router.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Number: 1, Operation: model.OperationCreateTransfers, Body: rig.transfers(true, 0, 1)})
	if status != model.StatusOK || len(rig.shards.submitted) != 0 || rig.wakes != 1 ||
		len(rig.replier.replies) != 0 {
		t.Fatalf("%s, %d submitted, %d wakes, %d replies before Flush", status,
			len(rig.shards.submitted), rig.wakes, len(rig.replier.replies))
	}
	rig.router.Flush()
	if len(rig.replier.replies) != 1 {
		t.Fatalf("%d replies after Flush, want 1", len(rig.replier.replies))
	}
	reply := rig.replier.replies[0]
	if reply.Status != model.StatusOK || reply.Duplicate || reply.Number != 1 ||
		len(reply.Body) != 2*model.EventResultSize ||
		eventStatus(reply.Body) != model.StatusLinkedEventFailed ||
		eventStatus(reply.Body[model.EventResultSize:]) != model.StatusLinkedChainSpansShards {
		t.Fatalf("reply %+v", reply)
	}
}

// A request whose first part is refused is refused as a whole (nothing was queued); a
// later part refused busy is submitted again at each Tick until accepted; a later part
// refused otherwise answers for its part, and the request, applied in part, is
// outcome_unknown.
func TestPartsRefusedWhenSubmitted(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	submit := func(number uint64) model.Status {
		return rig.router.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateTransfers,
			Body: rig.transfers(false, 0, 1)})
	}
	rig.shards.statuses[0] = []model.Status{model.StatusBusy}
	if status := submit(1); status != model.StatusBusy || len(rig.router.pending) != 0 ||
		len(rig.shards.submitted) != 0 {
		t.Fatalf("first part busy: %s, %d pending", status, len(rig.router.pending))
	}

	// The second part busy twice, then accepted.
	rig.shards.statuses[1] = []model.Status{model.StatusBusy, model.StatusBusy}
	if status := submit(2); status != model.StatusOK || len(rig.router.busy) != 1 {
		t.Fatalf("second part busy: %s, %d busy parts", status, len(rig.router.busy))
	}
	rig.router.Tick(1)
	if parts := rig.shards.accepted(model.OperationCreateTransfers); len(parts) != 1 ||
		len(rig.router.busy) != 1 {
		t.Fatalf("after a busy retry: %d parts accepted, %d busy", len(parts), len(rig.router.busy))
	}
	rig.router.Tick(2)
	parts := rig.shards.accepted(model.OperationCreateTransfers)
	if len(parts) != 2 || parts[1].shard != 1 || len(rig.router.busy) != 0 {
		t.Fatalf("after the retry: %+v, %d busy", parts, len(rig.router.busy))
	}
	rig.answer(parts[0], nil)
	rig.answer(parts[1], nil)
	if len(rig.replier.replies) != 1 || rig.replier.replies[0].Status != model.StatusOK ||
		rig.replier.replies[0].Number != 2 || rig.replier.replies[0].Op != 9 {
		t.Fatalf("replies %+v", rig.replier.replies)
	}

	// The second part refused not_primary at once, or at a retry.
	for _, statuses := range [][]model.Status{{model.StatusNotPrimary},
		{model.StatusBusy, model.StatusNotPrimary}} {
		rig.replier.replies = nil
		rig.shards.statuses[1] = statuses
		first := len(rig.shards.accepted(model.OperationCreateTransfers))
		if status := submit(3); status != model.StatusOK {
			t.Fatalf("%v: %s", statuses, status)
		}
		rig.router.Tick(3)
		parts := rig.shards.accepted(model.OperationCreateTransfers)[first:]
		if len(parts) != 1 || parts[0].shard != 0 || len(rig.router.busy) != 0 {
			t.Fatalf("%v: parts %+v, %d busy", statuses, parts, len(rig.router.busy))
		}
		rig.answer(parts[0], nil)
		if len(rig.replier.replies) != 1 ||
			rig.replier.replies[0].Status != model.StatusOutcomeUnknown {
			t.Fatalf("%v: replies %+v, want outcome_unknown", statuses, rig.replier.replies)
		}
	}
}

// Abandon answers every open request once, without a body: a write with parts
// outstanding or busy, or waiting for a saga, outcome_unknown; a read shutting_down. A
// shard's later reply to an abandoned part changes nothing.
func TestAbandonAnswersEveryOpenRequest(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	submit := func(number uint64, operation model.Operation, body []byte) {
		if status := rig.router.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: operation, Body: body}); status != model.StatusOK {
			t.Fatalf("request %d: %s", number, status)
		}
	}
	submit(1, model.OperationCreateTransfers, rig.transfers(false, 0, 1)) // Outstanding.
	submit(2, model.OperationLookupAccounts, rig.lookup(0, 1))            // A read.
	rig.shards.statuses[1] = []model.Status{model.StatusBusy}
	submit(3, model.OperationCreateTransfers, rig.transfers(false, 0, 1)) // One part busy.
	waiting := &request{reply: backend.Reply{Connection: 1, Number: 4,
		Operation: model.OperationCreateTransfers}, write: true, kind: kindPerEvent}
	waiting.parts = []*part{{request: waiting, status: model.StatusOK, answered: true}} // Applied, provisional.
	key := sagaKey{shard: 0, id: model.U128(7)}
	rig.router.waits[key] = &sagaWait{waiters: []waiter{{request: waiting}}}
	rig.router.waitOrder = append(rig.router.waitOrder, key)
	// Request 1's part on shard 0 answered: the request is still open (shard 1's part).
	rig.answer(rig.shards.accepted(model.OperationCreateTransfers)[0], nil)
	if len(rig.replier.replies) != 0 {
		t.Fatalf("replies before Abandon: %+v", rig.replier.replies)
	}

	rig.router.Abandon()
	want := map[uint64]model.Status{1: model.StatusOutcomeUnknown, 2: model.StatusShuttingDown,
		3: model.StatusOutcomeUnknown, 4: model.StatusOutcomeUnknown}
	if len(rig.replier.replies) != len(want) {
		t.Fatalf("replies %+v, want one per open request", rig.replier.replies)
	}
	for _, reply := range rig.replier.replies {
		if reply.Status != want[reply.Number] || reply.Body != nil || reply.Duplicate {
			t.Errorf("request %d: %+v, want %s", reply.Number, reply, want[reply.Number])
		}
		delete(want, reply.Number)
	}
	late := rig.shards.accepted(model.OperationCreateTransfers)[1]
	rig.answer(late, nil)
	if len(rig.replier.replies) != 4 {
		t.Fatalf("a late reply to an abandoned part was answered again: %+v",
			rig.replier.replies[4:])
	}
}

// New refuses a shard map that does not validate.
func TestNewRefusesAnInvalidMap(t *testing.T) {
	invalid := &shardmap.Map{Shards: 0, Placement: shardmap.PlacementHash}
	if invalid.Validate() == nil {
		t.Fatal("the test's map validates")
	}
	if _, err := New(Config{Map: invalid, Shards: &recordingShards{},
		Transport: discardTransport{}, Replier: discardReplier{}}); err == nil {
		t.Fatal("an invalid map was accepted")
	}
}

// get_shard_map has no events: any shard answers it, the request goes through
// unchanged to shard 0. A reply to a router connection the router does not know (or
// no longer waits for) is dropped.
func TestShardMapRequestAndUnknownReplies(t *testing.T) {
	rig := newSubmitRig(t, shardmap.Hashed(2))
	if status := rig.router.Submit(&backend.Request{Connection: 5, Client: 7, Session: 1,
		Number: 1, Operation: model.OperationGetShardMap}); status != model.StatusOK ||
		len(rig.shards.submitted) != 1 || rig.shards.submitted[0].shard != 0 ||
		rig.shards.submitted[0].request.Connection != 5 {
		t.Fatalf("get_shard_map: %s, submitted %+v", status, rig.shards.submitted)
	}
	rig.router.Deliver(1, []backend.Reply{{Connection: ClientConnectionLimit + 99,
		Operation: model.OperationCreateTransfers, Status: model.StatusOK}})
	if len(rig.replier.replies) != 0 {
		t.Fatalf("a reply to an unknown router connection went on: %+v", rig.replier.replies)
	}
}

// A query no shard could answer (account_not_found everywhere) takes the first part's
// answer; ledger totals refused by one shard are refused.
func TestQueryAnsweredByNoShard(t *testing.T) {
	req := &request{reply: backend.Reply{Operation: model.OperationGetAccountBalances}}
	req.parts = []*part{{status: model.StatusAccountNotFound, reply: []byte{1}},
		{status: model.StatusAccountNotFound, reply: []byte{2}}}
	if status, body := chooseQuery(req); status != model.StatusAccountNotFound ||
		string(body) != "\x01" {
		t.Fatalf("no shard knows the account: %s, %v", status, body)
	}
	filter := make([]byte, model.LedgerFilterSize)
	(&model.LedgerFilter{LedgerMin: 1, Limit: 2}).Encode(filter)
	req = &request{reply: backend.Reply{Operation: model.OperationGetLedgerTotals}}
	req.parts = []*part{{body: filter, status: model.StatusOK},
		{body: filter, status: model.StatusInvalidBody}}
	if status, body := chooseQuery(req); status != model.StatusInvalidBody || body != nil {
		t.Fatalf("ledger totals refused by one shard: %s, %v", status, body)
	}
}

// The key leading each found record of a lookup, by operation.
func TestLookupKeySize(t *testing.T) {
	for operation, want := range map[model.Operation]int{
		model.OperationLookupInstruments: 4, model.OperationLookupOrders: model.OrderIDSize,
		model.OperationLookupAccounts: model.IDSize, model.OperationLookupTransfers: model.IDSize,
	} {
		if got := keySize(operation); got != want {
			t.Errorf("%s: %d, want %d", operation, got, want)
		}
	}
}

// A lookup or query naming only orders, on a node whose instruments are on several
// shards, is refused whole with instrument_shard_unknown (no part, no op, empty body):
// get_account_orders of every instrument made chooseQuery index a request without parts,
// a panic that ended the node (found by tools/e2e TestHunt48OrdersOnSeveralShards), and
// lookup_orders answered ok with nothing, as if no order were open.
func TestOrderReadsWithInstrumentsOnSeveralShards(t *testing.T) {
	placement := shardmap.Hashed(2)
	placement.Instruments = []shardmap.InstrumentEntry{{Instrument: 2, Shard: 1}}
	rig := newSubmitRig(t, placement)
	filter := make([]byte, model.OrderFilterSize)
	(&model.OrderFilter{Account: 1, Limit: 10}).Encode(filter)
	requests := []backend.Request{
		{Connection: 1, Operation: model.OperationGetAccountOrders, Number: 1, Body: filter},
		{Connection: 1, Operation: model.OperationLookupOrders, Number: 2, Body: make([]byte, 2*model.OrderIDSize)},
	}
	for i := range requests {
		if status := rig.router.Submit(&requests[i]); status != model.StatusOK {
			t.Fatalf("%s: Submit answered %s", requests[i].Operation, status)
		}
	}
	rig.router.Flush()
	if len(rig.replier.replies) != len(requests) || len(rig.shards.submitted) != 0 {
		t.Fatalf("%d replies, %d submitted to shards, want %d and 0", len(rig.replier.replies),
			len(rig.shards.submitted), len(requests))
	}
	for i, reply := range rig.replier.replies {
		if reply.Number != requests[i].Number ||
			reply.Status != model.StatusInstrumentShardUnknown || len(reply.Body) != 0 ||
			reply.Op != 0 || reply.Duplicate {
			t.Errorf("%s: %+v, want instrument_shard_unknown, no body, no op",
				requests[i].Operation, reply)
		}
	}
}
