package router

import (
	"slices"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// Unit tests of the router's pieces that the simulation (sim_test.go) reaches rarely or
// never: limits of the saga driver's batches and retries, replies it must not trust,
// chains split across shards, and the merges of queries sent to every shard.

// recordingShards accepts every request and keeps it.
type recordingShards struct{ submitted []submitted }

type submitted struct {
	shard   uint16
	request backend.Request
}

func (s *recordingShards) Submit(shard uint16, request *backend.Request) model.Status {
	s.submitted = append(s.submitted, submitted{shard, *request})
	return model.StatusOK
}

func (s *recordingShards) SubmitInternal(shard uint16, request *backend.Request) model.Status {
	return s.Submit(shard, request)
}

// count returns how many requests of operation were submitted.
func (s *recordingShards) count(operation model.Operation) int {
	n := 0
	for _, sub := range s.submitted {
		if sub.request.Operation == operation {
			n++
		}
	}
	return n
}

type discardTransport struct{}

func (discardTransport) Send([]saga.Message) {}

type discardReplier struct{}

func (discardReplier) Deliver([]backend.Reply)         {}
func (discardReplier) DeliverReports([]backend.Report) {}

func newTestRouter(t *testing.T, shards int) (*Router, *recordingShards) {
	t.Helper()
	recorder := &recordingShards{}
	r, err := New(Config{Map: shardmap.Hashed(shards), Shards: recorder,
		Transport: discardTransport{}, Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	return r, recorder
}

func TestNewRequiresEveryPart(t *testing.T) {
	full := Config{Map: shardmap.Hashed(2), Shards: &recordingShards{},
		Transport: discardTransport{}, Replier: discardReplier{}}
	for name, change := range map[string]func(*Config){
		"no map":       func(c *Config) { c.Map = nil },
		"no shards":    func(c *Config) { c.Shards = nil },
		"no transport": func(c *Config) { c.Transport = nil },
		"no replier":   func(c *Config) { c.Replier = nil },
	} {
		config := full
		change(&config)
		if _, err := New(config); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Receive writes a shard's saga credits as requests of at most the operation's event
// limit: one more credit than fits makes a second request holding just that one.
func TestReceiveSplitsCreditsAtTheEventLimit(t *testing.T) {
	r, recorder := newTestRouter(t, 2)
	info, _ := model.OperationSagaCredit.Info()
	messages := make([]saga.Message, info.EventsMax+1)
	for i := range messages {
		messages[i] = saga.Message{Kind: saga.MessageCredit, To: 1,
			Credit: saga.Credit{Sequence: uint64(i + 1), From: 0, To: 1}}
	}
	r.Receive(messages)
	var sizes []int
	for _, sub := range recorder.submitted {
		if sub.shard != 1 || sub.request.Operation != model.OperationSagaCredit {
			t.Fatalf("request to shard %d with operation %s", sub.shard, sub.request.Operation)
		}
		sizes = append(sizes, len(sub.request.Body)/model.SagaCreditSize)
	}
	if len(sizes) != 2 || sizes[0] != info.EventsMax || sizes[1] != 1 {
		t.Fatalf("credits per request: %v, want [%d 1]", sizes, info.EventsMax)
	}
	var last saga.Credit
	last.Decode(recorder.submitted[1].request.Body)
	if last.Sequence != uint64(len(messages)) {
		t.Fatalf("the second request holds saga %d, want %d", last.Sequence, len(messages))
	}
}

// Receive allocates each request's body once, at its size, and writes every message of
// the kind for the shard into it, in order, whatever else the messages hold.
func TestReceiveSizesEachBodyOnce(t *testing.T) {
	r, recorder := newTestRouter(t, 2)
	var messages []saga.Message
	for i := range 7 {
		messages = append(messages, saga.Message{Kind: saga.MessageCredit, To: 1,
			Credit: saga.Credit{Sequence: uint64(i + 1), From: 0, To: 1}})
		if i%2 == 0 {
			messages = append(messages, saga.Message{Kind: saga.MessageDecision, To: 1,
				Decision: saga.Decision{Sequence: uint64(i + 1), From: 0, To: 1}},
				saga.Message{Kind: saga.MessageCredit, To: 0,
					Credit: saga.Credit{Sequence: uint64(100 + i), From: 1, To: 0}})
		}
	}
	r.Receive(messages)
	want := map[model.Operation][]uint64{model.OperationSagaCredit: {1, 2, 3, 4, 5, 6, 7},
		model.OperationSagaFinish: {1, 3, 5, 7}}
	for _, sub := range recorder.submitted {
		body := sub.request.Body
		if sub.shard == 0 {
			continue
		}
		if cap(body) != len(body) {
			t.Errorf("%s body of %d bytes allocated with capacity %d", sub.request.Operation,
				len(body), cap(body))
		}
		size := model.SagaCreditSize
		if sub.request.Operation == model.OperationSagaFinish {
			size = model.SagaDecisionSize
		}
		var got []uint64
		for offset := 0; offset < len(body); offset += size {
			var c saga.Credit
			var d saga.Decision
			if size == model.SagaCreditSize && c.Decode(body[offset:]) {
				got = append(got, c.Sequence)
			} else if size == model.SagaDecisionSize && d.Decode(body[offset:]) {
				got = append(got, d.Sequence)
			}
		}
		if !slices.Equal(got, want[sub.request.Operation]) {
			t.Errorf("%s to shard 1 holds sagas %v, want %v", sub.request.Operation, got,
				want[sub.request.Operation])
		}
		delete(want, sub.request.Operation)
	}
	if len(want) != 0 {
		t.Fatalf("no request for %v", want)
	}
}

// Released hands the transport a shard's Credits and Decisions, in order, in a list made
// once at its size; Finisheds stay with the router.
func TestReleasedSendsOnInOneList(t *testing.T) {
	transport := &listTransport{}
	r, err := New(Config{Map: shardmap.Hashed(2), Shards: &recordingShards{},
		Transport: transport, Replier: discardReplier{}})
	if err != nil {
		t.Fatal(err)
	}
	var messages []saga.Message
	var want []uint64
	for i := range uint64(9) {
		switch i % 3 {
		case 0:
			messages = append(messages, saga.Message{Kind: saga.MessageCredit, To: 1,
				Credit: saga.Credit{Sequence: i + 1, From: 0, To: 1}})
			want = append(want, i+1)
		case 1:
			messages = append(messages, saga.Message{Kind: saga.MessageDecision, To: 1,
				Decision: saga.Decision{Sequence: i + 1, From: 0, To: 1}})
			want = append(want, i+1)
		default:
			messages = append(messages, saga.Message{Kind: saga.MessageFinished, To: 0,
				Finished: saga.Finished{Sequence: i + 1}})
		}
	}
	r.Released(0, messages)
	if len(transport.sent) != 1 {
		t.Fatalf("%d lists sent, want 1", len(transport.sent))
	}
	list := transport.sent[0]
	var got []uint64
	for _, message := range list {
		if message.Kind == saga.MessageCredit {
			got = append(got, message.Credit.Sequence)
		} else {
			got = append(got, message.Decision.Sequence)
		}
	}
	if !slices.Equal(got, want) || cap(list) != len(list) {
		t.Fatalf("sent sagas %v in a list of capacity %d; want %v, capacity %d", got, cap(list),
			want, len(want))
	}
}

// listTransport keeps every list of messages it is given.
type listTransport struct{ sent [][]saga.Message }

func (t *listTransport) Send(messages []saga.Message) { t.sent = append(t.sent, messages) }

// A request waiting for a saga's result asks for it at once, not again on every tick,
// and again once SagaResendAfter has passed (the earlier answer may have been lost).
func TestSagaLookupRepeatsAfterTheResendInterval(t *testing.T) {
	r, recorder := newTestRouter(t, 2)
	start := uint64(1_000_000_000)
	r.Tick(start)
	key := sagaKey{shard: 0, id: model.U128(7)}
	r.mutex.Lock()
	r.waits[key] = &sagaWait{waiters: []waiter{{request: &request{}}}}
	r.waitOrder = append(r.waitOrder, key)
	r.mutex.Unlock()
	for _, step := range []struct {
		now     uint64
		lookups int
	}{
		{start + 1, 1},
		{start + 2, 1},
		{start + 1 + SagaResendAfterDefault - 1, 1},
		{start + 1 + SagaResendAfterDefault, 2},
	} {
		r.Tick(step.now)
		if got := recorder.count(model.OperationSagaLookup); got != step.lookups {
			t.Fatalf("at %d ns: %d lookups, want %d", step.now-start, got, step.lookups)
		}
	}
}

// An outbox reply that is ok but not a whole summary and whole credits is ignored: no
// credit is sent and no watermark moves (the next poll asks again).
func TestMalformedOutboxReplyIsIgnored(t *testing.T) {
	for _, size := range []int{0, model.SagaOutboxSummarySize - 1,
		model.SagaOutboxSummarySize + model.SagaCreditSize - 1} {
		r, _ := newTestRouter(t, 2)
		body := make([]byte, size)
		if size >= model.SagaOutboxSummarySize {
			(&saga.OutboxSummary{Lowest: 5}).Encode(body)
		}
		r.pollAnswered(0, &backend.Reply{Status: model.StatusOK, Body: body})
		if len(r.outgoing) != 0 || r.forgotten[0][1] != 0 {
			t.Fatalf("%d bytes: %d messages out, watermark %d", size, len(r.outgoing),
				r.forgotten[0][1])
		}
	}
}

// A linked chain is refused when its events are not all on its first event's shard,
// also when each of them is local there; a chain left open by the request's last event
// is not the router's to refuse (the shard answers it).
func TestRefuseSpanningChains(t *testing.T) {
	const eventSize = model.TransferSize
	on := func(shard uint16) shardmap.Target { return shardmap.Target{Shard: shard, Credit: shard} }
	for _, test := range []struct {
		name    string
		linked  []bool
		targets []shardmap.Target
		want    []model.Status
	}{
		{"chain of local transfers on two shards", []bool{true, false},
			[]shardmap.Target{on(0), on(1)},
			[]model.Status{model.StatusLinkedEventFailed, model.StatusLinkedChainSpansShards}},
		{"chain on one shard", []bool{true, false}, []shardmap.Target{on(1), on(1)},
			[]model.Status{model.StatusOK, model.StatusOK}},
		{"chain left open at the end, one shard", []bool{false, true, true},
			[]shardmap.Target{on(0), on(1), on(1)},
			[]model.Status{model.StatusOK, model.StatusOK, model.StatusOK}},
		{"chain left open at the end, two shards", []bool{true, true},
			[]shardmap.Target{on(0), on(1)},
			[]model.Status{model.StatusLinkedEventFailed, model.StatusLinkedChainSpansShards}},
	} {
		body := make([]byte, len(test.linked)*eventSize)
		for i, linked := range test.linked {
			if linked {
				transfer := model.Transfer{ID: model.U128(uint64(i + 1)), Flags: model.TransferLinked}
				transfer.Encode(body[i*eventSize:])
			}
		}
		refuseSpanningChains(body, eventSize, test.targets)
		for i, target := range test.targets {
			if target.Status != test.want[i] {
				t.Errorf("%s: event %d: %s, want %s", test.name, i, target.Status, test.want[i])
			}
		}
	}
}

// A refused event's result carries the status where the operation's result keeps it.
func TestEncodeRefusalPerOperation(t *testing.T) {
	status := model.StatusInstrumentShardUnknown
	for _, operation := range []model.Operation{model.OperationPlaceOrders,
		model.OperationCancelOrders, model.OperationReplaceOrders} {
		b := make([]byte, model.OrderResultSize)
		encodeRefusal(operation, b, status)
		var result model.OrderResult
		result.Decode(b)
		if result.Status != status || result.Timestamp != 0 {
			t.Errorf("%s: %+v", operation, result)
		}
	}
	for _, operation := range []model.Operation{model.OperationCreateTransfers,
		model.OperationMassCancel} {
		b := make([]byte, model.EventResultSize)
		encodeRefusal(operation, b, status)
		if eventStatus(b) != status {
			t.Errorf("%s: status %s", operation, eventStatus(b))
		}
	}
}

// Ledger totals asked of every shard are summed per ledger, the lowest Limit ledgers
// kept; another query takes the answer of the shard that knows the account.
func TestQueriesSentToEveryShardAreMerged(t *testing.T) {
	filter := make([]byte, model.LedgerFilterSize)
	(&model.LedgerFilter{LedgerMin: 1, Limit: 2}).Encode(filter)
	totals := func(list ...model.LedgerTotals) []byte {
		b := make([]byte, len(list)*model.LedgerTotalsSize)
		for i := range list {
			list[i].Encode(b[i*model.LedgerTotalsSize:])
		}
		return b
	}
	wide := func(v uint64) model.WideSum { return model.WideSum{Low: model.U128(v)} }
	req := &request{reply: backend.Reply{Operation: model.OperationGetLedgerTotals}}
	req.parts = []*part{
		{body: filter, status: model.StatusOK, reply: totals(
			model.LedgerTotals{Ledger: 1, Accounts: 2, DebitsPosted: wide(10), CreditsPending: wide(1)},
			model.LedgerTotals{Ledger: 3, Accounts: 1, CreditsPosted: wide(7)})},
		{body: filter, status: model.StatusOK, reply: totals(
			model.LedgerTotals{Ledger: 1, Accounts: 1, CreditsPosted: wide(10), DebitsPending: wide(1)},
			model.LedgerTotals{Ledger: 2, Accounts: 5, DebitsPosted: wide(3)})},
	}
	status, body := chooseQuery(req)
	want := totals(
		model.LedgerTotals{Ledger: 1, Accounts: 3, DebitsPending: wide(1), DebitsPosted: wide(10),
			CreditsPending: wide(1), CreditsPosted: wide(10)},
		model.LedgerTotals{Ledger: 2, Accounts: 5, DebitsPosted: wide(3)})
	if status != model.StatusOK || string(body) != string(want) {
		t.Fatalf("ledger totals: %s, %x\nwant %x", status, body, want)
	}

	known := []byte{1, 2, 3}
	req = &request{reply: backend.Reply{Operation: model.OperationGetAccountBalances}}
	req.parts = []*part{{status: model.StatusAccountNotFound},
		{status: model.StatusOK, reply: known}}
	if status, body := chooseQuery(req); status != model.StatusOK || string(body) != string(known) {
		t.Fatalf("account query: %s, %v", status, body)
	}
}

// A lookup whose keys do not say where they live (transfer ids) goes whole to every
// shard.
func TestLookupOfTransfersGoesToEveryShard(t *testing.T) {
	body := make([]byte, 2*model.IDSize)
	model.U128(1).PutLE(body)
	model.U128(2).PutLE(body[model.IDSize:])
	p := split(shardmap.Hashed(3), model.OperationLookupTransfers, body)
	if p.passThrough || len(p.parts) != 3 {
		t.Fatalf("plan: pass-through %v, %d parts, want 3", p.passThrough, len(p.parts))
	}
	for i, planned := range p.parts {
		if planned.shard != uint16(i) {
			t.Fatalf("part %d goes to shard %d", i, planned.shard)
		}
	}
}
