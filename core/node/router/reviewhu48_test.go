package router

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// FuzzRouterAnswersEveryRequestOnce feeds random client requests of every operation a
// client may send (any body, flags, numbers reused or resent) through the router of a
// node of 2 to 4 real shards (core machines, the simulation's shards without faults),
// with accounts placed by hash, range or ledger and instruments on one shard or
// several. A panic anywhere (split, merge, a shard) would end a node: the test fails on
// any, and checks that Submit's answer and the replies agree: a request Submit accepted
// is answered exactly once, one it refused never. Its seeds run in the plain tests.
func FuzzRouterAnswersEveryRequestOnce(f *testing.F) {
	for seed := range uint64(40) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		runRouterFuzz(t, seed)
	})
}

// fuzzReplier counts the replies of each client connection.
type fuzzReplier struct {
	t       *testing.T
	replies map[uint64]backend.Reply
	counts  map[uint64]int
}

func (r *fuzzReplier) Deliver(replies []backend.Reply) {
	for _, reply := range replies {
		r.counts[reply.Connection]++
		r.replies[reply.Connection] = reply
	}
}

func (r *fuzzReplier) DeliverReports([]backend.Report) {}

// fuzzPlacement draws a map of 2 to 4 shards.
func fuzzPlacement(rng *rand.Rand) *shardmap.Map {
	shards := 2 + rng.IntN(3)
	var m *shardmap.Map
	switch rng.IntN(3) {
	case 0:
		m = shardmap.Hashed(shards)
	case 1:
		starts := []model.Uint128{{}}
		for i := 1; i < shards; i++ {
			starts = append(starts, model.U128(uint64(3*i)))
		}
		m = shardmap.ByRange(starts...)
	default:
		m = &shardmap.Map{Shards: uint16(shards), Placement: shardmap.PlacementLedger,
			DefaultShard: uint16(shards - 1)}
		for ledger := range uint32(3) {
			m.Ledgers = append(m.Ledgers, shardmap.LedgerEntry{Ledger: ledger + 1,
				Shard: uint16(rng.IntN(shards))})
		}
	}
	if rng.IntN(2) == 0 {
		// Instruments on several shards (order-only commands cannot be placed).
		for instrument := range uint32(3) {
			m.Instruments = append(m.Instruments, shardmap.InstrumentEntry{
				Instrument: instrument + 1, Shard: uint16(rng.IntN(shards))})
		}
		m.Instruments[1].Shard = (m.InstrumentDefault + 1) % m.Shards
	}
	return m
}

func runRouterFuzz(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0xf022))
	placement := fuzzPlacement(rng)
	sim := &simulation{t: t, rng: rng, placement: placement, now: 1_000_000 * simMillisecond,
		finals: map[[2]uint64]finalReply{}}
	for i := range int(placement.Shards) {
		config := core.Config{Shard: core.ShardConfig{Map: placement, Index: uint16(i)}}
		sim.shards = append(sim.shards, &simShard{sim: sim, index: uint16(i), config: config,
			machine: core.New(config)})
	}
	replier := &fuzzReplier{t: t, replies: map[uint64]backend.Reply{}, counts: map[uint64]int{}}
	router, err := New(Config{Map: placement, Shards: simShards{sim}, Transport: simTransport{sim},
		Replier: replier, SagaResendAfter: 50 * simMillisecond, SagaTimeout: 60 * simMillisecond,
		OutboxInterval: 20 * simMillisecond})
	if err != nil {
		t.Fatal(err)
	}
	sim.router = router
	sim.grant([]model.Grant{{Client: 1, Scopes: model.ScopeOperator}})

	accepted := map[uint64]backend.Request{}
	faults := false
	open := func() bool {
		for c := range accepted {
			if replier.counts[c] == 0 {
				return true
			}
		}
		return false
	}
	sim.busyPercent = 15
	settle := func() {
		if !fuzzSettle(sim, open) {
			t.Errorf("seed %d: the node did not go quiet in %d rounds", seed, fuzzSettleRoundsMax)
		}
	}
	var connection, number uint64
	send := func(operation model.Operation, flags uint8, requestNumber uint64, body []byte) {
		connection++
		request := backend.Request{Connection: connection, Client: 1 + rng.Uint64N(2),
			Session: 1, Number: requestNumber, Operation: operation, Flags: flags, Body: body}
		// Shards refuse some submissions busy: a split request's later parts are then held
		// and submitted again at a Tick (retryBusy), behind which the session's writes wait.
		sim.faults = faults
		status := router.Submit(&request)
		sim.faults = false
		router.Flush()
		if status == model.StatusOK {
			accepted[connection] = request
		}
	}
	// Setup: accounts 1..12 on ledgers 1..3, instruments 1..3 (base ledger 1, quote 2).
	var accounts, instruments []byte
	for id := range uint64(12) {
		account := model.Account{ID: model.U128(id + 1), Ledger: uint32(id%3) + 1, Code: 1}
		accounts = append(accounts, make([]byte, model.AccountSize)...)
		account.Encode(accounts[len(accounts)-model.AccountSize:])
	}
	for id := range uint32(3) {
		instrument := model.Instrument{ID: id + 1, BaseLedger: 1, QuoteLedger: 2, TickSize: 1,
			LotSize: 1, QuantityMin: 1, QuantityMax: 1_000}
		instruments = append(instruments, make([]byte, model.InstrumentSize)...)
		instrument.Encode(instruments[len(instruments)-model.InstrumentSize:])
	}
	number++
	send(model.OperationCreateAccounts, 0, number, accounts)
	number++
	send(model.OperationCreateInstruments, 0, number, instruments)
	settle()
	faults = rng.IntN(2) == 0

	var operations []model.Operation
	for _, operation := range model.Operations() {
		if info, _ := operation.Info(); !info.Internal {
			operations = append(operations, operation)
		}
	}
	var sent [][]byte // Earlier bodies, resent under their numbers or reused.
	var sentNumbers []uint64
	var sentOperations []model.Operation
	for step := range 60 {
		operation := operations[rng.IntN(len(operations))]
		info, _ := operation.Info()
		flags := uint8(0)
		if info.BalancesResult && rng.IntN(2) == 0 {
			flags = core.RequestFlagReplyBalances
		}
		requestNumber := number + 1
		var body []byte
		switch choice := rng.IntN(10); {
		case choice == 0 && len(sent) > 0:
			// A resend of an earlier request (same number, same body).
			i := rng.IntN(len(sent))
			operation, requestNumber, body = sentOperations[i], sentNumbers[i], sent[i]
			info, _ = operation.Info()
			flags = 0
		case choice == 1 && len(sent) > 0:
			// An earlier number reused for a new body of this operation.
			requestNumber = sentNumbers[rng.IntN(len(sentNumbers))]
			fallthrough
		default:
			events := 1 + rng.IntN(4)
			if info.EventsMax > 0 {
				events = min(events, info.EventsMax)
			}
			if info.EventSize == 0 {
				events = 0
			}
			for range events {
				body = append(body, fuzzEvent(rng, operation, info.EventSize)...)
			}
		}
		if requestNumber > number {
			number = requestNumber
		}
		send(operation, flags, requestNumber, body)
		sent, sentNumbers, sentOperations = append(sent, body), append(sentNumbers, requestNumber),
			append(sentOperations, operation)
		if rng.IntN(3) == 0 || step == 59 {
			settle()
		}
	}
	settle()
	for c := uint64(1); c <= connection; c++ {
		request, ok := accepted[c]
		switch got := replier.counts[c]; {
		case ok && got != 1:
			t.Errorf("seed %d: request on connection %d (%s) accepted, answered %d times", seed, c,
				request.Operation, got)
		case !ok && got != 0:
			t.Errorf("seed %d: request on connection %d refused by Submit, answered %d times", seed,
				c, got)
		}
		reply := replier.replies[c]
		if !ok || replier.counts[c] != 1 {
			continue
		}
		if reply.Client != request.Client || reply.Session != request.Session ||
			reply.Number != request.Number || reply.Operation != request.Operation {
			t.Errorf("seed %d: %s request %d of client %d answered as %s %d of client %d", seed,
				request.Operation, request.Number, request.Client, reply.Operation, reply.Number,
				reply.Client)
		}
		// PROTOCOL.md section 3: every reply but ok carries no op (aux 0); a refusal has
		// no body and is no duplicate.
		if reply.Status != model.StatusOK && (reply.Op != 0 || reply.Duplicate || len(reply.Body) != 0) {
			t.Errorf("seed %d: %s request %d answered %s with op %d, duplicate %t, %d bytes", seed,
				request.Operation, request.Number, reply.Status, reply.Op, reply.Duplicate,
				len(reply.Body))
		}
	}
}

// fuzzSettleRoundsMax bounds the rounds of one fuzzSettle: a node that has not gone quiet
// by then has a request or a saga that never ends.
const fuzzSettleRoundsMax = 1_000

// fuzzSettle runs the shards, the saga messages and the router's ticks until the node is
// quiet (fuzzQuiet) and no accepted request waits for its reply (held parts, sagas), for at
// most fuzzSettleRoundsMax rounds; it reports whether the node went quiet.
func fuzzSettle(sim *simulation, open func() bool) bool {
	for range fuzzSettleRoundsMax {
		sim.now += 10 * simMillisecond
		for _, s := range sim.shards {
			s.turn()
			s.makeDurable(true)
		}
		for len(sim.messages) > 0 {
			sim.deliverMessage()
		}
		sim.router.Tick(sim.now)
		if fuzzQuiet(sim) && !open() {
			return true
		}
	}
	return false
}

// fuzzQuiet reports whether nothing is left to do but the router's outbox polls: no saga
// message in flight, no request queued at a shard but a poll. The router asks every shard
// for its outbox each OutboxInterval forever, so a queued poll is no work left: counted as
// work, the polls of shards out of phase kept every round busy and every settle ran all
// its rounds, each shard snapshotting one round in four (4 GB allocated by one input; on a
// loaded machine an input then outran the 10 s after which Go's fuzz worker panics, exit
// status 2, session 49). A poll whose answer starts work queues that work in its round.
func fuzzQuiet(sim *simulation) bool {
	if len(sim.messages) > 0 {
		return false
	}
	for _, s := range sim.shards {
		for _, request := range s.queue {
			if request.Operation != model.OperationSagaOutbox {
				return false
			}
		}
	}
	return true
}

// fuzzEvent draws one event of operation: random bytes or zeros, with the fields that
// place it (ids, ledgers, instruments, flags) set to small values most of the time.
func fuzzEvent(rng *rand.Rand, operation model.Operation, size int) []byte {
	event := make([]byte, size)
	if rng.IntN(4) == 0 {
		for i := range event {
			event[i] = byte(rng.Uint32())
		}
		return event
	}
	id := func() model.Uint128 { return model.U128(rng.Uint64N(14)) }
	ledger := func() uint32 { return uint32(rng.IntN(4)) }
	instrument := func() uint32 { return uint32(rng.IntN(4)) }
	switch operation {
	case model.OperationCreateAccounts:
		a := model.Account{ID: model.U128(20 + rng.Uint64N(20)), Ledger: ledger(), Code: 1,
			Flags: uint16(rng.IntN(4))}
		a.Encode(event)
	case model.OperationCreateTransfers:
		flags := []uint16{0, 0, model.TransferLinked, model.TransferPending,
			model.TransferPostPending, model.TransferVoidPending, model.TransferBalancingDebit}
		tr := model.Transfer{ID: model.U128(1 + rng.Uint64N(30)), DebitAccountID: id(),
			CreditAccountID: id(), Amount: model.U128(rng.Uint64N(10)),
			PendingID: model.U128(rng.Uint64N(30)), Ledger: ledger(), Code: 1,
			Flags: flags[rng.IntN(len(flags))]}
		tr.Encode(event)
	case model.OperationLookupAccounts, model.OperationLookupTransfers:
		id().PutLE(event)
	case model.OperationGetAccountTransfers, model.OperationGetAccountBalances:
		f := model.AccountFilter{AccountID: id(), Limit: uint32(rng.IntN(5)),
			Flags: uint32(rng.IntN(4))}
		f.Encode(event)
	case model.OperationGetLedgerTotals:
		f := model.LedgerFilter{LedgerMin: ledger(), LedgerMax: ledger(), Limit: uint32(rng.IntN(5))}
		f.Encode(event)
	case model.OperationCreateInstruments:
		x := model.Instrument{ID: instrument(), BaseLedger: 1, QuoteLedger: 2, TickSize: 1,
			LotSize: 1, QuantityMin: 1, QuantityMax: 10}
		x.Encode(event)
	case model.OperationPlaceOrders:
		o := model.Order{ClientOrderID: 1 + rng.Uint64N(10), Account: 1 + rng.Uint64N(3),
			BaseAccountID: id(), QuoteAccountID: id(), Price: 1 + rng.Uint64N(5),
			Quantity: 1 + rng.Uint64N(5), Instrument: instrument(), Side: model.Side(rng.IntN(3)),
			Type: model.OrderType(rng.IntN(3))}
		o.Encode(event)
	case model.OperationCancelOrders:
		c := model.OrderCancel{ClientOrderID: 1 + rng.Uint64N(10), Account: 1 + rng.Uint64N(3),
			OrderID: rng.Uint64N(5), OriginalClientOrderID: rng.Uint64N(10)}
		c.Encode(event)
	case model.OperationReplaceOrders:
		r := model.OrderReplace{ClientOrderID: 1 + rng.Uint64N(10), Account: 1 + rng.Uint64N(3),
			OrderID: rng.Uint64N(5), Price: 1 + rng.Uint64N(5), Quantity: 1 + rng.Uint64N(5)}
		r.Encode(event)
	case model.OperationMassCancel:
		m := model.MassCancel{ClientOrderID: 1 + rng.Uint64N(10), Account: 1 + rng.Uint64N(3),
			Instrument: instrument()}
		m.Encode(event)
	case model.OperationLookupInstruments:
		binary.LittleEndian.PutUint32(event, instrument())
	case model.OperationLookupOrders:
		binary.LittleEndian.PutUint64(event, rng.Uint64N(5))
	case model.OperationGetAccountOrders:
		f := model.OrderFilter{Account: 1 + rng.Uint64N(3), Instrument: instrument(),
			Limit: uint32(rng.IntN(5))}
		f.Encode(event)
	case model.OperationGetDepth, model.OperationGetBook:
		f := model.DepthFilter{Instrument: instrument(), Levels: uint32(rng.IntN(5))}
		f.Encode(event)
	default:
		for i := range event {
			event[i] = byte(rng.IntN(3))
		}
	}
	return event
}
