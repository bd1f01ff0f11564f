package core

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// twoShards places ids below 100 on shard 0 and the rest on shard 1.
var twoShards = shardmap.ByRange(model.U128(0), model.U128(100))

// pair is two machines of one node and the messages between them, moved by hand.
type pair struct {
	t      *testing.T
	shards [2]*harness
	number uint64
	actor  uint64        // The client of the requests p.client sends (session 1).
	grants []model.Grant // In force on both shards (issuers, see accounts).
}

// newPair starts both machines at the current rules version, as a fresh node's primaries
// do (their first entry is upgrade_rules).
func newPair(t *testing.T) *pair {
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
		p.shards[i].upgradeRules(RulesVersionCurrent)
	}
	return p
}

// accounts creates accounts (id → flags) on their shards.
func (p *pair) accounts(flags map[uint64]uint16) {
	// In id order: a map's order differs from run to run, and with it the accounts'
	// timestamps and the grant entries, so two pairs given the same accounts would
	// differ (TestReviewru45PayerBoundBitSkippedLeavesNoTrace compares two digests).
	for _, id := range slices.Sorted(maps.Keys(flags)) {
		flag := flags[id]
		if flag&model.AccountDebitsMustNotExceedCredits == 0 {
			p.mayIssue(id)
		}
		shard := twoShards.AccountShard(model.U128(id), 1)
		body := make([]byte, model.AccountSize)
		account := model.Account{ID: model.U128(id), Ledger: 1, Code: 1, Flags: flag}
		account.Encode(body)
		out := p.client(int(shard), model.OperationCreateAccounts, 0, body)
		if status := eventStatuses(p.t, out.Body(&out.Replies[0]))[0]; status != model.StatusOK {
			p.t.Fatalf("account %d: %s", id, status)
		}
	}
}

// mayIssue gives the actor a transfer grant over account id on both shards: a client
// may create an account that can go negative only with one (package ledger, "Ownership").
func (p *pair) mayIssue(id uint64) {
	p.t.Helper()
	p.grants = append(p.grants, model.Grant{Client: p.actor, Scopes: model.ScopeTransfer,
		Ledger: 1, First: model.U128(id), Last: model.U128(id)})
	for _, h := range p.shards {
		out := h.apply(Request{Operation: model.OperationSetGrants,
			Body: model.AppendGrants(nil, p.grants)})
		if out.Replies[0].Status != model.StatusOK {
			p.t.Fatalf("set_grants: %s", out.Replies[0].Status)
		}
	}
}

// client applies one client request on a shard.
func (p *pair) client(shard int, operation model.Operation, flags uint8, body []byte) *Output {
	p.t.Helper()
	p.number++
	return p.shards[shard].apply(Request{Client: p.actor, Session: 1, Number: p.number,
		Operation: operation, Flags: flags, Body: body})
}

// transfer sends one transfer to its debit shard and returns its result and messages.
func (p *pair) transfer(t model.Transfer) (model.TransferResult, []saga.Message) {
	p.t.Helper()
	shard := twoShards.AccountShard(t.DebitAccountID, 1)
	out := p.client(int(shard), model.OperationCreateTransfers, RequestFlagReplyBalances,
		transfersBody(t))
	var result model.TransferResult
	result.DecodeWithBalances(out.Body(&out.Replies[0]))
	return result, append([]saga.Message(nil), out.Messages...)
}

// deliver applies messages on their destination shards (credits and decisions) and
// returns what that produced.
func (p *pair) deliver(messages ...saga.Message) []saga.Message {
	p.t.Helper()
	var produced []saga.Message
	for _, message := range messages {
		var request Request
		switch message.Kind {
		case saga.MessageCredit:
			request = Request{Operation: model.OperationSagaCredit,
				Body: make([]byte, model.SagaCreditSize)}
			message.Credit.Encode(request.Body)
		case saga.MessageDecision:
			request = Request{Operation: model.OperationSagaFinish,
				Body: make([]byte, model.SagaDecisionSize)}
			message.Decision.Encode(request.Body)
		default:
			produced = append(produced, message)
			continue
		}
		out := p.shards[message.To].apply(request)
		if out.Replies[0].Status != model.StatusOK {
			p.t.Fatalf("saga step on shard %d: %s", message.To, out.Replies[0].Status)
		}
		produced = append(produced, out.Messages...)
	}
	return produced
}

// settle delivers messages until only Finished messages are left, and returns them.
func (p *pair) settle(messages []saga.Message) []saga.Message {
	for range 4 {
		pending := false
		for _, message := range messages {
			pending = pending || message.Kind != saga.MessageFinished
		}
		if !pending {
			return messages
		}
		messages = p.deliver(messages...)
	}
	p.t.Fatal("messages did not settle")
	return nil
}

func (p *pair) account(id uint64) model.Account {
	shard := twoShards.AccountShard(model.U128(id), 1)
	found := p.shards[shard].machine.Ledger().LookupAccounts([]model.Uint128{model.U128(id)}, nil)
	if len(found) != 1 {
		p.t.Fatalf("account %d missing", id)
	}
	return found[0]
}

// settlementNet returns credits posted on shard 0's S(0→1) minus debits posted on shard
// 1's, and shard 0's pending credits.
func (p *pair) settlementNet() (net int64, pending uint64) {
	id := saga.SettlementAccountID(0, 1, 1)
	lookup := func(shard int) model.Account {
		found := p.shards[shard].machine.Ledger().LookupAccounts([]model.Uint128{id}, nil)
		if len(found) == 0 {
			return model.Account{}
		}
		return found[0]
	}
	a, b := lookup(0), lookup(1)
	return int64(a.CreditsPosted.Lo) - int64(b.DebitsPosted.Lo), a.CreditsPending.Lo
}

func TestSagaCreatesACrossShardTransfer(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	result, messages := p.transfer(simpleTransfer(7, 1, 100, 30))
	if result.Status != model.StatusSagaInFlight || len(messages) != 1 ||
		messages[0].Kind != saga.MessageCredit || messages[0].To != 1 {
		t.Fatalf("step 1: %s, messages %+v", result.Status, messages)
	}
	if net, pending := p.settlementNet(); net != 0 || pending != 30 {
		t.Fatalf("after step 1: net %d, pending %d", net, pending)
	}
	finished := p.settle(messages)
	if len(finished) != 1 || finished[0].Finished.ID != model.U128(7) {
		t.Fatalf("finished: %+v", finished)
	}
	final := finished[0].Finished.Result
	if final.Status != model.StatusOK || final.Timestamp != result.Timestamp ||
		final.DebitAccount.DebitsPosted != model.U128(30) ||
		final.CreditAccount.CreditsPosted != model.U128(30) {
		t.Fatalf("final result %+v", final)
	}
	if a, b := p.account(1), p.account(100); a.DebitsPosted != model.U128(30) ||
		a.DebitsPending != (model.Uint128{}) || b.CreditsPosted != model.U128(30) {
		t.Fatalf("balances a %+v b %+v", a.Balance(), b.Balance())
	}
	if net, pending := p.settlementNet(); net != 0 || pending != 0 {
		t.Fatalf("after the saga: net %d, pending %d", net, pending)
	}
}

// The credit side refuses (limit, missing account, closed): step 1 is voided and the
// client gets the credit side's code; nothing moved.
func TestSagaCompensatesACreditSideRefusal(t *testing.T) {
	for _, test := range []struct {
		name   string
		credit uint64
		want   model.Status
	}{
		{"credits must not exceed debits", 101, model.StatusExceedsDebits},
		{"missing credit account", 199, model.StatusCreditAccountNotFound},
	} {
		p := newPair(t)
		p.accounts(map[uint64]uint16{1: 0, 101: model.AccountCreditsMustNotExceedDebits})
		result, messages := p.transfer(simpleTransfer(7, 1, test.credit, 30))
		if result.Status != model.StatusSagaInFlight {
			t.Fatalf("%s: step 1 %s", test.name, result.Status)
		}
		finished := p.settle(messages)
		if status := finished[0].Finished.Result.Status; status != test.want {
			t.Fatalf("%s: final %s, want %s", test.name, status, test.want)
		}
		if a := p.account(1); a.DebitsPosted != (model.Uint128{}) || a.DebitsPending != (model.Uint128{}) {
			t.Fatalf("%s: debit account kept %+v", test.name, a.Balance())
		}
		if net, pending := p.settlementNet(); net != 0 || pending != 0 {
			t.Fatalf("%s: net %d pending %d", test.name, net, pending)
		}
		// A retry of the id after the transient failure answers id_already_failed.
		if retry, _ := p.transfer(simpleTransfer(7, 1, test.credit, 30)); retry.Status !=
			model.StatusIDAlreadyFailed {
			t.Fatalf("%s: retry %s", test.name, retry.Status)
		}
	}
}

// The debit side refuses at once, with the local code, and starts nothing.
func TestSagaDebitSideRefusesAtOnce(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{2: model.AccountDebitsMustNotExceedCredits, 100: 0})
	tests := []struct {
		name     string
		transfer model.Transfer
		want     model.Status
	}{
		{"limit", simpleTransfer(1, 2, 100, 5), model.StatusExceedsCredits},
		{"missing debit", simpleTransfer(2, 3, 100, 5), model.StatusDebitAccountNotFound},
		{"pending across shards", with(simpleTransfer(3, 2, 100, 0), func(t *model.Transfer) {
			t.Flags = model.TransferPending
		}), model.StatusPendingTransferSpansShards},
		{"linked across shards", with(simpleTransfer(4, 2, 100, 0), func(t *model.Transfer) {
			t.Flags = model.TransferLinked
		}), model.StatusLinkedChainSpansShards},
		{"validation first", with(simpleTransfer(5, 2, 100, 0), func(t *model.Transfer) {
			t.Code = 0
		}), model.StatusCodeMustNotBeZero},
	}
	for _, test := range tests {
		result, messages := p.transfer(test.transfer)
		if result.Status != test.want || len(messages) != 0 {
			t.Errorf("%s: %s with %d messages, want %s", test.name, result.Status, len(messages),
				test.want)
		}
	}
}

func with(t model.Transfer, change func(*model.Transfer)) model.Transfer {
	change(&t)
	return t
}

// Copies of messages change nothing: a second credit gets the recorded decision, a
// second decision is ignored; an abort after the credit answers the credit.
func TestSagaMessagesAreIdempotent(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, credit := p.transfer(simpleTransfer(7, 1, 100, 30))
	decision := p.deliver(credit...)
	again := p.deliver(credit...)
	if len(again) != 1 || again[0].Decision != decision[0].Decision {
		t.Fatalf("a copy of the credit was decided anew: %+v vs %+v", again, decision)
	}
	abort := credit[0]
	abort.Credit.Abort = true
	if late := p.deliver(abort); late[0].Decision.Status != model.StatusOK {
		t.Fatalf("an abort after the credit: %s", late[0].Decision.Status)
	}
	finished := p.deliver(decision...)
	if copies := p.deliver(decision...); len(finished) != 1 || len(copies) != 0 {
		t.Fatalf("finished %d, a copy of the decision produced %d", len(finished), len(copies))
	}
	if b := p.account(100); b.CreditsPosted != model.U128(30) {
		t.Fatalf("credit account %+v", b.Balance())
	}
	if a := p.account(1); a.DebitsPosted != model.U128(30) {
		t.Fatalf("debit account %+v", a.Balance())
	}
}

// A timed-out saga asks the credit shard to refuse: once refused, a late credit copy
// stays refused and nothing moves.
func TestSagaAbort(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, credit := p.transfer(simpleTransfer(7, 1, 100, 30))
	abort := credit[0]
	abort.Credit.Abort = true
	decision := p.deliver(abort)
	if decision[0].Decision.Status != model.StatusSagaTimedOut {
		t.Fatalf("abort decided %s", decision[0].Decision.Status)
	}
	if late := p.deliver(credit...); late[0].Decision.Status != model.StatusSagaTimedOut {
		t.Fatalf("a credit after the abort: %s", late[0].Decision.Status)
	}
	finished := p.deliver(decision...)
	if finished[0].Finished.Result.Status != model.StatusSagaTimedOut {
		t.Fatalf("final %s", finished[0].Finished.Result.Status)
	}
	if b := p.account(100); b.CreditsPosted != (model.Uint128{}) {
		t.Fatalf("credited after an abort: %+v", b.Balance())
	}
	if retry, _ := p.transfer(simpleTransfer(7, 1, 100, 30)); retry.Status != model.StatusIDAlreadyFailed {
		t.Fatalf("retry after a timeout: %s", retry.Status)
	}
}

// Retries of a cross-shard transfer's id get a local transfer's answers.
func TestSagaRetries(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 2: 0, 100: 0, 101: 0})
	first, credit := p.transfer(simpleTransfer(7, 1, 100, 30))
	if running, _ := p.transfer(simpleTransfer(7, 1, 100, 30)); running.Status !=
		model.StatusSagaInFlightRetry || running.Timestamp != first.Timestamp {
		t.Fatalf("retry while running: %s", running.Status)
	}
	p.settle(credit)
	tests := []struct {
		name     string
		transfer model.Transfer
		want     model.Status
	}{
		{"identical", simpleTransfer(7, 1, 100, 30), model.StatusExists},
		{"other amount", simpleTransfer(7, 1, 100, 31), model.StatusExistsWithDifferentAmount},
		{"other credit account on the same shard", simpleTransfer(7, 1, 101, 30),
			model.StatusExistsWithDifferentCreditAccountID},
		{"a local transfer with the id", simpleTransfer(7, 1, 2, 30),
			model.StatusExistsWithDifferentCreditAccountID},
	}
	for _, test := range tests {
		if result, messages := p.transfer(test.transfer); result.Status != test.want ||
			len(messages) != 0 {
			t.Errorf("%s: %s, want %s", test.name, result.Status, test.want)
		}
	}
	// A cross-shard transfer reusing a local transfer's id is compared with it.
	p.transfer(simpleTransfer(8, 1, 2, 5))
	if result, _ := p.transfer(simpleTransfer(8, 1, 100, 5)); result.Status !=
		model.StatusExistsWithDifferentCreditAccountID {
		t.Fatalf("cross-shard reuse of a local id: %s", result.Status)
	}
}

// Balancing flags: the debit side clamps what it reserves, the credit side what it
// credits, and step 3 posts only what was credited.
func TestSagaBalancing(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 3: 0, 100: 0, 102: 0})
	// Fund account 3 with 50 credits (a local transfer) and let 102 owe 20 (debits).
	p.transfer(simpleTransfer(1, 1, 3, 50))
	p.transfer(simpleTransfer(2, 102, 100, 20))
	balanced := with(simpleTransfer(9, 3, 102, 1000), func(t *model.Transfer) {
		t.Flags = model.TransferBalancingDebit | model.TransferBalancingCredit
	})
	result, credit := p.transfer(balanced)
	if result.Status != model.StatusSagaInFlight || credit[0].Credit.Transfer.Amount != model.U128(50) {
		t.Fatalf("step 1: %s reserving %s", result.Status, credit[0].Credit.Transfer.Amount)
	}
	final := p.settle(credit)[0].Finished.Result
	if final.Status != model.StatusOK {
		t.Fatalf("final %s", final.Status)
	}
	if a, b := p.account(3), p.account(102); a.DebitsPosted != model.U128(20) ||
		a.DebitsPending != (model.Uint128{}) || b.CreditsPosted != model.U128(20) {
		t.Fatalf("balances %+v %+v", a.Balance(), b.Balance())
	}
	// lookup_transfers shows the client's transfer with what moved.
	out := p.client(0, model.OperationLookupTransfers, 0, idBody(9))
	var found model.Transfer
	found.Decode(out.Body(&out.Replies[0]))
	if found.CreditAccountID != model.U128(102) || found.Amount != model.U128(20) ||
		found.Flags != balanced.Flags {
		t.Fatalf("lookup shows %+v", found)
	}
}

// lookup_transfers hides a saga's step 1 until it is posted, and a voided one for good.
func TestSagaLookupAndOutbox(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, credit := p.transfer(simpleTransfer(7, 1, 100, 30))
	lookup := func() int {
		out := p.client(0, model.OperationLookupTransfers, 0, idBody(7))
		return len(out.Body(&out.Replies[0])) / model.TransferSize
	}
	if lookup() != 0 {
		t.Fatal("a running saga's transfer is visible")
	}
	outbox := p.shards[0].machine.Sagas().Outbox(0, nil)
	var summary saga.OutboxSummary
	summary.Decode(outbox)
	var listed saga.Credit
	listed.Decode(outbox[model.SagaOutboxSummarySize:])
	if summary != (saga.OutboxSummary{Next: 2, Lowest: 1, Running: 1}) ||
		len(outbox) != model.SagaOutboxSummarySize+model.SagaCreditSize ||
		listed != credit[0].Credit {
		t.Fatalf("outbox %+v, credit %+v", summary, listed)
	}
	p.settle(credit)
	if lookup() != 1 {
		t.Fatal("a posted saga's transfer is not visible")
	}
	if outbox := p.shards[0].machine.Sagas().Outbox(0, nil); len(outbox) != model.SagaOutboxSummarySize {
		t.Fatal("a final saga is still in the outbox")
	}
	states := p.shards[0].machine.Sagas().Lookup(p.shards[0].machine.Ledger(),
		[]model.Uint128{model.U128(7), model.U128(8)}, nil)
	var state saga.State
	state.Decode(states)
	if state.Phase != saga.PhaseFinal || state.Result.Status != model.StatusOK {
		t.Fatalf("saga_lookup %+v", state)
	}
	state.Decode(states[model.SagaStateSize:])
	if state.Phase != saga.PhaseUnknown {
		t.Fatalf("saga_lookup of an unknown id: %+v", state)
	}
}

// Forgetting drops the credit shard's decisions below the watermark; a late copy of a
// forgotten saga's credit is ignored instead of being decided again.
func TestSagaForget(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, credit := p.transfer(simpleTransfer(7, 1, 100, 30))
	p.settle(credit)
	if p.shards[1].machine.Sagas().Decisions() != 1 {
		t.Fatal("no decision kept")
	}
	body := make([]byte, model.SagaForgetSize)
	(&saga.Forget{From: 0, Below: 2}).Encode(body)
	p.shards[1].apply(Request{Operation: model.OperationSagaForget, Body: body})
	if p.shards[1].machine.Sagas().Decisions() != 0 {
		t.Fatal("the decision was not forgotten")
	}
	// A late copy is answered from the ledger (step 2's transfer), not decided again,
	// and the debit shard, whose saga is final, ignores the answer.
	late := p.deliver(credit...)
	if len(late) != 1 || late[0].Decision.Status != model.StatusOK ||
		late[0].Decision.Amount != model.U128(30) || p.shards[1].machine.Sagas().Decisions() != 0 {
		t.Fatalf("a forgotten credit: %+v", late)
	}
	if again := p.deliver(late...); len(again) != 0 {
		t.Fatalf("the answer to a forgotten credit finished something: %+v", again)
	}
	if b := p.account(100); b.CreditsPosted != model.U128(30) {
		t.Fatalf("credit account %+v", b.Balance())
	}
}

// A misplaced account is refused; get_shard_map answers the map.
func TestPlacement(t *testing.T) {
	p := newPair(t)
	p.mayIssue(105)
	out := p.client(1, model.OperationCreateAccounts, 0, accountsBody(5, 105))
	if statuses := eventStatuses(t, out.Body(&out.Replies[0])); statuses[0] !=
		model.StatusWrongShard || statuses[1] != model.StatusOK {
		t.Fatalf("statuses %v", statuses)
	}
	out = p.client(0, model.OperationGetShardMap, 0, nil)
	if !bytes.Equal(out.Body(&out.Replies[0]), twoShards.Encode()) {
		t.Fatal("get_shard_map does not answer the map")
	}
}

// A snapshot with running sagas and kept decisions restores to the same state, and the
// restored machines finish the saga as the originals do.
func TestSagaSnapshotRoundTrip(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	_, first := p.transfer(simpleTransfer(7, 1, 100, 30))
	_, second := p.transfer(simpleTransfer(8, 1, 100, 5))
	decisions := p.deliver(first...) // Shard 1 keeps a decision; shard 0 runs two sagas.
	for i, h := range p.shards {
		var encoded bytes.Buffer
		if _, err := h.machine.Snapshot().WriteTo(&encoded); err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(h.machine.config, &encoded)
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		if restored.Digest() != h.machine.Digest() {
			t.Fatalf("shard %d: the restored digest differs", i)
		}
		h.machine = restored
	}
	finished := p.settle(append(decisions, second...))
	if len(finished) != 2 || finished[0].Finished.Result.Status != model.StatusOK ||
		finished[1].Finished.Result.Status != model.StatusOK {
		t.Fatalf("after restore: %+v", finished)
	}
	if a := p.account(1); a.DebitsPosted != model.U128(35) {
		t.Fatalf("debit account %+v", a.Balance())
	}
	// A snapshot of shard 0 does not load as shard 1.
	var encoded bytes.Buffer
	p.shards[0].machine.Snapshot().WriteTo(&encoded)
	if _, err := Restore(p.shards[1].machine.config, &encoded); err == nil {
		t.Fatal("shard 0's snapshot loaded as shard 1")
	}
}

func idBody(id uint64) []byte {
	body := make([]byte, model.IDSize)
	model.U128(id).PutLE(body)
	return body
}

// Reads with client 0 are the server's own: internal operations (a router's saga reads)
// and client operations (the operators' console) are both answered; a client asking an
// internal operation is refused.
func TestQueryInternalReads(t *testing.T) {
	p := newPair(t)
	p.accounts(map[uint64]uint16{1: 0})
	query := func(client uint64, operation model.Operation, body []byte) model.Status {
		out := &Output{}
		p.shards[0].machine.Query(&Request{Client: client, Operation: operation, Body: body}, out)
		return out.Replies[0].Status
	}
	outbox := make([]byte, model.SagaOutboxQuerySize)
	if status := query(0, model.OperationSagaOutbox, outbox); status != model.StatusOK {
		t.Fatalf("saga_outbox from the server: %s", status)
	}
	if status := query(0, model.OperationLookupAccounts, idBody(1)); status != model.StatusOK {
		t.Fatalf("lookup_accounts from the server: %s", status)
	}
	if status := query(7, model.OperationSagaOutbox, outbox); status != model.StatusUnknownOperation {
		t.Fatalf("saga_outbox from a client: %s", status)
	}
}
