// Package reconcile computes the cross-shard picture of a node: per-ledger totals over
// every shard, each settlement pair's position, and the sagas in flight with their age,
// and checks the invariants of package node's doc. Compute works on machines nobody else
// uses (the simulation, `sequent wal verify` after replaying every shard); Gather asks
// the running shards of a node (the operators' GET /v1/reconcile, which `sequent
// reconcile` reads through tools/reconcile's Check seam). Pure and read-only.
package reconcile

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/saga"
)

// LedgerTotals are one ledger's sums over every account of every shard, exact: each is
// high·2^128 + low (model.WideSum), so totals past 2^128 over several shards are neither
// wrapped nor dropped. A sum past 2^192 cannot be held: the ledger is then marked
// overflowed, and Check reports it instead of comparing wrapped sums.
type LedgerTotals struct {
	Ledger                                                     uint32
	Accounts                                                   uint64
	DebitsPosted, CreditsPosted, DebitsPending, CreditsPending model.WideSum
	// overflowed is set when one of the sums passed 2^192 (its value is then wrong).
	overflowed bool
}

// add adds one shard's totals of the ledger (from get_ledger_totals: exact sums, with
// their high words).
func (t *LedgerTotals) add(shard *model.LedgerTotals) {
	t.Accounts += shard.Accounts
	t.addSum(&t.DebitsPosted, shard.DebitsPosted)
	t.addSum(&t.CreditsPosted, shard.CreditsPosted)
	t.addSum(&t.DebitsPending, shard.DebitsPending)
	t.addSum(&t.CreditsPending, shard.CreditsPending)
}

// addSum adds x to sum in 192 bits, noting a carry out of them: model.WideSum.AddSum
// assumes it cannot happen (true of any real node), but a shard's reply is read here,
// and a reconciliation must not pass by wrapping.
func (t *LedgerTotals) addSum(sum *model.WideSum, x model.WideSum) {
	var carry uint64
	sum.Low.Lo, carry = bits.Add64(sum.Low.Lo, x.Low.Lo, 0)
	sum.Low.Hi, carry = bits.Add64(sum.Low.Hi, x.Low.Hi, carry)
	sum.High, carry = bits.Add64(sum.High, x.High, carry)
	t.overflowed = t.overflowed || carry != 0
}

// Balanced reports whether debits equal credits, posted and pending (never for sums
// that overflowed).
func (t *LedgerTotals) Balanced() bool {
	return !t.overflowed && t.DebitsPosted == t.CreditsPosted && t.DebitsPending == t.CreditsPending
}

// SettlementPair is one ordered pair of shards on one ledger: what the debit shard's
// settlement account received (posted and still pending) and what the credit shard's
// paid out. Between sagas, Credited equals Debited and Pending is zero.
type SettlementPair struct {
	From, To uint16
	Ledger   uint32
	Credited model.Uint128 // Credits posted on From's S(From→To, Ledger).
	Pending  model.Uint128 // Credits pending there (sagas between steps 1 and 3).
	Debited  model.Uint128 // Debits posted on To's S(From→To, Ledger).
}

// RunningSaga is a saga still in flight, with when it started (its step 1's timestamp).
type RunningSaga struct {
	Shard     uint16
	Sequence  uint64
	Started   uint64 // Nanoseconds since the epoch (log time).
	Transfer  model.Uint128
	CreditsOn uint16 // The credit shard.
}

// Reconciliation is the cross-shard picture of a node.
type Reconciliation struct {
	Ledgers []LedgerTotals   // By ledger.
	Pairs   []SettlementPair // By debit shard, credit shard, ledger; only pairs in use.
	Running []RunningSaga    // By shard and sequence.
	// earlier is a reading taken just before this one (Gather), which Check compares the
	// pairs with; nil for a reading of one moment (Compute).
	earlier *Reconciliation
}

// Compute reconciles a node's machines (index = shard).
func Compute(machines []*core.Machine) *Reconciliation {
	r := &Reconciliation{}
	totals := map[uint32]*LedgerTotals{}
	pairs := map[[3]uint32]*SettlementPair{}
	for index, machine := range machines {
		for account := range machine.Ledger().Accounts() {
			addTotals(totals, account)
			addSettlement(pairs, uint16(index), account)
		}
		machine.Sagas().Running(func(c *saga.Credit) {
			r.Running = append(r.Running, runningSaga(uint16(index), c))
		})
	}
	r.collect(totals, pairs)
	return r
}

func runningSaga(shard uint16, c *saga.Credit) RunningSaga {
	return RunningSaga{Shard: shard, Sequence: c.Sequence, Started: c.Transfer.Timestamp,
		Transfer: c.Transfer.ID, CreditsOn: c.To}
}

// addSettlement records a settlement account found on shard index (others are skipped).
func addSettlement(pairs map[[3]uint32]*SettlementPair, index uint16, account *model.Account) {
	from, to, ledger, ok := saga.SettlementAccount(account.ID)
	if !ok {
		return
	}
	key := [3]uint32{uint32(from), uint32(to), ledger}
	pair := pairs[key]
	if pair == nil {
		pair = &SettlementPair{From: from, To: to, Ledger: ledger}
		pairs[key] = pair
	}
	if index == from {
		pair.Credited, pair.Pending = account.CreditsPosted, account.CreditsPending
	} else {
		pair.Debited = account.DebitsPosted
	}
}

// collect sorts the maps' contents into r.
func (r *Reconciliation) collect(totals map[uint32]*LedgerTotals,
	pairs map[[3]uint32]*SettlementPair) {
	for _, t := range totals {
		r.Ledgers = append(r.Ledgers, *t)
	}
	slices.SortFunc(r.Ledgers, func(a, b LedgerTotals) int { return cmp.Compare(a.Ledger, b.Ledger) })
	for _, p := range pairs {
		r.Pairs = append(r.Pairs, *p)
	}
	slices.SortFunc(r.Pairs, func(a, b SettlementPair) int {
		return cmp.Compare(pairKey(a.From, a.To, a.Ledger), pairKey(b.From, b.To, b.Ledger))
	})
}

// pairKey orders settlement pairs by (from, to, ledger); uint64 so that it holds the
// 64 bits on every platform.
func pairKey(from, to uint16, ledger uint32) uint64 {
	return uint64(from)<<48 | uint64(to)<<32 | uint64(ledger)
}

func addTotals(totals map[uint32]*LedgerTotals, a *model.Account) {
	t := totals[a.Ledger]
	if t == nil {
		t = &LedgerTotals{Ledger: a.Ledger}
		totals[a.Ledger] = t
	}
	// One balance adds at most 1 to a sum's High, which starts at 0 here (Compute's own
	// totals, never a shard's reply): it cannot pass 2^64 (model.WideSum), so the
	// overflow check of addSum has nothing to find.
	t.Accounts++
	t.DebitsPosted.Add(a.DebitsPosted)
	t.CreditsPosted.Add(a.CreditsPosted)
	t.DebitsPending.Add(a.DebitsPending)
	t.CreditsPending.Add(a.CreditsPending)
}

// Check returns the first broken invariant: a ledger whose debits and credits differ
// over all shards, a credit shard that paid out more than its debit shard reserved, or a
// debit shard that posted more than its credit shard paid out. With quiet set (no saga
// may be in flight) it also requires every pair to net to zero and no saga to run. A
// reading taken by Gather compares each pair's earlier reading with its later one: the
// credit shard's debits read first against the debit shard's reservation read later,
// and the debit shard's posts read first against the credit shard's debits read later.
func (r *Reconciliation) Check(quiet bool) error {
	for i := range r.Ledgers {
		t := &r.Ledgers[i]
		if t.overflowed {
			return fmt.Errorf("ledger %d: totals over the shards pass 2^192 and cannot be "+
				"compared", t.Ledger)
		}
		if !t.Balanced() {
			return fmt.Errorf("ledger %d: debits %s/%s (posted/pending) != credits %s/%s",
				t.Ledger, t.DebitsPosted, t.DebitsPending, t.CreditsPosted, t.CreditsPending)
		}
	}
	earlier := r
	if r.earlier != nil {
		earlier = r.earlier
	}
	for _, p := range r.Pairs {
		before := earlier.pair(p.From, p.To, p.Ledger)
		reserved := p.Credited.MustAdd(p.Pending)
		if reserved.Less(before.Debited) || p.Debited.Less(before.Credited) {
			return fmt.Errorf("settlement %d→%d ledger %d: credited %s (+%s pending) on %d, "+
				"debited %s on %d", p.From, p.To, p.Ledger, p.Credited, p.Pending, p.From,
				p.Debited, p.To)
		}
		if quiet && (p.Credited != p.Debited || !p.Pending.IsZero()) {
			return fmt.Errorf("settlement %d→%d ledger %d does not net to zero", p.From, p.To,
				p.Ledger)
		}
	}
	if quiet && len(r.Running) > 0 {
		oldest := r.Running[0].Started
		for _, s := range r.Running {
			oldest = min(oldest, s.Started)
		}
		return fmt.Errorf("%d sagas in flight, the oldest started at %d", len(r.Running), oldest)
	}
	return nil
}

// pair returns the pair's reading (zero when not in use then).
func (r *Reconciliation) pair(from, to uint16, ledger uint32) SettlementPair {
	for _, p := range r.Pairs {
		if p.From == from && p.To == to && p.Ledger == ledger {
			return p
		}
	}
	return SettlementPair{From: from, To: to, Ledger: ledger}
}
