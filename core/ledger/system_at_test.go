package ledger

import (
	"fmt"
	"reflect"
	"testing"

	"sequent/core/model"
)

// TestSystemTransfersAtMatchesBatch is a differential test of CreateSystemTransfersAt
// against CreateSystemTransfers: two ledgers built alike get the same system batches,
// one through each entry, the first told where each account is by guessIndex (right,
// unknown, another account's place, just past the last account, any value). The
// batches are the matching engine's chains (reserve, fill from the reservation, payout,
// release, reserve again; linked, failing at every position), random system batches of
// one to forty events (reserves and system-id transfers to and from the escrows,
// linked now and then, some with an unknown account or a reused id), and releases of
// what the accounts reserve, between client batches that move balances and close
// accounts. After every batch the statuses and timestamps of the results, the change
// events, the digest, the risk state and CheckReservations must agree, the results of
// CreateSystemTransfersAt must carry no balances, and the places it answers must be
// where the accounts are.
func TestSystemTransfersAtMatchesBatch(t *testing.T) {
	steps := 1200
	if testing.Short() {
		steps = 300
	}
	statuses := map[model.Status]int{}
	for n, accounts := range []int{12, 40, 520} {
		t.Run(fmt.Sprintf("accounts=%d", accounts), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+601, accounts, n == 1, true)
			d.reference = (*Ledger).createTransfersPipelined
			for step := range steps {
				label := fmt.Sprintf("step %d", step)
				switch choice := d.random.IntN(8); {
				case choice < 2:
					d.step(label, 1+d.random.IntN(4)) // Client batches (and expiry).
				case choice < 5:
					d.systemAt(label, d.engineChain(1+d.random.IntN(8)), statuses)
				case choice < 7:
					events := make([]model.Transfer, 1+d.random.IntN(40))
					for i := range events {
						events[i] = d.systemTransfer()
						if events[i].Flags&reservationFlags == 0 && len(d.absent) > 0 &&
							d.random.IntN(10) == 0 {
							events[i].CreditAccountID = d.absent[d.random.IntN(len(d.absent))]
						}
					}
					d.systemAt(label, events, statuses)
				default:
					events := make([]model.Transfer, 1+d.random.IntN(6))
					d.releases(events)
					d.systemAt(label, events, statuses)
				}
			}
		})
	}
	t.Logf("statuses: %v", statuses)
	for _, status := range []model.Status{model.StatusOK, model.StatusExceedsCredits,
		model.StatusLinkedEventFailed, model.StatusCreditAccountNotFound,
		model.StatusExistsWithDifferentFlags, model.StatusDebitAccountAlreadyClosed} {
		if statuses[status] == 0 {
			t.Errorf("no event answered %s: the batches miss a case", status)
		}
	}
}

// systemAt applies a system batch through CreateSystemTransfersAt on d.pipe (told where
// the accounts are by guessIndex) and through CreateSystemTransfers on d.old, and
// compares what TestSystemTransfersAtMatchesBatch says.
func (d *pipelineDiff) systemAt(label string, events []model.Transfer,
	statuses map[model.Status]int) {
	d.t.Helper()
	count := len(events)
	pipeEvents, oldEvents := append([]model.Transfer(nil), events...),
		append([]model.Transfer(nil), events...)
	pipeResults, oldResults := make([]model.TransferResult, count),
		make([]model.TransferResult, count)
	places := make([]uint32, 2*count)
	for i := range events {
		places[2*i] = d.guessIndex(events[i].DebitAccountID)
		places[2*i+1] = d.guessIndex(events[i].CreditAccountID)
	}
	d.pipeEvents.Reset()
	d.oldEvents.Reset()
	d.pipe.CreateSystemTransfersAt(d.timestamp, pipeEvents, places, pipeResults)
	d.old.CreateSystemTransfers(d.timestamp, oldEvents, oldResults)
	d.timestamp += uint64(count)
	for i := range events {
		got, want := pipeResults[i], oldResults[i]
		statuses[got.Status]++
		if got.Status != want.Status || got.Timestamp != want.Timestamp {
			d.t.Fatalf("%s (%d events): event %d %+v: at places %s at %d, batch %s at %d",
				label, count, i, events[i], got.Status, got.Timestamp, want.Status,
				want.Timestamp)
		}
		if got.DebitAccount != (model.Balance{}) || got.CreditAccount != (model.Balance{}) {
			d.t.Fatalf("%s: event %d: the result carries balances", label, i)
		}
		for side, id := range []model.Uint128{events[i].DebitAccountID,
			events[i].CreditAccountID} {
			if answered, want := places[2*i+side], d.indexOf(id); answered != want {
				d.t.Fatalf("%s: event %d: account %s answered at %d, stored at %d", label, i,
					id, answered, want)
			}
		}
	}
	if !reflect.DeepEqual(pipeEvents, oldEvents) {
		d.t.Fatalf("%s: the events sent were changed differently", label)
	}
	if !reflect.DeepEqual(d.pipeEvents.Events, d.oldEvents.Events) {
		d.t.Fatalf("%s: the entry at places recorded other events than the batch", label)
	}
	d.compare(label)
	for _, l := range []*Ledger{d.pipe, d.old} {
		if err := l.CheckReservations(); err != nil {
			d.t.Fatalf("%s: %v", label, err)
		}
	}
}

// TestSystemTransfersAtTrustsNoUndoneAccount: as for ChangeSystemReservationAt, a place
// told for an account whose creation a failed chain undid (its record, past the account
// count, still holds its id) must not be trusted: the transfer answers that the account
// does not exist, and the place answered is IndexUnknown. Told each other's place, two
// live accounts are found where they are.
func TestSystemTransfersAtTrustsNoUndoneAccount(t *testing.T) {
	f := newFixture(t)
	count := f.ledger.AccountCount()
	created := make([]model.EventResult, 3)
	f.ledger.CreateAccounts(f.timestamp, []model.Account{
		{ID: model.U128(50), Ledger: 1, Code: 1, Flags: model.AccountLinked},
		{ID: model.U128(51), Ledger: 1, Code: 1, Flags: model.AccountLinked},
		{ID: model.U128(52), Ledger: 0, Code: 1}}, created)
	if created[0].Status != model.StatusLinkedEventFailed || f.ledger.AccountCount() != count {
		t.Fatalf("linked accounts: %+v, %d accounts", created, f.ledger.AccountCount())
	}
	f.timestamp += 3
	events := []model.Transfer{
		{DebitAccountID: model.U128(50), CreditAccountID: model.U128(2)},
		{DebitAccountID: model.U128(1), CreditAccountID: model.U128(51)},
		{DebitAccountID: model.U128(1), CreditAccountID: model.U128(2)},
	}
	for i := range events {
		events[i].ID = model.Uint128{Hi: 1 << 63, Lo: uint64(i) + 1}
		events[i].Amount, events[i].Ledger, events[i].Code = model.U128(1), 1, 1
	}
	places := []uint32{count, 1, 0, count + 1, 1, 0}
	results := make([]model.TransferResult, len(events))
	f.ledger.CreateSystemTransfersAt(f.timestamp, events, places, results)
	wantStatuses := []model.Status{model.StatusDebitAccountNotFound,
		model.StatusCreditAccountNotFound, model.StatusOK}
	wantPlaces := []uint32{IndexUnknown, 1, 0, IndexUnknown, 0, 1}
	for i := range events {
		if results[i].Status != wantStatuses[i] {
			t.Errorf("event %d: %s, want %s", i, results[i].Status, wantStatuses[i])
		}
	}
	if !reflect.DeepEqual(places, wantPlaces) {
		t.Errorf("places answered %v, want %v", places, wantPlaces)
	}
}
