package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// resolvedEvent is what resolving one event leaves in the batch scratch for the apply.
type resolvedEvent struct {
	transferHash          uint64
	debitIndex, creditIdx uint32
	debit, credit         *accountRecord
}

func scratchOfOne(l *Ledger) resolvedEvent {
	s := &l.batch
	return resolvedEvent{transferHash: s.transferHash[0], debitIndex: s.debitIndex[0],
		creditIdx: s.creditIndex[0], debit: s.accounts[0].debit, credit: s.accounts[0].credit}
}

// TestResolveOneStagedMatchesStages holds resolveOneStaged, the straight-line resolution
// of a client's one-event batch, to the pipeline's three stages run on the same event:
// same transfer hash, account indexes and records, for accounts found, not found, found
// behind another account's matching tag (the candidate is wrong), and not found behind
// one, in tables of a few accounts and in an account table part-way through a migration
// (520 accounts, as in TestShortBatchesMatchPipeline), as the owner and as a grantee,
// with and without balances. The scratch is poisoned between the two so that neither can
// pass on what the other left.
func TestResolveOneStagedMatchesStages(t *testing.T) {
	for n, accountCount := range []int{12, 40, 520} {
		t.Run(fmt.Sprintf("accounts=%d", accountCount), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+71, accountCount, false, false)
			l := d.pipe
			if accountCount == 520 && l.accountIndex.old == nil {
				t.Fatal("the account table is not migrating: the old-table path is not reached")
			}
			poison := func() {
				s := &l.batch
				s.transferHash[0], s.debitHash[0], s.creditHash[0] = 1, 2, 3
				s.debitIndex[0], s.creditIndex[0] = 7, 7
				s.accounts[0] = accountPair{l.recordOf(0), l.recordOf(0)}
			}
			var found, missing, wrongCandidate int
			for step := range 4000 {
				event := d.clientTransfer()
				if step%16 == 0 && len(d.absent) > 0 {
					event.DebitAccountID = d.absent[step/16%len(d.absent)]
				}
				client := uint64(pipelineDiffOwner)
				if step%3 == 0 {
					client = pipelineDiffGrantee
				}
				l.actAs(client)
				l.resultBalances = step%2 == 0
				events := []model.Transfer{event}
				poison()
				l.resolveOneStaged(&events[0])
				got := scratchOfOne(l)
				poison()
				l.prefetchSlots(events, 0)
				l.prefetchRecords(events, 0)
				candidate := l.batch.debitIndex[0]
				l.confirmAccounts(events, 0)
				want := scratchOfOne(l)
				if got != want {
					t.Fatalf("step %d, event %+v: resolveOneStaged left %+v, the stages %+v",
						step, event, got, want)
				}
				switch {
				case want.debitIndex == indexNone:
					missing++
				case candidate != want.debitIndex:
					wrongCandidate++
				default:
					found++
				}
			}
			if found == 0 || missing == 0 || wrongCandidate == 0 {
				t.Errorf("debit accounts found %d, not found %d, found behind a wrong candidate %d: "+
					"a case is not reached", found, missing, wrongCandidate)
			}
		})
	}
}
