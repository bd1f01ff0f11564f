package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"

	"sequent/core/model"
)

// check verifies the outcome: every acknowledged transfer is on the final primary, no
// transfer was applied twice (balances equal the sum of the transfers stored), and both
// replicas' logs replay to the same state.
func (d *drill) check(ctx context.Context) error {
	primary, standby := d.nodes[d.primary], d.nodes[1-d.primary]
	bounded, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	target, err := primary.status(bounded)
	if err != nil {
		return err
	}
	if err := standby.waitFor(bounded, "final catch-up", func(s status) bool {
		return s.durableOp() >= target.durableOp()
	}); err != nil {
		return err
	}
	if err := d.checkTransfers(bounded); err != nil {
		return err
	}
	primary.stop(stopTimeout)
	standby.stop(stopTimeout)
	return d.checkDigests()
}

func (d *drill) checkTransfers(ctx context.Context) error {
	l := d.load
	r := &d.report
	r.Sent, r.Acknowledged = len(l.sent), len(l.acknowledged)
	for status, count := range l.refused {
		r.Refused[status.String()] = count
	}
	ids := make([]model.Uint128, 0, len(l.sent))
	for id := range l.sent {
		ids = append(ids, model.U128(id))
	}
	stored := map[uint64]model.Transfer{}
	for start := 0; start < len(ids); start += model.EventsPerRequestMax {
		found, err := l.client.LookupTransfers(ctx, ids[start:min(start+model.EventsPerRequestMax, len(ids))])
		if err != nil {
			return err
		}
		for _, t := range found {
			stored[t.ID.Lo] = t
		}
	}
	var lostIDs []uint64
	for id := range l.acknowledged {
		if _, ok := stored[id]; !ok {
			r.Lost++
			lostIDs = append(lostIDs, id)
		}
	}
	if len(lostIDs) > 0 {
		slices.Sort(lostIDs)
		r.Problems = append(r.Problems, fmt.Sprintf(
			"%d acknowledged transfers missing, ids %d..%d, acknowledged at %s (kills at %v)",
			len(lostIDs), lostIDs[0], lostIDs[len(lostIDs)-1],
			l.acknowledged[lostIDs[0]].Format("15:04:05.000000"), d.kills))
	}
	return d.checkBalances(ctx, stored)
}

// checkBalances compares each account's posted balances with the sum of the stored
// transfers touching it: a transfer applied twice would show as a difference.
func (d *drill) checkBalances(ctx context.Context, stored map[uint64]model.Transfer) error {
	debits, credits := map[uint64]uint64{}, map[uint64]uint64{}
	for _, t := range stored {
		debits[t.DebitAccountID.Lo] += t.Amount.Lo
		credits[t.CreditAccountID.Lo] += t.Amount.Lo
	}
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

// checkDigests runs `sequent wal verify` on both stopped nodes and compares the replayed
// state digests and the chain hashes.
func (d *drill) checkDigests() error {
	var digests, chains []string
	for _, n := range d.nodes {
		output, err := exec.Command(d.config.Binary, "wal", "verify", n.data, "--json").Output()
		if err != nil {
			return fmt.Errorf("wal verify %s: %w: %s", n.name, err, output)
		}
		var verify struct {
			FinalDigest string `json:"final_digest"`
			LastChain   string `json:"last_chain"`
		}
		if err := json.Unmarshal(output, &verify); err != nil {
			return fmt.Errorf("wal verify %s: %w", n.name, err)
		}
		digests, chains = append(digests, verify.FinalDigest), append(chains, verify.LastChain)
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
	var rto, catchUp []float64
	for _, c := range d.report.CycleReports {
		rto, catchUp = append(rto, c.RTOMs), append(catchUp, c.CatchUpMs)
	}
	d.report.RTOMs, d.report.CatchUpMs = distribution(rto), distribution(catchUp)
	d.report.OK = d.report.Lost == 0 && d.report.Duplicated == 0 && d.report.DigestsEqual &&
		len(d.report.CycleReports) == d.config.Cycles
}

func distribution(values []float64) Distribution {
	if len(values) == 0 {
		return Distribution{}
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return Distribution{P50: sorted[(len(sorted)-1)/2], Max: sorted[len(sorted)-1]}
}
