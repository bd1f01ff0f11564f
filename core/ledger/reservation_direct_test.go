package ledger

import (
	"fmt"
	"reflect"
	"testing"

	"sequent/core/model"
)

// TestChangeSystemReservationMatchesBatch is a differential test of
// ChangeSystemReservationAt, the matching engine's direct path for a lone reservation
// change, against CreateSystemTransfers of a batch of that one event. Two ledgers start
// alike (newPipelineDiff: accounts with every balance-limit flag, two ledgers, an
// escrow each); seeded random steps apply to both either the same batch through the
// public entry (client transfers, closing transfers, the engine's chains of
// reservation, fill, payout and release, so that balances, limits and closed accounts
// change under the reservations), or one lone reservation event: a reserve (sometimes
// beyond what the account may owe) or a release of part or all of what the account
// reserves, through the direct path on one ledger (ChangeSystemReservationAt, told
// where the accounts are rightly or not: guessIndex) and the batch on the other. Statuses,
// change events (none for a reservation), the ledger digest (balances and reserved
// totals), the risk state and CheckReservations must agree after every step, and the
// lone events must reach the refusals a reserve can meet; the direct path must answer
// where the accounts are.
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

// guessIndex draws where ChangeSystemReservationAt is told an account is: unknown, right,
// another account's place, just past the last account, or any value.
func (d *pipelineDiff) guessIndex(id model.Uint128) uint32 {
	switch d.random.IntN(5) {
	case 0:
		return IndexUnknown
	case 1:
		return d.indexOf(id)
	case 2:
		return d.random.Uint32N(d.pipe.AccountCount())
	case 3:
		return d.pipe.AccountCount()
	}
	return d.random.Uint32()
}

// indexOf returns where d.pipe stores the account, or IndexUnknown.
func (d *pipelineDiff) indexOf(id model.Uint128) uint32 {
	if index, found := d.pipe.findAccount(id); found {
		return index
	}
	return IndexUnknown
}

// lone applies one reservation event through ChangeSystemReservationAt (told where the
// accounts are, rightly or not, by guessIndex) on d.pipe and
// through CreateSystemTransfers on d.old, compares status, events and state, and returns
// the status, and checks that the call answered where the accounts are.
func (d *pipelineDiff) lone(label string, event model.Transfer) model.Status {
	d.t.Helper()
	d.pipeEvents.Reset()
	d.oldEvents.Reset()
	direct := event
	debitIndex, creditIndex := d.guessIndex(event.DebitAccountID),
		d.guessIndex(event.CreditAccountID)
	status := d.pipe.ChangeSystemReservationAt(d.timestamp, &direct, &debitIndex, &creditIndex)
	for _, account := range []struct {
		id    model.Uint128
		index uint32
	}{{event.DebitAccountID, debitIndex}, {event.CreditAccountID, creditIndex}} {
		if want := d.indexOf(account.id); account.index != want {
			d.t.Fatalf("%s: account %s answered at %d, stored at %d", label, account.id,
				account.index, want)
		}
	}
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

// TestChangeSystemReservationAtTrustsNoUndoneAccount: an account created in a linked
// chain that failed is undone by dropping the newest records, whose memory keeps their
// ids. Told that such an account is at that place, ChangeSystemReservationAt must still
// find that it does not exist (answer IndexUnknown, and panic as for any reservation on
// a missing account, a bug of the engine) rather than reserve on the dropped record; and
// it must find a live account told another's place.
func TestChangeSystemReservationAtTrustsNoUndoneAccount(t *testing.T) {
	f := newFixture(t)
	count := f.ledger.AccountCount()
	results := make([]model.EventResult, 3)
	f.ledger.CreateAccounts(f.timestamp, []model.Account{
		{ID: model.U128(50), Ledger: 1, Code: 1, Flags: model.AccountLinked},
		{ID: model.U128(51), Ledger: 1, Code: 1, Flags: model.AccountLinked},
		{ID: model.U128(52), Ledger: 0, Code: 1}}, results)
	if results[0].Status != model.StatusLinkedEventFailed || f.ledger.AccountCount() != count {
		t.Fatalf("linked accounts: %+v, %d accounts", results, f.ledger.AccountCount())
	}
	f.timestamp++
	for _, c := range []struct {
		debit, credit           uint64
		debitGuess, creditGuess uint32
		found                   bool
		debitIndex, creditIndex uint32
	}{
		{50, 2, count, 1, false, IndexUnknown, 1},
		{1, 51, 0, count + 1, false, 0, IndexUnknown},
		{1, 2, 1, 0, true, 0, 1}, // Each told the other's place.
	} {
		event := model.Transfer{DebitAccountID: model.U128(c.debit),
			CreditAccountID: model.U128(c.credit), Amount: model.U128(1), Ledger: 1, Code: 1,
			Flags: SystemReserve}
		debitIndex, creditIndex := c.debitGuess, c.creditGuess
		status, panicked := model.StatusOK, false
		func() {
			defer func() { panicked = recover() != nil }()
			status = f.ledger.ChangeSystemReservationAt(f.timestamp, &event, &debitIndex,
				&creditIndex)
		}()
		f.timestamp++
		if panicked == c.found || (c.found && status != model.StatusOK) ||
			debitIndex != c.debitIndex || creditIndex != c.creditIndex {
			t.Errorf("reserve %d→%d told at %d, %d: %s (panicked %t) at %d, %d; want "+
				"accounts found %t at %d, %d", c.debit, c.credit, c.debitGuess,
				c.creditGuess, status, panicked, debitIndex, creditIndex, c.found,
				c.debitIndex, c.creditIndex)
		}
	}
	if err := f.ledger.CheckReservations(); err != nil {
		t.Fatal(err)
	}
	if reserved := f.ledger.Reserved(model.U128(1)); reserved != model.U128(1) {
		t.Errorf("account 1 reserves %s, want 1", reserved)
	}
}
