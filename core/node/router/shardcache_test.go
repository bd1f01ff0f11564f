package router

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// Tests of exactly-once across the shards' own session tables and reply caches: each
// shard of a node keeps the session state (window, cached replies, the table of sessions)
// of the requests with events on it only (PROTOCOL.md §7, §18). They run real machines
// through the simulation's shards, step by step, with no faults but the busy refusals
// each test asks for.

// rigShardOneStart is where shard 1's ids begin (range placement): ids below it are on
// shard 0, so each test says where each event goes.
const rigShardOneStart = 1_000_000

// Accounts of the rig: two on each shard, ledger 1, created by rig.accounts.
var (
	rigA1 = model.U128(10)
	rigA2 = model.U128(11)
	rigB1 = model.U128(rigShardOneStart + 10)
	rigB2 = model.U128(rigShardOneStart + 11)
)

type cacheRig struct {
	t           *testing.T
	sim         *simulation
	replies     map[uint64]backend.Reply // Client replies, by connection.
	parts       []seenPart               // Shards' replies to client requests and parts, in order.
	busyPercent int                      // Client requests and parts refused busy at random.
	refuse      []int                    // Per shard: client parts still to refuse busy.
	connection  uint64
	holdSagas   bool // Keep saga messages in flight (the sagas stay running).
}

// seenPart is a shard's reply to a client's request or to one of the router's parts.
type seenPart struct {
	shard uint16
	reply backend.Reply
}

type rigShards struct{ rig *cacheRig }

func (s rigShards) Submit(index uint16, request *backend.Request) model.Status {
	if s.rig.refuse[index] > 0 {
		s.rig.refuse[index]--
		return model.StatusBusy
	}
	if s.rig.busyPercent > 0 && s.rig.sim.rng.IntN(100) < s.rig.busyPercent {
		return model.StatusBusy
	}
	return s.rig.sim.shards[index].submit(request, false)
}

func (s rigShards) SubmitInternal(index uint16, request *backend.Request) model.Status {
	return s.rig.sim.shards[index].submit(request, true)
}

type rigReplier struct{ rig *cacheRig }

func (r rigReplier) Deliver(replies []backend.Reply) {
	for _, reply := range replies {
		reply.Body = bytes.Clone(reply.Body)
		r.rig.replies[reply.Connection] = reply
	}
}

func (rigReplier) DeliverReports([]backend.Report) {}

// newCacheRig builds two shards (sessionsMax sessions each; 0: the default) and their
// router, and gives clients 1 and 2 the operator scope.
func newCacheRig(t *testing.T, sessionsMax int) *cacheRig {
	return newSeededCacheRig(t, sessionsMax, 1)
}

// newSeededCacheRig is newCacheRig with the random source (shard turns, refusals) seeded.
func newSeededCacheRig(t *testing.T, sessionsMax int, seed uint64) *cacheRig {
	placement := shardmap.ByRange(model.U128(0), model.U128(rigShardOneStart))
	sim := &simulation{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), placement: placement,
		now: 1_000_000 * simMillisecond}
	rig := &cacheRig{t: t, sim: sim, replies: map[uint64]backend.Reply{},
		refuse: make([]int, 2)}
	for i := range 2 {
		config := core.Config{SessionsMax: sessionsMax,
			Shard: core.ShardConfig{Map: placement, Index: uint16(i)}}
		sim.shards = append(sim.shards, &simShard{sim: sim, index: uint16(i), config: config,
			machine: core.New(config)})
	}
	sim.observe = func(shard uint16, replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Client != 0 {
				reply.Body = nil // Only the header is looked at.
				rig.parts = append(rig.parts, seenPart{shard, reply})
			}
		}
	}
	router, err := New(Config{Map: placement, Shards: rigShards{rig},
		Transport: simTransport{sim}, Replier: rigReplier{rig},
		SagaResendAfter: 50 * simMillisecond, SagaTimeout: 1_000_000 * simMillisecond,
		OutboxInterval: 20 * simMillisecond})
	if err != nil {
		t.Fatal(err)
	}
	sim.router = router
	sim.grant([]model.Grant{{Client: 1, Scopes: model.ScopeOperator},
		{Client: 2, Scopes: model.ScopeOperator}})
	return rig
}

// send submits a request on a fresh connection and returns the connection and the
// router's answer (ok: queued, the reply comes later).
func (rig *cacheRig) send(client, session, number uint64, operation model.Operation,
	flags uint8, body []byte) (uint64, model.Status) {
	rig.connection++
	status := rig.sim.router.Submit(&backend.Request{Connection: rig.connection,
		Client: client, Session: session, Number: number, Operation: operation, Flags: flags,
		Body: body})
	rig.sim.router.Flush()
	return rig.connection, status
}

// settle runs the shards, the durability of everything logged, the transport (unless
// sagas are held) and the router's ticks for a while: every request that can be
// answered is.
func (rig *cacheRig) settle() {
	sim := rig.sim
	for range 12 {
		sim.now += 10 * simMillisecond
		for _, s := range sim.shards {
			for len(s.queue) > 0 {
				s.turn()
			}
			s.makeDurable(true)
		}
		if !rig.holdSagas && len(sim.messages) > 0 {
			messages := sim.messages
			sim.messages = nil
			sim.router.Receive(messages)
		}
		sim.router.Tick(sim.now)
		sim.router.Flush()
	}
}

// do sends a request, settles and returns its reply, which must have come.
func (rig *cacheRig) do(client, session, number uint64, operation model.Operation,
	flags uint8, body []byte) backend.Reply {
	rig.t.Helper()
	connection, status := rig.send(client, session, number, operation, flags, body)
	if status != model.StatusOK {
		rig.t.Fatalf("request %d refused at once: %s", number, status)
	}
	rig.settle()
	reply, ok := rig.replies[connection]
	if !ok {
		rig.t.Fatalf("request %d not answered", number)
	}
	return reply
}

// accounts creates the rig's four accounts as client 1's request (session, number): a
// split request.
func (rig *cacheRig) accounts(session, number uint64) {
	rig.t.Helper()
	var body []byte
	for _, id := range []model.Uint128{rigA1, rigA2, rigB1, rigB2} {
		body = append(body, make([]byte, model.AccountSize)...)
		(&model.Account{ID: id, Ledger: 1, Code: 1}).Encode(body[len(body)-model.AccountSize:])
	}
	reply := rig.do(1, session, number, model.OperationCreateAccounts, 0, body)
	rig.wantResults(reply, model.EventResultSize, model.StatusOK, model.StatusOK,
		model.StatusOK, model.StatusOK)
}

// transfers encodes transfers of amount 1 on ledger 1, ids from firstID on.
func transfers(firstID uint64, pairs ...[2]model.Uint128) []byte {
	body := make([]byte, len(pairs)*model.TransferSize)
	for i, pair := range pairs {
		(&model.Transfer{ID: model.U128(firstID + uint64(i)), DebitAccountID: pair[0],
			CreditAccountID: pair[1], Amount: model.U128(1), Ledger: 1,
			Code: 1}).Encode(body[i*model.TransferSize:])
	}
	return body
}

// bigOnShardZero is a create_transfers body of count transfers between two accounts of
// shard 0 that do not exist: with reply flag balances, its reply is count × 144 bytes.
func bigOnShardZero(firstID uint64, count int) []byte {
	pairs := make([][2]model.Uint128, count)
	for i := range pairs {
		pairs[i] = [2]model.Uint128{model.U128(20), model.U128(21)}
	}
	return transfers(firstID, pairs...)
}

// wantResults checks an ok reply's per-event statuses.
func (rig *cacheRig) wantResults(reply backend.Reply, size int, statuses ...model.Status) {
	rig.t.Helper()
	if reply.Status != model.StatusOK || len(reply.Body) != len(statuses)*size {
		rig.t.Fatalf("request %d answered %s with %d bytes, want ok with %d results",
			reply.Number, reply.Status, len(reply.Body), len(statuses))
	}
	for i, want := range statuses {
		if got := eventStatus(reply.Body[i*size:]); got != want {
			rig.t.Fatalf("request %d, event %d: %s, want %s", reply.Number, i, got, want)
		}
	}
}

// credits returns an account's posted credits.
func (rig *cacheRig) credits(id model.Uint128) model.Uint128 {
	for _, s := range rig.sim.shards {
		for account := range s.machine.Ledger().Accounts() {
			if account.ID == id {
				return account.CreditsPosted
			}
		}
	}
	rig.t.Fatalf("account %s not found", id)
	return model.Uint128{}
}

// bigReplies sends two requests of client 1's session to shard 0 alone (pass-through)
// whose replies (1,179,216 bytes each) together exceed the 2 MiB a shard caches per
// session: shard 0 evicts every reply of the session it cached before them.
func (rig *cacheRig) bigReplies(session, firstNumber uint64) {
	rig.t.Helper()
	for i := range uint64(2) {
		reply := rig.do(1, session, firstNumber+i, model.OperationCreateTransfers,
			core.RequestFlagReplyBalances, bigOnShardZero(10_000*(firstNumber+i), model.EventsPerRequestMax))
		size := model.EventsPerRequestMax * model.EventResultBalancesSize
		if reply.Status != model.StatusOK || len(reply.Body) != size {
			rig.t.Fatalf("big request %d: %s, %d bytes", firstNumber+i, reply.Status, len(reply.Body))
		}
	}
}

// Question 1: a split request whose reply one shard evicted (it saw later requests of the
// session) and the other still caches. A resend is answered request_too_old, a final
// status (mergedStatus's rule 2, definite), with no body, however often it is resent:
// never outcome_unknown, which would make a client resend for ever; the shard that still
// caches its part answers it from the cache (not applied again), and the shard that
// evicted refuses it. PROTOCOL.md §7 tells the client what then holds: look the ids up,
// or send the events again under a new number, answered exists (the ledger's ids). The
// refusal carried shard 1's op until session 46 (hunt46b).
func TestSplitResendAfterOneShardEvictedItsReply(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	body := transfers(100, [2]model.Uint128{rigA1, rigA2}, [2]model.Uint128{rigB1, rigB2})
	reply := rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body)
	rig.wantResults(reply, model.EventResultSize, model.StatusOK, model.StatusOK)
	rig.bigReplies(1, 3)
	for attempt := range 3 {
		before := len(rig.parts)
		reply = rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body)
		// No op either: PROTOCOL.md section 3 gives aux (the op) 0 for every status but
		// ok, although shard 1 answered its part ok from its cache, with its op.
		if reply.Status != model.StatusRequestTooOld || len(reply.Body) != 0 || reply.Duplicate ||
			reply.Op != 0 {
			t.Fatalf("resend %d: %s (duplicate %v, %d bytes, op %d), want request_too_old "+
				"without a body or an op", attempt, reply.Status, reply.Duplicate,
				len(reply.Body), reply.Op)
		}
		for _, seen := range rig.parts[before:] {
			switch {
			case seen.shard == 0 && seen.reply.Status != model.StatusRequestTooOld,
				seen.shard == 1 && (seen.reply.Status != model.StatusOK || !seen.reply.Duplicate):
				t.Fatalf("resend %d: shard %d answered its part %s (duplicate %v)", attempt,
					seen.shard, seen.reply.Status, seen.reply.Duplicate)
			}
		}
		if len(rig.parts)-before != 2 {
			t.Fatalf("resend %d: %d part replies, want 2", attempt, len(rig.parts)-before)
		}
	}
	if rig.credits(rigA2) != model.U128(1) || rig.credits(rigB2) != model.U128(1) {
		t.Fatalf("credits %s and %s, want 1 each: a part was applied again",
			rig.credits(rigA2), rig.credits(rigB2))
	}
	reply = rig.do(1, 1, 5, model.OperationCreateTransfers, 0, body)
	rig.wantResults(reply, model.EventResultSize, model.StatusExists, model.StatusExists)
}

// Question 3: a cross-shard transfer's reply waits for its saga, so replies to later
// requests of the session overtake it (PROTOCOL.md §6, "Order", on a node of several
// shards), and those later requests' replies count in the debit shard's cache after the
// transfer's own although the client has them: with the transfer its only request
// without a reply (16 bytes of reply), a resend after more than 2 MiB of later replies is
// request_too_old. So §7 asks a client to keep within 2 MiB the replies of every request
// numbered from its oldest one without a reply on, answered or not (the Go client's
// rule), not only of the requests without one. The transfer is applied once; looking its
// id up finds nothing while the saga runs, and its events sent again under a new number
// wait for the saga and answer exists.
func TestCrossShardReplyOvertakenByLaterReplies(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	rig.holdSagas = true
	body := transfers(200, [2]model.Uint128{rigA1, rigB1})
	first, status := rig.send(1, 1, 2, model.OperationCreateTransfers, 0, body)
	if status != model.StatusOK {
		t.Fatalf("cross-shard transfer refused at once: %s", status)
	}
	rig.bigReplies(1, 3) // Answered while request 2 waits for its saga.
	if _, answered := rig.replies[first]; answered {
		t.Fatal("the cross-shard transfer was answered while its saga was held")
	}
	resend, _ := rig.send(1, 1, 2, model.OperationCreateTransfers, 0, body)
	rig.settle()
	if reply := rig.replies[resend]; reply.Status != model.StatusRequestTooOld {
		t.Fatalf("resend after the later replies: %s, want request_too_old", reply.Status)
	}
	// Looking the id up does not find the transfer while its saga runs (PROTOCOL.md §18:
	// once posted); its events sent again under a new number wait for the saga's result.
	lookup := make([]byte, model.IDSize)
	model.U128(200).PutLE(lookup)
	reply := rig.do(1, 1, 5, model.OperationLookupTransfers, 0, lookup)
	if reply.Status != model.StatusOK || len(reply.Body) != 0 {
		t.Fatalf("lookup while the saga runs: %s, %d bytes; want ok, nothing found", reply.Status,
			len(reply.Body))
	}
	again, _ := rig.send(1, 1, 6, model.OperationCreateTransfers, 0, body)
	rig.settle()
	if _, answered := rig.replies[again]; answered {
		t.Fatal("the events sent again were answered while the saga was held")
	}
	rig.holdSagas = false
	rig.settle()
	rig.wantResults(rig.replies[first], model.EventResultSize, model.StatusOK)
	rig.wantResults(rig.replies[again], model.EventResultSize, model.StatusExists)
	if rig.credits(rigB1) != model.U128(1) {
		t.Fatalf("credit account has %s, want 1", rig.credits(rigB1))
	}
}

// Question 3, the bug: a part the router holds after its shard refused it busy (the
// request's other part was queued, so the router resubmits it instead of answering busy)
// must be applied on its shard before any later request of the same session there. The
// client never saw that request refused, so it does not count it as applied late (§7:
// only a request answered busy, log_unavailable or outcome_unknown may be applied after
// later ones); applied after a later request, its reply sat in that shard's cache after
// the later one's, uncounted, and pushed it out. Here request 2's big part on shard 0 is
// held; request 3 (a cross-shard transfer, its saga held, so still without a reply)
// follows at once; request 4's reply fits with request 3's within 2 MiB as the client
// counts (from its oldest request without a reply), yet a resend of request 3 must still
// find its reply.
func TestHeldPartKeepsTheSessionOrderOnItsShard(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	// Request 2: one transfer on shard 1 (its part is submitted first), then
	// TransfersMax-1 on shard 0, whose part shard 0 refuses busy once.
	split := append(transfers(300, [2]model.Uint128{rigB1, rigB2}),
		bigOnShardZero(301, model.EventsPerRequestMax-1)...)
	rig.refuse[0] = 1
	second, status := rig.send(1, 1, 2, model.OperationCreateTransfers,
		core.RequestFlagReplyBalances, split)
	if status != model.StatusOK || rig.refuse[0] != 0 {
		t.Fatalf("request 2: %s, %d refusals left; want ok and its shard 0 part refused", status,
			rig.refuse[0])
	}
	rig.holdSagas = true
	cross := transfers(20_000, [2]model.Uint128{rigA1, rigB1})
	third, status := rig.send(1, 1, 3, model.OperationCreateTransfers, 0, cross)
	if status == model.StatusBusy {
		rig.settle() // A client resends a request refused busy.
		third, status = rig.send(1, 1, 3, model.OperationCreateTransfers, 0, cross)
	}
	if status != model.StatusOK {
		t.Fatalf("request 3: %s", status)
	}
	rig.settle()
	if reply := rig.replies[second]; reply.Status != model.StatusOK {
		t.Fatalf("request 2: %s", reply.Status)
	}
	if _, answered := rig.replies[third]; answered {
		t.Fatal("request 3 answered while its saga was held")
	}
	var opSecond, opThird uint64
	for _, seen := range rig.parts {
		switch {
		case seen.shard == 0 && seen.reply.Number == 2:
			opSecond = seen.reply.Op
		case seen.shard == 0 && seen.reply.Number == 3:
			opThird = seen.reply.Op
		}
	}
	if opSecond == 0 || opThird == 0 || opSecond > opThird {
		t.Errorf("shard 0 applied request 2's part at op %d and request 3 at op %d: the "+
			"part held busy came after a later request of its session", opSecond, opThird)
	}
	reply := rig.do(1, 1, 4, model.OperationCreateTransfers, core.RequestFlagReplyBalances,
		bigOnShardZero(40_000, model.EventsPerRequestMax))
	if reply.Status != model.StatusOK {
		t.Fatalf("request 4: %s", reply.Status)
	}
	resend, _ := rig.send(1, 1, 3, model.OperationCreateTransfers, 0, cross)
	rig.holdSagas = false
	rig.settle()
	if reply := rig.replies[resend]; reply.Status != model.StatusOK {
		t.Fatalf("resend of request 3 (its reply and request 4's within 2 MiB): %s", reply.Status)
	}
	rig.wantResults(rig.replies[resend], model.EventResultSize, model.StatusOK)
}

// The held parts of one session and shard are resubmitted in order: when the older one
// is refused busy again, the later one (of a split request whose other part was queued)
// stays held behind it instead of overtaking it on the shard.
func TestHeldPartsOfASessionKeepTheirOrderWhenRefusedAgain(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	rig.refuse[0] = 2 // Request 2's part on shard 0, and its first resubmission.
	for number := uint64(2); number <= 3; number++ {
		body := append(transfers(100*number, [2]model.Uint128{rigB1, rigB2}),
			transfers(100*number+1, [2]model.Uint128{rigA1, rigA2})...)
		_, status := rig.send(1, 1, number, model.OperationCreateTransfers, 0, body)
		if status != model.StatusOK {
			t.Fatalf("request %d: %s", number, status)
		}
	}
	rig.settle()
	ops := map[uint64]uint64{}
	for _, seen := range rig.parts {
		if seen.shard == 0 && seen.reply.Status == model.StatusOK {
			ops[seen.reply.Number] = seen.reply.Op
		}
	}
	if ops[2] == 0 || ops[3] == 0 || ops[2] > ops[3] {
		t.Fatalf("shard 0 applied request 2's part at op %d, request 3's at op %d: want 2 first",
			ops[2], ops[3])
	}
	for connection := uint64(1); connection <= rig.connection; connection++ {
		if reply, ok := rig.replies[connection]; ok && reply.Number > 1 {
			rig.wantResults(reply, model.EventResultSize, model.StatusOK, model.StatusOK)
		}
	}
}

// While a write's part is held for shard 0, a later write of the same session handed to
// shard 0 whole is refused busy at once (nothing queued; the client resends it and counts
// it as applied late), and applied after the held part once resent; writes of the same
// session to the other shard, another session's writes and reads go on.
func TestWritesOfASessionBehindAHeldPartAreRefusedBusy(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	rig.refuse[0] = 1
	split := append(transfers(200, [2]model.Uint128{rigB1, rigB2}),
		transfers(201, [2]model.Uint128{rigA1, rigA2})...)
	_, status := rig.send(1, 1, 2, model.OperationCreateTransfers, 0, split)
	if status != model.StatusOK {
		t.Fatalf("request 2: %s", status)
	}
	onA := transfers(300, [2]model.Uint128{rigA1, rigA2})
	_, status = rig.send(1, 1, 3, model.OperationCreateTransfers, 0, onA)
	if status != model.StatusBusy {
		t.Fatalf("a write of the session to shard 0 behind its held part: %s, want busy", status)
	}
	lookup := make([]byte, model.IDSize)
	rigA1.PutLE(lookup)
	for _, other := range []struct {
		session, number uint64
		operation       model.Operation
		body            []byte
	}{
		{1, 4, model.OperationCreateTransfers, transfers(400, [2]model.Uint128{rigB1, rigB2})},
		{2, 1, model.OperationCreateTransfers, transfers(500, [2]model.Uint128{rigA1, rigA2})},
		{1, 5, model.OperationLookupAccounts, lookup},
	} {
		_, status := rig.send(1, other.session, other.number, other.operation, 0, other.body)
		if status != model.StatusOK {
			t.Fatalf("session %d request %d (%s): %s, want ok", other.session, other.number,
				other.operation, status)
		}
	}
	rig.settle()
	reply := rig.do(1, 1, 3, model.OperationCreateTransfers, 0, onA)
	rig.wantResults(reply, model.EventResultSize, model.StatusOK)
	ops := map[uint64]uint64{}
	for _, seen := range rig.parts {
		if seen.shard == 0 && seen.reply.Session == 1 {
			ops[seen.reply.Number] = seen.reply.Op
		}
	}
	if ops[2] == 0 || ops[2] > reply.Op {
		t.Fatalf("shard 0 applied request 2's part at op %d, request 3 at op %d", ops[2], reply.Op)
	}
	if len(rig.sim.router.held) != 0 || rig.sim.router.holding.Load() != 0 {
		t.Fatalf("held parts left: %v", rig.sim.router.held)
	}
}

// Question 2: a resend is split exactly as the first attempt (split is a function of the
// map, fixed for a node's life, and the request's bytes), so after the router lost all
// its state (a node restart) each shard gets the same part under the same number and
// answers it from its cache. A number reused for another body is caught only by the
// shards that applied the number: a part for a shard that never saw it is applied there
// (a client bug, which PROTOCOL.md §7 and §18 describe as such).
func TestResendSplitsAlikeAndReusedNumbersPerShard(t *testing.T) {
	rig := newCacheRig(t, 0)
	rig.accounts(1, 1)
	body := transfers(100, [2]model.Uint128{rigA1, rigA2}, [2]model.Uint128{rigB1, rigB2})
	first := rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body)
	rig.wantResults(first, model.EventResultSize, model.StatusOK, model.StatusOK)
	restarted, err := New(rig.sim.router.config)
	if err != nil {
		t.Fatal(err)
	}
	rig.sim.router = restarted
	again := rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body)
	if !again.Duplicate || again.Op != first.Op || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("resend after a router restart: duplicate %v, op %d (first %d), same body %v",
			again.Duplicate, again.Op, first.Op, bytes.Equal(again.Body, first.Body))
	}
	// Request 3 goes to shard 0 alone; its number reused for a body on shard 1 alone
	// finds no trace of it there, and reused for a body on both is refused by shard 0
	// while shard 1 applies its part.
	rig.wantResults(rig.do(1, 1, 3, model.OperationCreateTransfers, 0,
		transfers(200, [2]model.Uint128{rigA1, rigA2})), model.EventResultSize, model.StatusOK)
	reused := rig.do(1, 1, 3, model.OperationCreateTransfers, 0,
		transfers(300, [2]model.Uint128{rigB1, rigB2}))
	rig.wantResults(reused, model.EventResultSize, model.StatusOK)
	rig.wantResults(rig.do(1, 1, 4, model.OperationCreateTransfers, 0,
		transfers(400, [2]model.Uint128{rigA1, rigA2})), model.EventResultSize, model.StatusOK)
	reused = rig.do(1, 1, 4, model.OperationCreateTransfers, 0,
		transfers(500, [2]model.Uint128{rigA1, rigA2}, [2]model.Uint128{rigB1, rigB2}))
	if reused.Status != model.StatusRequestNumberReused {
		t.Fatalf("number 4 reused over both shards: %s, want request_number_reused", reused.Status)
	}
	if got := rig.credits(rigB2); got != model.U128(3) {
		t.Fatalf("shard 1's account has %s of credits, want 3 (requests 2, 3 reused, 4 reused)", got)
	}
}

// Question 4: each shard's session table evicts on what it sees. Client 1's session 1
// stays busy on shard 1 but is the least recently used of client 1's sessions on shard 0
// (tables of 2 sessions), so shard 0 forgets it while a one-shard server would have
// forgotten session 2. A resend of a split request of session 1 is then answered from
// shard 1's cache and applied again on shard 0 as a new request: the ledger's ids answer
// exists, nothing moves twice (PROTOCOL.md §14: a forgotten session's retries rely on
// ids), and the merged reply is not flagged duplicate.
func TestSessionForgottenByOneShardOnly(t *testing.T) {
	rig := newCacheRig(t, 2)
	rig.accounts(1, 1)
	body := transfers(100, [2]model.Uint128{rigA1, rigA2}, [2]model.Uint128{rigB1, rigB2})
	rig.wantResults(rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body),
		model.EventResultSize, model.StatusOK, model.StatusOK)
	rig.wantResults(rig.do(1, 2, 1, model.OperationCreateTransfers, 0,
		transfers(200, [2]model.Uint128{rigA1, rigA2})), model.EventResultSize, model.StatusOK)
	rig.wantResults(rig.do(1, 1, 3, model.OperationCreateTransfers, 0,
		transfers(300, [2]model.Uint128{rigB1, rigB2})), model.EventResultSize, model.StatusOK)
	rig.wantResults(rig.do(1, 3, 1, model.OperationCreateTransfers, 0,
		transfers(400, [2]model.Uint128{rigA1, rigA2})), model.EventResultSize, model.StatusOK)
	reply := rig.do(1, 1, 2, model.OperationCreateTransfers, 0, body)
	rig.wantResults(reply, model.EventResultSize, model.StatusExists, model.StatusOK)
	if reply.Duplicate {
		t.Fatal("a resend applied again on shard 0 is flagged duplicate")
	}
	if rig.credits(rigA2) != model.U128(3) || rig.credits(rigB2) != model.U128(2) {
		t.Fatalf("credits %s and %s, want 3 and 2: a transfer moved twice", rig.credits(rigA2),
			rig.credits(rigB2))
	}
}

// TestSessionOrderPerShard drives one pipelined session (up to 8 requests without a
// reply) of random writes (on shard 0 alone, on shard 1 alone, split either way round,
// and cross-shard transfers) through shards that refuse a fifth of the submissions busy,
// with random shard turns, durability, saga messages and ticks. It checks what
// PROTOCOL.md §7's counting of the cached replies rests on: on each shard, a write of the
// session is applied after a later-numbered one only if the client saw it refused at
// once and resent it. At the end every request is answered, each transfer created once.
// Seeds 1 to -shardcache.seeds, or only -shardcache.seed; -shardcache.steps per seed.
func TestSessionOrderPerShard(t *testing.T) {
	first, last := uint64(1), uint64(*sessionOrderSeeds)
	if *sessionOrderSeed != 0 {
		first, last = *sessionOrderSeed, *sessionOrderSeed
	}
	for seed := first; seed <= last; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			runSessionOrder(t, seed, *sessionOrderSteps)
		})
	}
}

func runSessionOrder(t *testing.T, seed uint64, steps int) {
	rig := newSeededCacheRig(t, 0, seed)
	rig.accounts(1, 1)
	rig.busyPercent = 20
	rng := rig.sim.rng
	type request struct {
		body       []byte
		connection uint64
		due        bool // Refused at once: to resend.
		events     int
	}
	open := map[uint64]*request{}
	refused := map[uint64]bool{} // Numbers the client saw refused at once.
	credits := map[model.Uint128]uint64{}
	next, id := uint64(2), uint64(1_000)
	submit := func(number uint64) {
		r := open[number]
		connection, status := rig.send(1, 1, number, model.OperationCreateTransfers, 0, r.body)
		switch status {
		case model.StatusOK:
			r.connection, r.due = connection, false
		case model.StatusBusy:
			r.due, refused[number] = true, true
		default:
			t.Fatalf("seed %d: request %d refused with %s", seed, number, status)
		}
	}
	newRequest := func() {
		pairs := [][][2]model.Uint128{
			{{rigA1, rigA2}}, {{rigB1, rigB2}}, {{rigA1, rigA2}, {rigB1, rigB2}},
			{{rigB2, rigB1}, {rigA2, rigA1}}, {{rigA1, rigB1}},
		}[rng.IntN(5)]
		for _, pair := range pairs {
			credits[pair[1]]++
		}
		open[next] = &request{body: transfers(id, pairs...), events: len(pairs)}
		id += uint64(len(pairs))
		submit(next)
		next++
	}
	collect := func() {
		for _, number := range slices.Sorted(maps.Keys(open)) {
			r := open[number]
			reply, answered := rig.replies[r.connection]
			if r.due || !answered {
				continue
			}
			if reply.Status != model.StatusOK || len(reply.Body) != r.events*model.EventResultSize {
				t.Fatalf("seed %d: request %d answered %s", seed, number, reply.Status)
			}
			for i := range r.events {
				if status := eventStatus(reply.Body[i*model.EventResultSize:]); status != model.StatusOK {
					t.Fatalf("seed %d: request %d event %d: %s", seed, number, i, status)
				}
			}
			delete(open, number)
		}
	}
	for range steps {
		rig.sim.now += simMillisecond
		switch rng.IntN(6) {
		case 0:
			if len(open) < 8 {
				newRequest()
			}
		case 1:
			for _, number := range slices.Sorted(maps.Keys(open)) {
				if open[number].due {
					submit(number)
					break
				}
			}
		case 2:
			rig.sim.shards[rng.IntN(2)].turn()
		case 3:
			rig.sim.shards[rng.IntN(2)].makeDurable(false)
		case 4:
			messages := rig.sim.messages
			rig.sim.messages = nil
			rig.sim.router.Receive(messages)
		case 5:
			rig.sim.router.Tick(rig.sim.now)
			rig.sim.router.Flush()
		}
		collect()
	}
	rig.busyPercent = 0
	for round := 0; len(open) > 0; round++ {
		if round == 50 {
			t.Fatalf("seed %d: %d requests never answered", seed, len(open))
		}
		for _, number := range slices.Sorted(maps.Keys(open)) {
			if open[number].due {
				submit(number)
			}
		}
		rig.settle()
		collect()
	}
	for shard := range uint16(2) {
		highest := uint64(0)
		for _, seen := range rig.parts {
			reply := seen.reply
			if seen.shard != shard || reply.Session != 1 || reply.Number < 2 || reply.Duplicate {
				continue
			}
			if reply.Number < highest && !refused[reply.Number] {
				t.Fatalf("seed %d: shard %d applied request %d after request %d, and the "+
					"client never saw it refused", seed, shard, reply.Number, highest)
			}
			highest = max(highest, reply.Number)
		}
	}
	for account, want := range credits {
		if got := rig.credits(account); got != model.U128(want) {
			t.Fatalf("seed %d: account %s has %s of credits, want %d", seed, account, got, want)
		}
	}
}
