package bench

import (
	"context"
	"fmt"
	"math"

	"sequent/core/model"
	"sequent/netio/client"
)

// InvariantReport is the final check of the ledger over the bench's own accounts.
type InvariantReport struct {
	OK       bool           `json:"ok"`       // Every check passed.
	Accounts int            `json:"accounts"` // Accounts read back.
	Ledgers  []LedgerTotals `json:"ledgers"`  // Totals over the bench's accounts.
	// TransfersAccounted is how many of the run's transfers the server reported created
	// (or, for requests without a reply, were found by lookup); the accounts' movement
	// must equal exactly what they add up to.
	TransfersAccounted uint64 `json:"transfers_accounted"`
	// UnknownOutcomes is how many transfers of requests without a reply were looked up.
	UnknownOutcomes uint64 `json:"unknown_outcomes"`
	// OrdersCanceled is how many open orders the final mass cancel closed.
	OrdersCanceled uint64 `json:"orders_canceled"`
	// Problems lists the first problemsMax failed checks; ProblemCount counts them all.
	Problems     []string `json:"problems"`
	ProblemCount int      `json:"problem_count"`
}

// LedgerTotals sums the four balances of the bench's accounts of one ledger (decimal
// strings: they are 128-bit).
type LedgerTotals struct {
	Ledger         uint32 `json:"ledger"`
	Accounts       int    `json:"accounts"`
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
}

// ledgerSums accumulates one ledger's totals.
type ledgerSums struct {
	ledger   uint32
	accounts int
	sum      model.Balance
	overflow bool
}

func (l *ledgerSums) add(b model.Balance) {
	var o1, o2, o3, o4 bool
	l.sum.DebitsPending, o1 = l.sum.DebitsPending.Add(b.DebitsPending)
	l.sum.DebitsPosted, o2 = l.sum.DebitsPosted.Add(b.DebitsPosted)
	l.sum.CreditsPending, o3 = l.sum.CreditsPending.Add(b.CreditsPending)
	l.sum.CreditsPosted, o4 = l.sum.CreditsPosted.Add(b.CreditsPosted)
	l.overflow = l.overflow || o1 || o2 || o3 || o4
	l.accounts++
}

// checker collects problems, bounded.
type checker struct {
	report *InvariantReport
}

func (c *checker) problem(format string, args ...any) {
	c.report.ProblemCount++
	if len(c.report.Problems) < problemsMax {
		c.report.Problems = append(c.report.Problems, fmt.Sprintf(format, args...))
	}
}

// verify settles what the load left open (requests without a reply, open orders), reads
// every account back and checks, per ledger, Σ debits = Σ credits (posted and pending)
// over the bench's accounts (they only move money among themselves and, for orders,
// through the instrument's escrow, which nets to zero once no order is open), and per
// account of the transfer workloads that its movement equals the transfers the server
// reported created.
func (r *run) verify(ctx context.Context, clients []*client.Client, workers []*worker,
	before [][]model.Balance) InvariantReport {
	report := InvariantReport{Problems: []string{}}
	check := checker{report: &report}
	r.barrier(ctx, workers, &check)
	r.resolveUnknown(ctx, clients[0], workers, &check)
	if r.config.Mix.Has(KindOrders) {
		r.cancelOpenOrders(ctx, clients[0], &check)
	}
	r.config.hooks.run(r.config.hooks.beforeVerify)
	sums := map[uint32]*ledgerSums{}
	var ledgers []uint32
	sets := r.accountSets()
	for i := range sets {
		set := &sets[i]
		if sums[set.ledger] == nil {
			sums[set.ledger] = &ledgerSums{ledger: set.ledger}
			ledgers = append(ledgers, set.ledger)
		}
		err := readAccounts(ctx, clients[0], set, func(index int, account *model.Account) {
			after := account.Balance()
			sums[set.ledger].add(after)
			r.checkAccount(&check, set, index, &before[i][index], &after)
		})
		if err != nil {
			check.problem("read back: %v", err)
		}
		report.Accounts += set.count
	}
	for _, ledger := range ledgers {
		report.Ledgers = append(report.Ledgers, checkLedger(&check, sums[ledger]))
	}
	if r.expected != nil {
		report.TransfersAccounted = r.expected.transfers.Load()
	}
	report.OK = report.ProblemCount == 0
	return report
}

// checkLedger checks Σ debits = Σ credits and returns the ledger's totals.
func checkLedger(check *checker, l *ledgerSums) LedgerTotals {
	s := &l.sum
	switch {
	case l.overflow:
		check.problem("ledger %d: the balances' sum overflows 128 bits", l.ledger)
	case s.DebitsPosted != s.CreditsPosted:
		check.problem("ledger %d: Σ debits_posted %s ≠ Σ credits_posted %s over %d accounts",
			l.ledger, s.DebitsPosted, s.CreditsPosted, l.accounts)
	case s.DebitsPending != s.CreditsPending:
		check.problem("ledger %d: Σ debits_pending %s ≠ Σ credits_pending %s over %d accounts",
			l.ledger, s.DebitsPending, s.CreditsPending, l.accounts)
	}
	return LedgerTotals{Ledger: l.ledger, Accounts: l.accounts,
		DebitsPending: s.DebitsPending.String(), DebitsPosted: s.DebitsPosted.String(),
		CreditsPending: s.CreditsPending.String(), CreditsPosted: s.CreditsPosted.String()}
}

// checkAccount compares one account's movement with what the run accounts for.
func (r *run) checkAccount(check *checker, set *accountSet, index int, before,
	after *model.Balance) {
	id := set.id(index)
	if set.holds && !after.DebitsPending.IsZero() {
		check.problem("account %s: %s still held after every order was canceled", id,
			after.DebitsPending)
	}
	if !set.expected {
		return
	}
	e := r.expected
	fields := [4]struct {
		name           string
		before, after  model.Uint128
		expectedChange int64
	}{
		{"debits_pending", before.DebitsPending, after.DebitsPending,
			e.debitsPending[index].Load()},
		{"debits_posted", before.DebitsPosted, after.DebitsPosted, e.debitsPosted[index].Load()},
		{"credits_pending", before.CreditsPending, after.CreditsPending,
			e.creditsPending[index].Load()},
		{"credits_posted", before.CreditsPosted, after.CreditsPosted,
			e.creditsPosted[index].Load()},
	}
	for _, f := range fields {
		change, ok := difference(f.after, f.before)
		if !ok || change != f.expectedChange {
			check.problem("account %s: %s moved from %s to %s; the run's transfers account "+
				"for a change of %d", id, f.name, f.before, f.after, f.expectedChange)
		}
	}
}

// difference returns after − before if it fits in an int64.
func difference(after, before model.Uint128) (int64, bool) {
	if !after.Less(before) {
		d := after.MustSub(before)
		return int64(d.Lo), d.Hi == 0 && d.Lo <= math.MaxInt64
	}
	d := before.MustSub(after)
	return -int64(d.Lo), d.Hi == 0 && d.Lo <= math.MaxInt64
}

// barrier waits, on each connection that may still have a request of the run on its way
// to the server, for the replies to later lookups, one on each shard the run's requests
// went to: the server handles the requests one connection hands whole to a shard in the
// order sent (PROTOCOL.md section 6), so a request that reached it has been applied by
// then, and the lookups and the read-back below, on the setup's connection, see it.
//
// A request may be on its way whenever its outcome is unknown, not only when it was
// abandoned at the drain deadline: an interrupt ends the callers' calls at once (their
// context is the load's), and the client ends a call it gave up on, each with its copy
// possibly still unread by the server (TestInterruptedCallsBarrierPrecedesLookup). Replies
// are never the problem: the server sends a reply once its request is applied, and the
// check starts after every worker has taken its last one. What the barrier does not wait
// for (a write part the node holds after a busy refusal, which a read does not queue
// behind; a cross-shard transfer whose saga is still running, which lookup_transfers
// finds only once posted) can only show as a problem, never hide one: a transfer applied
// after its lookup moves balances the check did not account for.
func (r *run) barrier(ctx context.Context, workers []*worker, check *checker) {
	accounts := r.barrierAccounts()
	done := map[*client.Client]bool{} // The callers of one connection share its client.
	for i, w := range workers {
		if w.inDoubt == 0 {
			continue
		}
		if w.wire != nil {
			if err := w.wire.barrier(ctx, accounts); err != nil {
				check.problem("connection %d: no reply after requests of unknown outcome: %v",
					i%r.config.Connections, err)
			}
			continue
		}
		if done[w.client] {
			continue
		}
		done[w.client] = true
		if err := r.clientBarrier(ctx, w.client, accounts); err != nil {
			check.problem("connection %d: no reply after requests of unknown outcome: %v",
				i%r.config.Connections, err)
		}
	}
}

// barrierAccounts returns one of the run's accounts on each shard that holds any: each
// lookup of one account is handed whole to its shard.
func (r *run) barrierAccounts() []model.Uint128 {
	sets := r.accountSets()
	if len(sets) == 0 {
		return nil
	}
	if r.shardOf == nil || !r.config.Mix.hasTransfers() {
		return []model.Uint128{sets[0].id(0)}
	}
	var accounts []model.Uint128
	seen := map[uint16]bool{}
	for index, shard := range r.shardOf {
		if !seen[shard] {
			seen[shard] = true
			accounts = append(accounts, sets[0].id(index))
		}
	}
	return accounts
}

// clientBarrier is the barrier on a client's connection: a lookup of each account, and
// for orders of the instrument (on its shard), one after the other.
func (r *run) clientBarrier(ctx context.Context, c *client.Client,
	accounts []model.Uint128) error {
	for _, account := range accounts {
		if _, err := c.LookupAccounts(ctx, []model.Uint128{account}); err != nil {
			return err
		}
	}
	if r.config.Mix.Has(KindOrders) {
		if _, err := c.LookupInstruments(ctx, []uint32{r.ids.instrument}); err != nil {
			return err
		}
	}
	return nil
}

// resolveUnknown looks up the transfers of requests that got no reply (abandoned, or the
// connection failed for good) and accounts for those that exist.
func (r *run) resolveUnknown(ctx context.Context, c *client.Client, workers []*worker,
	check *checker) {
	var unknown []eventMeta
	for i, w := range workers {
		if w.overflow {
			check.problem("connection %d: more than %d transfers without a reply: the "+
				"run cannot account for them all", i, unknownEventsMax)
		}
		unknown = append(unknown, w.unknown...)
	}
	check.report.UnknownOutcomes = uint64(len(unknown))
	if len(unknown) == 0 {
		return
	}
	ids := make([]model.Uint128, len(unknown))
	for i := range unknown {
		ids[i] = unknown[i].id
	}
	transfers, err := c.LookupTransfers(ctx, ids)
	if err != nil {
		check.problem("lookup of transfers without a reply: %v", err)
		return
	}
	found := make(map[model.Uint128]bool, len(transfers))
	for i := range transfers {
		found[transfers[i].ID] = true
	}
	for i := range unknown {
		if found[unknown[i].id] {
			r.expected.apply(&unknown[i])
			r.expected.transfers.Add(1)
		}
	}
}

// cancelOpenOrders closes every open order of the bench's traders on its instrument, so
// that every hold is released before the read-back.
func (r *run) cancelOpenOrders(ctx context.Context, c *client.Client, check *checker) {
	cancels := make([]model.MassCancel, r.config.Accounts)
	for trader := range cancels {
		cancels[trader] = model.MassCancel{
			ClientOrderID: r.ids.massCancelOrderID(uint32(trader)),
			Account:       tradingAccount(uint32(trader)), Instrument: r.ids.instrument}
	}
	results, err := c.MassCancel(ctx, cancels)
	if err != nil {
		check.problem("final mass cancel: %v", err)
		return
	}
	for i := range results {
		if results[i].Status != model.StatusOK {
			check.problem("final mass cancel of trader %d: %s", i, results[i].Status)
		}
		check.report.OrdersCanceled += uint64(results[i].CanceledCount)
	}
}
