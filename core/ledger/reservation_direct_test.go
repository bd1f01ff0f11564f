package ledger

import (
	"fmt"
	"reflect"
	"testing"

	"sequent/core/model"
)

// TestChangeSystemReservationMatchesBatch is a differential test of
// ChangeSystemReservation, the matching engine's direct path for a lone reservation
// change, against CreateSystemTransfers of a batch of that one event. Two ledgers start
// alike (newPipelineDiff: accounts with every balance-limit flag, two ledgers, an
// escrow each); seeded random steps apply to both either the same batch through the
// public entry (client transfers, closing transfers, the engine's chains of
// reservation, fill, payout and release, so that balances, limits and closed accounts
// change under the reservations), or one lone reservation event: a reserve (sometimes
// beyond what the account may owe) or a release of part or all of what the account
// reserves, through the direct path on one ledger and the batch on the other. Statuses,
// change events (none for a reservation), the ledger digest (balances and reserved
// totals), the risk state and CheckReservations must agree after every step, and the
// lone events must reach the refusals a reserve can meet.
func TestChangeSystemReservationMatchesBatch(t *testing.T) {
	steps := 1500
	if testing.Short() {
		steps = 400
	}
	statuses := map[model.Status]int{}
	for n, accounts := range []int{12, 40, 300} {
		t.Run(fmt.Sprintf("accounts=%d", accounts), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+401, accounts, n == 1, true)
			d.reference = (*Ledger).createTransfersPipelined
			releases := 0
			for step := range steps {
				label := fmt.Sprintf("step %d", step)
				switch choice := d.random.IntN(6); {
				case choice == 0:
					d.step(label, 1+d.random.IntN(4))
				case choice == 1:
					d.apply(label, 1, d.engineChain(2+d.random.IntN(3)), 0, true)
				default:
					event := d.engineChain(1)[0] // A lone reserve, unlinked.
					if reserved := d.pipe.Reserved(event.DebitAccountID); choice >= 4 &&
						!reserved.IsZero() {
						event.Flags = SystemRelease
						event.Amount = model.U128(1 + d.random.Uint64N(reserved.Lo))
						releases++
					}
					status := d.lone(label, event)
					statuses[status]++
				}
			}
			if releases == 0 {
				t.Error("no release drawn")
			}
		})
	}
	t.Logf("lone reservation statuses: %v", statuses)
	for _, status := range []model.Status{model.StatusOK, model.StatusExceedsCredits,
		model.StatusDebitAccountAlreadyClosed} {
		if statuses[status] == 0 {
			t.Errorf("no lone reservation answered %s: the steps miss a case", status)
		}
	}
}

// lone applies one reservation event through ChangeSystemReservation on d.pipe and
// through CreateSystemTransfers on d.old, compares status, events and state, and returns
// the status.
func (d *pipelineDiff) lone(label string, event model.Transfer) model.Status {
	d.t.Helper()
	d.pipeEvents.Reset()
	d.oldEvents.Reset()
	direct := event
	status := d.pipe.ChangeSystemReservation(d.timestamp, &direct)
	batch := []model.Transfer{event}
	results := make([]model.TransferResult, 1)
	d.old.CreateSystemTransfers(d.timestamp, batch, results)
	d.timestamp++
	if status != results[0].Status {
		d.t.Fatalf("%s: %+v: direct %s, batch %s", label, event, status, results[0].Status)
	}
	if direct != event || batch[0] != event {
		d.t.Fatalf("%s: the event was changed", label)
	}
	if !reflect.DeepEqual(d.pipeEvents.Events, d.oldEvents.Events) {
		d.t.Fatalf("%s: the direct path recorded other events than the batch", label)
	}
	d.compare(label)
	for _, l := range []*Ledger{d.pipe, d.old} {
		if err := l.CheckReservations(); err != nil {
			d.t.Fatalf("%s: %v", label, err)
		}
	}
	return status
}
