package reconcile

import (
	"strings"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

var twoShards = shardmap.ByRange(model.U128(0), model.U128(100))

type node struct {
	t        *testing.T
	machines []*core.Machine
	ops      []uint64
	number   uint64
}

func newNode(t *testing.T) *node {
	n := &node{t: t, ops: make([]uint64, 2)}
	for i := range 2 {
		n.machines = append(n.machines, core.New(core.Config{Shard: core.ShardConfig{
			Map: twoShards, Index: uint16(i)}}))
		// Client 1 is the operator: its accounts may go negative (package ledger).
		n.apply(i, 0, model.OperationSetGrants, model.AppendGrants(nil,
			[]model.Grant{{Client: 1, Scopes: model.ScopeOperator}}))
	}
	return n
}

// apply applies one request on a shard and returns the messages it produced.
func (n *node) apply(shard int, client uint64, operation model.Operation, body []byte) []saga.Message {
	n.t.Helper()
	number := uint64(0)
	if client != 0 {
		n.number++
		number = n.number
	}
	out := &core.Output{}
	entry := core.Entry{FirstOp: n.ops[shard] + 1, Timestamp: 1_000_000 + n.number*1000 + n.ops[shard],
		Body: core.AppendRequest(nil, &core.Request{Client: client, Session: 1, Number: number,
			Operation: operation, Body: body})}
	if err := n.machines[shard].Apply(&entry, out); err != nil {
		n.t.Fatal(err)
	}
	n.ops[shard]++
	return out.Messages
}

func (n *node) account(shard int, id uint64) {
	body := make([]byte, model.AccountSize)
	(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body)
	n.apply(shard, 1, model.OperationCreateAccounts, body)
}

func credit(c saga.Credit) []byte {
	body := make([]byte, model.SagaCreditSize)
	c.Encode(body)
	return body
}

func TestReconcile(t *testing.T) {
	n := newNode(t)
	n.account(0, 1)
	n.account(1, 100)
	transfer := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(7), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(100), Amount: model.U128(30), Ledger: 1, Code: 1}).Encode(transfer)
	step1 := n.apply(0, 1, model.OperationCreateTransfers, transfer)
	r := Compute(n.machines)
	if err := r.Check(false); err != nil {
		t.Fatalf("after step 1: %v", err)
	}
	if err := r.Check(true); err == nil || len(r.Running) != 1 || r.Running[0].Transfer != model.U128(7) {
		t.Fatalf("a running saga passed the quiet check: %v, %+v", err, r.Running)
	}
	decision := n.apply(1, 0, model.OperationSagaCredit, credit(step1[0].Credit))
	if err := Compute(n.machines).Check(false); err != nil {
		t.Fatalf("after step 2: %v", err)
	}
	body := make([]byte, model.SagaDecisionSize)
	decision[0].Decision.Encode(body)
	n.apply(0, 0, model.OperationSagaFinish, body)
	r = Compute(n.machines)
	if err := r.Check(true); err != nil {
		t.Fatalf("after step 3: %v", err)
	}
	if len(r.Pairs) != 1 || r.Pairs[0].Credited != model.U128(30) || r.Pairs[0].Debited != model.U128(30) ||
		len(r.Ledgers) != 1 || r.Ledgers[0].DebitsPosted != (model.WideSum{Low: model.U128(60)}) {
		t.Fatalf("reconciliation %+v", r)
	}
	// A credit shard paying out a saga its debit shard never reserved (a forged message)
	// breaks the pair's invariant.
	forged := step1[0].Credit
	forged.Sequence = 2
	n.apply(1, 0, model.OperationSagaCredit, credit(forged))
	if err := Compute(n.machines).Check(false); err == nil || !strings.Contains(err.Error(), "settlement") {
		t.Fatalf("a credit without a reservation passed: %v", err)
	}
}

// machineReads is a Reader over the node's machines, as the system (core.Machine.Query);
// between reads it may run step, to show a reading spread over time.
type machineReads struct {
	n     *node
	reads int
	step  func(read int)
}

func (r *machineReads) Shards() int { return len(r.n.machines) }

func (r *machineReads) Query(index int, operation model.Operation, body []byte) (model.Status,
	[]byte, error) {
	r.reads++
	if r.step != nil {
		r.step(r.reads)
	}
	out := &core.Output{}
	r.n.machines[index].Query(&core.Request{Operation: operation, Body: body}, out)
	reply := &out.Replies[0]
	return reply.Status, append([]byte(nil), out.Body(reply)...), nil
}

// Gather, reading a quiet node through its shards' reads, finds what Compute finds over
// the machines, and its report shows it.
func TestGatherMatchesCompute(t *testing.T) {
	n := newNode(t)
	n.account(0, 1)
	n.account(1, 100)
	transfer := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(7), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(100), Amount: model.U128(30), Ledger: 1, Code: 1}).Encode(transfer)
	step1 := n.apply(0, 1, model.OperationCreateTransfers, transfer)
	gathered, err := Gather(&machineReads{n: n})
	if err != nil {
		t.Fatal(err)
	}
	computed := Compute(n.machines)
	if len(gathered.Ledgers) != 1 || gathered.Ledgers[0] != computed.Ledgers[0] ||
		len(gathered.Pairs) != 1 || gathered.Pairs[0] != computed.Pairs[0] ||
		len(gathered.Running) != 1 || gathered.Running[0] != computed.Running[0] {
		t.Fatalf("gathered %+v, computed %+v", gathered, computed)
	}
	report := gathered.Report(computed.Running[0].Started + 5_000_000)
	if !report.OK || report.Settled || len(report.Running) != 1 || report.Running[0].AgeMs != 5 ||
		report.Pairs[0].Pending != "30" || report.Ledgers[0].Accounts != 3 {
		t.Fatalf("report %+v", report)
	}
	decision := n.apply(1, 0, model.OperationSagaCredit, credit(step1[0].Credit))
	body := make([]byte, model.SagaDecisionSize)
	decision[0].Decision.Encode(body)
	n.apply(0, 0, model.OperationSagaFinish, body)
	if gathered, err = Gather(&machineReads{n: n}); err != nil {
		t.Fatal(err)
	}
	if report := gathered.Report(0); !report.OK || !report.Settled {
		t.Fatalf("settled node's report %+v", report)
	}
}

// A saga moving while Gather reads (its first two steps land after shard 0's settlement
// accounts were read and before shard 1's) breaks no invariant: each pair is checked
// across the two readings in the direction in which its sides move together. Checked as
// if taken at one moment, the first reading alone shows a credit shard that paid out
// more than its debit shard reserved.
func TestGatherAcrossAMovingSaga(t *testing.T) {
	n := newNode(t)
	n.account(0, 1)
	n.account(1, 100)
	transfer := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(7), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(100), Amount: model.U128(30), Ledger: 1, Code: 1}).Encode(transfer)
	// Reads of one round: totals of shard 0 and 1 (1, 2), then shard 0's settlement
	// accounts and running sagas (3, 4), then shard 1's (5, 6).
	reads := &machineReads{n: n, step: func(read int) {
		if read == 5 {
			step1 := n.apply(0, 1, model.OperationCreateTransfers, transfer)
			n.apply(1, 0, model.OperationSagaCredit, credit(step1[0].Credit))
		}
	}}
	gathered, err := Gather(reads)
	if err != nil {
		t.Fatal(err)
	}
	if err := gathered.Check(false); err != nil {
		t.Fatalf("a reading across a moving saga: %v", err)
	}
	if err := gathered.earlier.Check(false); err == nil {
		t.Fatal("the first reading alone passed: the test does not show what the two readings are for")
	}
}

// transferOn posts amount from debit to credit, two accounts of one shard.
func (n *node) transferOn(shard int, id, debit, credit uint64, amount model.Uint128) {
	n.t.Helper()
	body := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: amount, Ledger: 1, Code: 1}).Encode(body)
	n.apply(shard, 1, model.OperationCreateTransfers, body)
}

// Two shards each holding 2^127 + 1 of debits and credits on one ledger: the node's
// totals are 2^128 + 2 on each side, exact (not wrapped, not a panic), and balanced,
// whether read through the shards (Gather) or over the machines (Compute).
func TestTotalsPastTwoTo128OverTwoShards(t *testing.T) {
	n := newNode(t)
	half := model.Uint128{Hi: 1 << 63, Lo: 1}
	n.account(0, 1)
	n.account(0, 2)
	n.account(1, 100)
	n.account(1, 101)
	n.transferOn(0, 7, 1, 2, half)
	n.transferOn(1, 8, 100, 101, half)
	want := model.WideSum{Low: model.U128(2), High: 1}
	gathered, err := Gather(&machineReads{n: n})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Reconciliation{"gathered": gathered,
		"computed": Compute(n.machines)} {
		if len(r.Ledgers) != 1 || r.Ledgers[0].DebitsPosted != want ||
			r.Ledgers[0].CreditsPosted != want {
			t.Fatalf("%s: ledgers %+v, want debits and credits %s", name, r.Ledgers, want)
		}
		if err := r.Check(true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if report := r.Report(0); report.Ledgers[0].DebitsPosted != "340282366920938463463374607431768211458" {
			t.Fatalf("%s: report %+v", name, report.Ledgers[0])
		}
	}
}

// shiftedTotals is a Reader that adds to the high words of get_ledger_totals replies:
// debitsHigh to every shard's debits posted, creditsHigh to their credits posted.
type shiftedTotals struct {
	*machineReads
	debitsHigh, creditsHigh uint64
}

func (r *shiftedTotals) Query(index int, operation model.Operation, body []byte) (model.Status,
	[]byte, error) {
	status, reply, err := r.machineReads.Query(index, operation, body)
	if operation == model.OperationGetLedgerTotals {
		for offset := 0; offset+model.LedgerTotalsSize <= len(reply); offset += model.LedgerTotalsSize {
			var totals model.LedgerTotals
			totals.Decode(reply[offset:])
			totals.DebitsPosted.High += r.debitsHigh
			totals.CreditsPosted.High += r.creditsHigh
			totals.Encode(reply[offset:])
		}
	}
	return status, reply, err
}

// Sums that differ only in their high words are unbalanced (adding low words alone
// called them balanced), and sums past 2^192 are reported as such, not compared wrapped.
func TestTotalsHighWordsCount(t *testing.T) {
	n := newNode(t)
	n.account(0, 1)
	n.account(0, 2)
	n.account(1, 100)
	n.transferOn(0, 7, 1, 2, model.U128(5))
	gathered, err := Gather(&shiftedTotals{machineReads: &machineReads{n: n}, debitsHigh: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := gathered.Check(false); err == nil || !strings.Contains(err.Error(), "ledger 1: debits") {
		t.Fatalf("debits 2×2^128 + 5 against credits 5 passed: %v", err)
	}
	// Both sides' high words pass 2^64 over the two shards: equal after a wrap, but not
	// a total anyone can compare.
	gathered, err = Gather(&shiftedTotals{machineReads: &machineReads{n: n},
		debitsHigh: 1 << 63, creditsHigh: 1 << 63})
	if err != nil {
		t.Fatal(err)
	}
	err = gathered.Check(false)
	if err == nil || !strings.Contains(err.Error(), "pass 2^192") {
		t.Fatalf("totals past 2^192: %v", err)
	}
	if report := gathered.Report(0); report.OK || report.Ledgers[0].Balanced {
		t.Fatalf("report of totals past 2^192: %+v", report)
	}
}
