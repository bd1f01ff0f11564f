package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"

	"sequent/core/model"
	"sequent/core/node/reconcile"
)

// check verifies the outcome: every acknowledged transfer is on the final primary, no
// definitely refused one is, no transfer was applied twice (balances equal the sum of
// the transfers stored), and both replicas' logs replay to the same state.
func (d *drill) check(ctx context.Context) error {
	primary, standby := d.nodes[d.primary], d.nodes[1-d.primary]
	bounded, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	target, err := primary.status(bounded)
	if err != nil {
		return err
	}
	if err := standby.waitFor(bounded, "final catch-up", func(s status) bool {
		return s.caughtUp(&target)
	}); err != nil {
		return err
	}
	if err := d.checkTransfers(bounded); err != nil {
		return err
	}
	if err := d.checkShards(bounded, primary); err != nil {
		return err
	}
	primary.stop(stopTimeout)
	standby.stop(stopTimeout)
	return d.checkDigests()
}

func (d *drill) checkTransfers(ctx context.Context) error {
	debits, credits, err := d.checkStored(ctx, d.load.client.LookupTransfers)
	if err != nil {
		return err
	}
	return d.checkBalances(ctx, debits, credits)
}

// checkStored reads every id handed out back through lookup and compares what is stored
// with what each transfer's client was told: an acknowledged id must be stored (else
// lost), a definitely refused one must not be (else refused_but_stored: a client told
// "not applied" for a write that committed), an unknown one may be either. It returns
// the stored transfers' sums per account for checkBalances.
func (d *drill) checkStored(ctx context.Context,
	lookup func(context.Context, []model.Uint128) ([]model.Transfer, error)) (
	debits, credits map[uint64]uint64, err error) {
	l := d.load
	r := &d.report
	r.Sent, r.Acknowledged, r.Unknown = int(l.sentCount), l.acknowledged.count, l.unknown.count
	for status, count := range l.refused {
		r.Refused[status.String()] = count
	}
	// Read every id handed out back in lookup-sized runs, streaming: each stored transfer
	// must be the one the drill sent, it counts toward its accounts' expected balances,
	// and it must not be one whose client was told it was refused; an acknowledged id
	// that is not stored is lost.
	debits, credits = map[uint64]uint64{}, map[uint64]uint64{}
	ids := make([]model.Uint128, 0, model.EventsPerRequestMax)
	var lostIDs, refusedStoredIDs []uint64
	lostCount, refusedStoredCount, mismatched, firstMismatch := 0, 0, 0, ""
	for first := l.firstID + 1; first <= l.nextID; first += model.EventsPerRequestMax {
		last := min(first+model.EventsPerRequestMax-1, l.nextID)
		ids = ids[:0]
		for id := first; id <= last; id++ {
			ids = append(ids, model.U128(id))
		}
		found, err := lookup(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		next := 0 // Lookups answer in request order, omitting ids not found.
		for id := first; id <= last; id++ {
			if next < len(found) && found[next].ID.Lo == id {
				stored, want := found[next], l.transferFor(id)
				next++
				stored.Timestamp = 0
				if stored != want {
					if mismatched == 0 {
						firstMismatch = fmt.Sprintf("transfer %d stored as %+v, sent as %+v", id,
							stored, want)
					}
					mismatched++
				}
				if l.isRefused(id) {
					refusedStoredCount++
					if len(refusedStoredIDs) < lostIDsShownMax {
						refusedStoredIDs = append(refusedStoredIDs, id)
					}
				}
				debits[stored.DebitAccountID.Lo] += stored.Amount.Lo
				credits[stored.CreditAccountID.Lo] += stored.Amount.Lo
				continue
			}
			if l.isAcknowledged(id) {
				lostCount++
				if len(lostIDs) < lostIDsShownMax {
					lostIDs = append(lostIDs, id)
				}
			}
		}
		if next != len(found) {
			return nil, nil, fmt.Errorf("lookup of transfers %d..%d answered out of order",
				first, last)
		}
	}
	r.Lost, r.RefusedButStored = lostCount, refusedStoredCount
	if mismatched > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d stored transfers differ from what "+
			"was sent; the first: %s", mismatched, firstMismatch))
	}
	if lostCount > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf(
			"%d acknowledged transfers missing, first ids %v, the first acknowledged at %s "+
				"(kills at %v)", lostCount, lostIDs,
			l.acknowledgedAt(lostIDs[0]).Format("15:04:05.000000"), d.kills))
	}
	if refusedStoredCount > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf(
			"%d transfers stored although their client was told they were refused, first "+
				"ids %v, the first %s (kills at %v)", refusedStoredCount, refusedStoredIDs,
			describeRefusal(l, refusedStoredIDs[0]), d.kills))
	}
	return debits, credits, nil
}

// describeRefusal says what id's client was told and when, if the load kept it.
func describeRefusal(l *load, id uint64) string {
	r, kept := l.refusalOf(id)
	if !kept {
		return "refused (its status was not kept: more than refusalsKeptMax refusals)"
	}
	level := "event status"
	if r.requestLevel {
		level = fmt.Sprintf("request status, for batch %d..%d", r.firstID,
			r.firstID+r.count-1)
	}
	return fmt.Sprintf("refused %s (%s) at %s", r.status, level, r.at.Format("15:04:05.000000"))
}

// checkBalances compares each account's posted balances with the sum of the stored
// transfers touching it: a transfer applied twice would show as a difference.
func (d *drill) checkBalances(ctx context.Context, debits, credits map[uint64]uint64) error {
	ids := make([]model.Uint128, d.config.Accounts)
	for i := range ids {
		ids[i] = model.U128(uint64(i + 1))
	}
	accounts, err := d.load.client.LookupAccounts(ctx, ids)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if a.DebitsPosted.Lo != debits[a.ID.Lo] || a.CreditsPosted.Lo != credits[a.ID.Lo] {
			d.report.Duplicated++
			d.report.Problems = append(d.report.Problems, fmt.Sprintf(
				"account %s: debits %s credits %s, stored transfers sum to %d and %d",
				a.ID, a.DebitsPosted, a.CreditsPosted, debits[a.ID.Lo], credits[a.ID.Lo]))
		}
	}
	return nil
}

// checkShards waits (bounded) for the final primary's sagas to finish and records its
// cross-shard state: settlement pairs not netting to zero and sagas in flight (both must
// be zero once the load has stopped), and whether every invariant held.
func (d *drill) checkShards(ctx context.Context, primary *node) error {
	var report reconcile.Report
	err := retry(ctx, func() error {
		var err error
		if report, err = primary.reconcile(ctx, d.token); err != nil {
			return err
		}
		if !report.Settled {
			return fmt.Errorf("%d sagas in flight", len(report.Running))
		}
		return nil
	})
	if err != nil && report.Ledgers == nil {
		return fmt.Errorf("the final primary's cross-shard report: %w", err)
	}
	d.report.Reconciled, d.report.SagasInFlight = report.OK, len(report.Running)
	for _, pair := range report.Pairs {
		if !pair.Nets {
			d.report.SettlementUnsettled++
		}
	}
	if !report.OK {
		d.report.Problems = append(d.report.Problems, "cross-shard invariant: "+report.Problem)
	}
	if d.report.SagasInFlight > 0 || d.report.SettlementUnsettled > 0 {
		d.report.Problems = append(d.report.Problems, fmt.Sprintf("after the load: %d sagas "+
			"in flight, %d settlement pairs not netting to zero", d.report.SagasInFlight,
			d.report.SettlementUnsettled))
	}
	return nil
}

// checkDigests runs `sequent wal verify` on both stopped nodes and compares the replayed
// state digests and the chain hashes, shard by shard.
func (d *drill) checkDigests() error {
	var digests, chains []string
	for _, n := range d.nodes {
		output, err := exec.Command(d.config.Binary, "wal", "verify", n.data, "--json").Output()
		if err != nil {
			return fmt.Errorf("wal verify %s: %w: %s", n.name, err, output)
		}
		type verified struct {
			FinalDigest string `json:"final_digest"`
			LastChain   string `json:"last_chain"`
		}
		var verify struct {
			verified
			Shards []verified `json:"shards"` // A node of several shards.
		}
		if err := json.Unmarshal(output, &verify); err != nil {
			return fmt.Errorf("wal verify %s: %w", n.name, err)
		}
		if verify.Shards == nil {
			verify.Shards = []verified{verify.verified}
		}
		digest, chain := "", ""
		for _, shard := range verify.Shards {
			digest += shard.FinalDigest
			chain += shard.LastChain
		}
		digests, chains = append(digests, digest), append(chains, chain)
	}
	d.report.FinalDigest = digests[0]
	d.report.DigestsEqual = digests[0] == digests[1] && chains[0] == chains[1]
	if !d.report.DigestsEqual {
		d.report.Problems = append(d.report.Problems, fmt.Sprintf(
			"replicas differ: digests %s / %s, chains %s / %s", digests[0], digests[1],
			chains[0], chains[1]))
	}
	d.summarize()
	return nil
}

func (d *drill) summarize() {
	var rto, promoted, catchUp []float64
	for _, c := range d.report.CycleReports {
		rto, catchUp = append(rto, c.RTOMs), append(catchUp, c.CatchUpMs)
		promoted = append(promoted, c.PromotedMs)
	}
	d.report.RTOMs, d.report.CatchUpMs = distribution(rto), distribution(catchUp)
	d.report.PromotedMs = distribution(promoted)
	d.report.OK = d.report.Lost == 0 && d.report.RefusedButStored == 0 &&
		d.report.Duplicated == 0 && d.report.DigestsEqual &&
		len(d.report.CycleReports) == d.config.Cycles && len(d.report.Problems) == 0 &&
		d.report.Reconciled && d.report.SagasInFlight == 0 && d.report.SettlementUnsettled == 0
}

func distribution(values []float64) Distribution {
	if len(values) == 0 {
		return Distribution{}
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return Distribution{P50: sorted[(len(sorted)-1)/2], Max: sorted[len(sorted)-1]}
}
