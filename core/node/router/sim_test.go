package router

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node/reconcile"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// The simulation runs a node's shards, router, transport and clients in one goroutine,
// step by step, with a seeded random source choosing every event and fault: so a failure
// replays exactly from its seed (TigerBeetle's VOPR, FoundationDB's simulation).

// simShard is a shard reduced to its rules: requests queue, a turn logs and applies them
// as one entry, outputs wait for the entry's durability, and a crash loses everything not
// durable.
type simShard struct {
	sim       *simulation
	index     uint16
	config    core.Config
	machine   *core.Machine
	log       []core.Entry // Appended entries, with private bodies.
	durable   int          // Entries durable (a prefix of log).
	queue     []backend.Request
	parked    []simParked
	timestamp uint64
	snapshot  []byte // Last snapshot (taken when everything was durable).
	snapOp    uint64
	snapLog   int // Entries covered by the snapshot.
}

type simParked struct {
	op       uint64
	replies  []backend.Reply
	messages []saga.Message
}

func (s *simShard) opLast() uint64 { return s.machine.OpLast() }

func (s *simShard) submit(request *backend.Request, internal bool) model.Status {
	if s.sim.faults && s.sim.rng.IntN(100) < s.sim.busyPercent {
		return model.StatusBusy
	}
	copied := *request
	copied.Body = bytes.Clone(request.Body)
	s.queue = append(s.queue, copied)
	_ = internal
	return model.StatusOK
}

// turn logs and applies up to 8 queued requests (reads answered after the entry).
func (s *simShard) turn() {
	if len(s.queue) == 0 {
		return
	}
	n := 1 + s.sim.rng.IntN(min(len(s.queue), 8))
	taken := s.queue[:n]
	s.queue = slices.Clone(s.queue[n:])
	var body []byte
	var writes, reads []backend.Request
	for _, request := range taken {
		if info, _ := request.Operation.Info(); info.Write {
			writes = append(writes, request)
			body = core.AppendRequest(body, &core.Request{Client: request.Client,
				Session: request.Session, Number: request.Number, Operation: request.Operation,
				Flags: request.Flags, Body: request.Body})
		} else {
			reads = append(reads, request)
		}
	}
	output := &core.Output{}
	if len(writes) > 0 {
		s.timestamp = max(s.timestamp+1, s.sim.now)
		entry := core.Entry{FirstOp: s.opLast() + 1, Timestamp: s.timestamp, Body: body}
		if err := s.machine.Apply(&entry, output); err != nil {
			s.sim.t.Fatalf("shard %d: apply: %v", s.index, err)
		}
		s.log = append(s.log, entry)
	}
	for _, request := range reads {
		s.machine.Query(&core.Request{Client: request.Client, Session: request.Session,
			Number: request.Number, Operation: request.Operation, Flags: request.Flags,
			Body: request.Body}, output)
	}
	parked := simParked{op: s.opLast(), messages: slices.Clone(output.Messages)}
	for i, request := range append(writes, reads...) {
		reply := &output.Replies[i]
		if request.Connection == 0 {
			continue
		}
		parked.replies = append(parked.replies, backend.Reply{Connection: request.Connection,
			Client: reply.Client, Session: reply.Session, Number: reply.Number,
			Operation: reply.Operation, Status: reply.Status, Op: reply.Op,
			Duplicate: reply.Duplicate, Body: bytes.Clone(output.Body(reply))})
	}
	s.parked = append(s.parked, parked)
}

// makeDurable makes a random prefix of the log durable (all of it when all is set) and
// releases what it covers, in order.
func (s *simShard) makeDurable(all bool) {
	if s.durable < len(s.log) {
		if all {
			s.durable = len(s.log)
		} else {
			s.durable += 1 + s.sim.rng.IntN(len(s.log)-s.durable)
		}
	}
	durableOp := s.snapOp
	if s.durable > 0 {
		entry := s.log[s.durable-1]
		count, _ := core.CountRequests(entry.Body)
		durableOp = entry.FirstOp + uint64(count) - 1
	}
	released := 0
	for released < len(s.parked) && s.parked[released].op <= durableOp {
		released++
	}
	outputs := s.parked[:released]
	s.parked = slices.Clone(s.parked[released:])
	for _, output := range outputs {
		router := s.sim.router
		if s.sim.observe != nil && len(output.replies) > 0 {
			s.sim.observe(s.index, output.replies)
		}
		if len(output.replies) > 0 {
			router.Deliver(s.index, output.replies)
		}
		router.Released(s.index, output.messages)
	}
	if s.durable == len(s.log) && len(s.parked) == 0 && s.sim.rng.IntN(4) == 0 {
		s.takeSnapshot()
	}
}

func (s *simShard) takeSnapshot() {
	var encoded bytes.Buffer
	if _, err := s.machine.Snapshot().WriteTo(&encoded); err != nil {
		s.sim.t.Fatal(err)
	}
	s.snapshot, s.snapOp, s.snapLog = encoded.Bytes(), s.opLast(), len(s.log)
}

// crash loses the queue, the unreleased outputs and the log's tail that was not durable,
// then recovers from the snapshot and the durable log.
func (s *simShard) crash() {
	s.queue, s.parked = nil, nil
	s.log = s.log[:s.durable]
	if s.snapshot != nil {
		machine, err := core.Restore(s.config, bytes.NewReader(s.snapshot))
		if err != nil {
			s.sim.t.Fatalf("shard %d: restore: %v", s.index, err)
		}
		s.machine = machine
	} else {
		s.machine = core.New(s.config)
	}
	start := 0
	if s.snapshot != nil {
		start = s.snapLog
	}
	for i := start; i < len(s.log); i++ {
		if err := s.machine.Apply(&s.log[i], &core.Output{}); err != nil {
			s.sim.t.Fatalf("shard %d: replay: %v", s.index, err)
		}
	}
	s.timestamp = max(s.timestamp, s.machine.Clock())
}

// simShards routes the router's submissions to the simulated shards.
type simShards struct{ sim *simulation }

func (s simShards) Submit(index uint16, request *backend.Request) model.Status {
	return s.sim.shards[index].submit(request, false)
}

func (s simShards) SubmitInternal(index uint16, request *backend.Request) model.Status {
	return s.sim.shards[index].submit(request, true)
}

// simTransport holds messages until the simulation delivers (maybe twice), or drops them.
type simTransport struct{ sim *simulation }

func (t simTransport) Send(messages []saga.Message) {
	t.sim.messages = append(t.sim.messages, messages...)
}

// simReplier hands client replies to the simulated clients.
type simReplier struct{ sim *simulation }

func (r simReplier) Deliver(replies []backend.Reply) {
	for _, reply := range replies {
		reply.Body = bytes.Clone(reply.Body)
		r.sim.clientReply(reply)
	}
}

func (r simReplier) DeliverReports([]backend.Report) {}

// simClient sends one request at a time and retries it until it gets a final answer.
type simClient struct {
	id       uint64
	next     uint64 // Next request number.
	inFlight *attempt
}

type attempt struct {
	number     uint64
	operation  model.Operation
	flags      uint8
	body       []byte
	transfers  []model.Transfer
	connection uint64
	sentAt     uint64
	due        bool // Resend at the next client step.
}

// finalReply is what a request number was answered with (status and body).
type finalReply struct {
	status model.Status
	body   []byte
}

// fataler is what the simulation reports failures to (a *testing.T, or a *rapid.T).
type fataler interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

type simulation struct {
	t           fataler
	rng         *rand.Rand
	placement   *shardmap.Map
	shards      []*simShard
	router      *Router
	messages    []saga.Message
	clients     []*simClient
	now         uint64
	faults      bool
	busyPercent int
	connection  uint64
	finals      map[[2]uint64]finalReply // (client, number) → the first final answer.
	expected    map[model.Uint128]*model.Balance
	accounts    []model.Uint128 // Every account created (fixed set).
	ownerOf     map[model.Uint128]uint64
	limited     map[model.Uint128]bool
	ledgerOf    map[model.Uint128]uint32
	transferID  uint64
	steps       int
	sagaTimeout uint64
	// promoted: newRouter builds a promoted standby's router (SagaTimeoutFromStep1).
	promoted bool
	outcomes map[model.Status]int // Final transfer results seen, by status.
	// observe, when set, sees every reply a shard releases, before the router does.
	observe func(shard uint16, replies []backend.Reply)
}

const simMillisecond = 1_000_000

func newSimulation(t *testing.T, seed uint64, shards int) *simulation {
	sim := &simulation{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		placement: shardmap.Hashed(shards), now: 1_000_000 * simMillisecond,
		finals: map[[2]uint64]finalReply{}, expected: map[model.Uint128]*model.Balance{},
		limited: map[model.Uint128]bool{}, ledgerOf: map[model.Uint128]uint32{},
		ownerOf:     map[model.Uint128]uint64{},
		outcomes:    map[model.Status]int{},
		busyPercent: 5, sagaTimeout: 60 * simMillisecond}
	for i := range shards {
		config := core.Config{Shard: core.ShardConfig{Map: sim.placement, Index: uint16(i)}}
		sim.shards = append(sim.shards, &simShard{sim: sim, index: uint16(i), config: config,
			machine: core.New(config)})
	}
	sim.newRouter()
	for i := range 4 {
		sim.clients = append(sim.clients, &simClient{id: uint64(i + 1), next: 1})
	}
	return sim
}

func (sim *simulation) newRouter() {
	router, err := New(Config{Map: sim.placement, Shards: simShards{sim}, Transport: simTransport{sim},
		Replier: simReplier{sim}, SagaResendAfter: 50 * simMillisecond,
		SagaTimeout: sim.sagaTimeout, OutboxInterval: 20 * simMillisecond,
		SagaTimeoutFromStep1: sim.promoted})
	if err != nil {
		sim.t.Fatal(err)
	}
	sim.router = router
}

// submit sends a client's attempt (again) under a fresh connection id.
func (sim *simulation) submit(client *simClient) {
	a := client.inFlight
	sim.connection++
	a.connection, a.sentAt, a.due = sim.connection, sim.now, false
	status := sim.router.Submit(&backend.Request{Connection: a.connection, Client: client.id,
		Session: 1, Number: a.number, Operation: a.operation, Flags: a.flags, Body: a.body})
	sim.router.Flush()
	if status != model.StatusOK {
		a.due = true // Refused at once (busy): nothing was queued.
	}
}

// clientReply takes a reply: a final one is checked against any earlier final answer to
// the same request and accounted once; an outcome-unknown one makes the client resend.
func (sim *simulation) clientReply(reply backend.Reply) {
	client := sim.clients[reply.Client-1]
	current := client.inFlight != nil && client.inFlight.connection == reply.Connection
	switch reply.Status {
	case model.StatusBusy, model.StatusInternalError, model.StatusShuttingDown,
		model.StatusNotPrimary, model.StatusOutcomeUnknown, model.StatusLogUnavailable:
		if current {
			client.inFlight.due = true
		}
		return
	case model.StatusOK:
	default:
		sim.t.Fatalf("step %d: request %d of client %d answered %s", sim.steps, reply.Number,
			reply.Client, reply.Status)
	}
	if client.inFlight != nil && client.inFlight.number == reply.Number {
		sim.checkNoProvisional(reply, client.inFlight.flags)
	}
	key := [2]uint64{reply.Client, reply.Number}
	if first, seen := sim.finals[key]; seen {
		if first.status != reply.Status || !bytes.Equal(first.body, reply.Body) {
			sim.t.Fatalf("step %d: request %d of client %d answered twice differently",
				sim.steps, reply.Number, reply.Client)
		}
	} else {
		sim.finals[key] = finalReply{reply.Status, reply.Body}
		if client.inFlight != nil && client.inFlight.number == reply.Number {
			sim.account(client.id, client.inFlight, reply.Body)
		}
	}
	if client.inFlight != nil && client.inFlight.number == reply.Number {
		client.inFlight = nil
	}
}

// checkNoProvisional fails if a saga's provisional result reached a client.
func (sim *simulation) checkNoProvisional(reply backend.Reply, flags uint8) {
	if reply.Operation != model.OperationCreateTransfers {
		return
	}
	size := model.EventResultSize
	if flags&core.RequestFlagReplyBalances != 0 {
		size = model.EventResultBalancesSize
	}
	for offset := 0; offset < len(reply.Body); offset += size {
		if status := eventStatus(reply.Body[offset:]); status.Provisional() {
			sim.t.Fatalf("step %d: a client got %s", sim.steps, status)
		}
	}
}

// account applies a final answer to the expected balances.
func (sim *simulation) account(client uint64, a *attempt, body []byte) {
	if a.operation == model.OperationLookupAccounts {
		sim.checkLookup(client, a, body)
		return
	}
	for i, t := range a.transfers {
		var result model.EventResult
		result.Decode(body[i*model.EventResultSize:])
		sim.outcomes[result.Status]++
		if result.Status != model.StatusOK {
			continue
		}
		sim.expected[t.DebitAccountID].DebitsPosted = sim.expected[t.DebitAccountID].DebitsPosted.MustAdd(t.Amount)
		sim.expected[t.CreditAccountID].CreditsPosted = sim.expected[t.CreditAccountID].CreditsPosted.MustAdd(t.Amount)
	}
}

// checkLookup checks a split lookup's merge: the accounts that exist and the client owns
// (it sees no other), in the order asked.
func (sim *simulation) checkLookup(client uint64, a *attempt, body []byte) {
	var want []model.Uint128
	for offset := 0; offset < len(a.body); offset += model.IDSize {
		id := model.Uint128LE(a.body[offset:])
		if _, ok := sim.expected[id]; ok && sim.ownerOf[id] == client {
			want = append(want, id)
		}
	}
	if len(body) != len(want)*model.AccountSize {
		sim.t.Fatalf("step %d: lookup of %d accounts found %d, want %d", sim.steps,
			len(a.body)/model.IDSize, len(body)/model.AccountSize, len(want))
	}
	for i, id := range want {
		if got := model.Uint128LE(body[i*model.AccountSize:]); got != id {
			sim.t.Fatalf("step %d: lookup result %d is account %s, want %s", sim.steps, i, got, id)
		}
	}
}

// grant queues a set_grants request with grants on every shard, ahead of what is sent
// after it (the server's own request: no connection, client 0).
func (sim *simulation) grant(grants []model.Grant) {
	body := model.AppendGrants(nil, grants)
	for _, s := range sim.shards {
		s.queue = append(s.queue, backend.Request{Operation: model.OperationSetGrants, Body: body})
	}
}

// setup creates the accounts (through the router: split requests; account i belongs to
// client i mod 4), without faults.
func (sim *simulation) setup(accounts int) {
	bodies := make([][]byte, len(sim.clients))
	var issuers []model.Grant
	for i := range accounts {
		id := model.U128(uint64(1000 + i))
		flags := uint16(0)
		if i%3 == 1 {
			flags = model.AccountDebitsMustNotExceedCredits
		}
		if i%5 == 4 {
			flags = model.AccountCreditsMustNotExceedDebits
		}
		ledger := uint32(1 + i%2)
		account := model.Account{ID: id, Ledger: ledger, Code: 1, Flags: flags}
		owner := i % len(sim.clients)
		body := append(bodies[owner], make([]byte, model.AccountSize)...)
		account.Encode(body[len(body)-model.AccountSize:])
		bodies[owner] = body
		sim.ownerOf[id] = sim.clients[owner].id
		if flags&model.AccountDebitsMustNotExceedCredits == 0 {
			// Without a transfer grant over it a client may not create an account that can
			// go negative (package ledger, "Ownership"): each owner gets one per account.
			issuers = append(issuers, model.Grant{Client: sim.clients[owner].id,
				Scopes: model.ScopeTransfer, Ledger: ledger, First: id, Last: id})
		}
		sim.accounts = append(sim.accounts, id)
		sim.expected[id] = &model.Balance{}
		sim.limited[id] = flags&model.AccountDebitsMustNotExceedCredits != 0
		sim.ledgerOf[id] = ledger
	}
	sim.grant(issuers)
	for i, client := range sim.clients {
		if len(bodies[i]) > 0 {
			sim.request(client, model.OperationCreateAccounts, 0, bodies[i], nil)
		}
	}
	sim.quiesce()
	for i, client := range sim.clients {
		final := sim.finals[[2]uint64{client.id, 1}]
		if len(bodies[i]) > 0 && final.status != model.StatusOK {
			sim.t.Fatalf("setup: accounts of client %d not created", client.id)
		}
		for offset := 0; offset < len(final.body); offset += model.EventResultSize {
			if status := eventStatus(final.body[offset:]); status != model.StatusOK {
				sim.t.Fatalf("setup: account %d of client %d: %s", offset/model.EventResultSize,
					client.id, status)
			}
		}
	}
}

// ownAccount picks one of the client's accounts.
func (sim *simulation) ownAccount(client *simClient) model.Uint128 {
	for {
		id := sim.accounts[sim.rng.IntN(len(sim.accounts))]
		if sim.ownerOf[id] == client.id {
			return id
		}
	}
}

// request starts a client request.
func (sim *simulation) request(client *simClient, operation model.Operation, flags uint8,
	body []byte, transfers []model.Transfer) {
	client.inFlight = &attempt{number: client.next, operation: operation, flags: flags,
		body: body, transfers: transfers}
	client.next++
	sim.submit(client)
}

// newRequest makes a random request for an idle client: mostly transfers (1 to 4, across
// shards, some refused on either side), sometimes a split lookup.
func (sim *simulation) newRequest(client *simClient) {
	if sim.rng.IntN(10) == 0 {
		var body []byte
		for range 1 + sim.rng.IntN(5) {
			id := sim.accounts[sim.rng.IntN(len(sim.accounts))]
			if sim.rng.IntN(4) == 0 {
				id = model.U128(uint64(9000 + sim.rng.IntN(50))) // Missing.
			}
			body = append(body, make([]byte, model.IDSize)...)
			id.PutLE(body[len(body)-model.IDSize:])
		}
		sim.request(client, model.OperationLookupAccounts, 0, body, nil)
		return
	}
	var transfers []model.Transfer
	for range 1 + sim.rng.IntN(4) {
		sim.transferID++
		debit := sim.ownAccount(client)
		if sim.rng.IntN(20) == 0 {
			// Someone else's (debit_account_not_owned, unless it is the client's own).
			debit = sim.accounts[sim.rng.IntN(len(sim.accounts))]
		}
		credit := sim.accounts[sim.rng.IntN(len(sim.accounts))]
		if sim.rng.IntN(12) == 0 {
			credit = model.U128(uint64(9000 + sim.rng.IntN(50))) // Missing: refused by its shard.
		}
		transfers = append(transfers, model.Transfer{ID: model.U128(sim.transferID),
			DebitAccountID: debit, CreditAccountID: credit,
			Amount: model.U128(uint64(1 + sim.rng.IntN(100))), Ledger: sim.ledgerOf[debit], Code: 1})
	}
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	sim.request(client, model.OperationCreateTransfers, 0, body, transfers)
}

// step runs one random event.
func (sim *simulation) step() {
	sim.steps++
	sim.now += uint64(sim.rng.IntN(3 * simMillisecond))
	switch choice := sim.rng.IntN(100); {
	case choice < 25:
		sim.shards[sim.rng.IntN(len(sim.shards))].turn()
	case choice < 50:
		sim.shards[sim.rng.IntN(len(sim.shards))].makeDurable(false)
	case choice < 70:
		sim.deliverMessage()
	case choice < 85:
		sim.clientStep(sim.clients[sim.rng.IntN(len(sim.clients))])
	case choice < 95:
		sim.router.Tick(sim.now)
	case !sim.faults:
	case choice < 97:
		sim.dropMessage()
	case choice < 99:
		// Crashes are rarer than their share of choices: recovering a machine costs ~15 ms.
		if sim.rng.IntN(2) == 0 {
			sim.crashShard(sim.rng.IntN(len(sim.shards)))
		}
	case sim.rng.IntN(4) == 0:
		sim.crashNode()
	}
	sim.checkInvariants()
}

func (sim *simulation) clientStep(client *simClient) {
	switch a := client.inFlight; {
	case a == nil:
		sim.newRequest(client)
	case a.due, sim.now-a.sentAt > 2_000*simMillisecond:
		sim.submit(client) // Refused, outcome unknown, or silent (its shard crashed).
	}
}

// deliverMessage delivers one message in flight, chosen at random (reordering); with
// faults, sometimes keeps a copy to deliver again (duplication).
func (sim *simulation) deliverMessage() {
	if len(sim.messages) == 0 {
		return
	}
	i := sim.rng.IntN(len(sim.messages))
	message := sim.messages[i]
	if !sim.faults || sim.rng.IntN(5) != 0 {
		sim.messages = slices.Delete(sim.messages, i, i+1)
	}
	sim.router.Receive([]saga.Message{message})
}

func (sim *simulation) dropMessage() {
	if len(sim.messages) > 0 {
		i := sim.rng.IntN(len(sim.messages))
		sim.messages = slices.Delete(sim.messages, i, i+1)
	}
}

func (sim *simulation) crashShard(index int) {
	sim.shards[index].crash()
	sim.router.ShardRestarted(uint16(index))
}

// crashNode crashes every shard and the router: its state, the messages in flight and
// the clients' connections are lost; clients resend what they had in flight.
func (sim *simulation) crashNode() {
	for _, s := range sim.shards {
		s.crash()
	}
	sim.messages = nil
	sim.newRouter()
	for _, client := range sim.clients {
		if client.inFlight != nil {
			client.inFlight.due = true
		}
	}
}

// checkInvariants runs after every step: per ledger, Σ debits = Σ credits over all
// shards (posted and pending); and for every settlement pair, the credit shard never
// debited more than the debit shard reserved (credits pending + posted), nor the debit
// shard posted more than the credit shard debited (reconcile.Check).
func (sim *simulation) checkInvariants() {
	if err := sim.reconcile().Check(false); err != nil {
		sim.t.Fatalf("step %d: %v", sim.steps, err)
	}
}

func (sim *simulation) reconcile() *reconcile.Reconciliation {
	machines := make([]*core.Machine, len(sim.shards))
	for i, s := range sim.shards {
		machines[i] = s.machine
	}
	return reconcile.Compute(machines)
}

// quiesce runs without faults until every request is answered, every saga final and
// every message delivered; a saga or request still open after the bound is stuck.
func (sim *simulation) quiesce() {
	faults := sim.faults
	sim.faults = false
	defer func() { sim.faults = faults }()
	for round := 0; round < 2_000; round++ {
		sim.now += 10 * simMillisecond
		for _, s := range sim.shards {
			s.turn()
			s.makeDurable(true)
		}
		for len(sim.messages) > 0 {
			sim.deliverMessage()
		}
		sim.router.Tick(sim.now)
		for _, client := range sim.clients {
			if a := client.inFlight; a != nil && (a.due || sim.now-a.sentAt > 2_000*simMillisecond) {
				sim.submit(client)
			}
		}
		sim.checkInvariants()
		if sim.idle() {
			return
		}
	}
	sim.t.Fatalf("not quiescent after 2,000 rounds: %s", sim.describe())
}

func (sim *simulation) idle() bool {
	for _, client := range sim.clients {
		if client.inFlight != nil {
			return false
		}
	}
	for _, s := range sim.shards {
		// Queues may hold the router's outbox polls: they change nothing.
		if s.machine.Sagas().Summary().Running > 0 {
			return false
		}
	}
	return len(sim.messages) == 0
}

func (sim *simulation) describe() string {
	var b bytes.Buffer
	for _, client := range sim.clients {
		if a := client.inFlight; a != nil {
			fmt.Fprintf(&b, "client %d request %d open; ", client.id, a.number)
		}
	}
	for _, s := range sim.shards {
		fmt.Fprintf(&b, "shard %d: %d queued, %d parked, %+v; ", s.index, len(s.queue),
			len(s.parked), s.machine.Sagas().Summary())
	}
	return b.String()
}

// checkFinal compares every account with the balances implied by the final answers,
// and checks that every settlement pair nets to zero.
func (sim *simulation) checkFinal() {
	for _, s := range sim.shards {
		for account := range s.machine.Ledger().Accounts() {
			if model.IsSystemID(account.ID) {
				continue
			}
			want := sim.expected[account.ID]
			if got := account.Balance(); got != *want {
				sim.t.Fatalf("account %s: balances %+v, the answers imply %+v", account.ID, got, *want)
			}
		}
	}
	if err := sim.reconcile().Check(true); err != nil {
		sim.t.Fatalf("after the quiet period: %v", err)
	}
}

// TestSimulation runs seeded simulations of 3 shards with every fault: busy rings, shard
// crashes (losing what was not durable), node crashes (losing the router and messages in
// flight), messages delayed, reordered, duplicated and dropped. After every step the
// ledgers balance across shards and no settlement pair is ahead of its debit shard; at the
// end, after a fault-free quiet period, every request has its final answer, no saga is
// stuck, every balance is what the answers imply (nothing lost, nothing twice) and every
// pair nets to zero. -sim.seeds and -sim.steps run more.
func TestSimulation(t *testing.T) {
	outcomes := map[model.Status]int{}
	defer func() {
		// The faults must have reached every outcome of a saga, or the run proved little.
		for _, status := range []model.Status{model.StatusOK, model.StatusSagaTimedOut,
			model.StatusCreditAccountNotFound, model.StatusExceedsDebits,
			model.StatusExceedsCredits, model.StatusDebitAccountNotOwned} {
			if outcomes[status] == 0 && !t.Failed() {
				t.Errorf("no transfer ended %s in %d seeds: %v", status, *simSeeds, outcomes)
			}
		}
	}()
	for seed := uint64(1); seed <= uint64(*simSeeds); seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			sim := newSimulation(t, seed, 3)
			sim.setup(24)
			sim.faults = true
			for range *simSteps {
				sim.step()
			}
			sim.quiesce()
			sim.checkFinal()
			for status, count := range sim.outcomes {
				outcomes[status] += count
			}
			if len(sim.finals) < 20 {
				t.Fatalf("only %d requests answered: the simulation did too little", len(sim.finals))
			}
		})
	}
}
