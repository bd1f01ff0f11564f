package ledger

import (
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// TestPlainAccountIDsEveryEntry extends TestPlainTransferAccountIDsValidated (the system's
// CreateTransfers only) to every other way a transfer reaches singleOrPendingTransfer,
// which runs the static validation of a transfer plain but for its account ids only once
// an account is not found or both are the same record: a client's batch (ownership is
// checked after the accounts are found), a client's batch with balances, the lookahead's
// one-transfer request, a saga's step 1 (whose missing credit account is answered by
// sagaDebitRefusal) and the engine's CreateSystemTransfersAt (accounts resolved from
// places, here wrong ones). A zero or repeated account id must get the validation's
// code everywhere, ahead of not-found, not-owned and the saga's refusal, with change
// events recorded and nothing stored.
func TestPlainAccountIDsEveryEntry(t *testing.T) {
	const client = 7
	cases := []struct {
		name          string
		debit, credit uint64
		want          model.Status
	}{
		{"debit zero", 0, 11, model.StatusDebitAccountIDMustNotBeZero},
		{"debit zero, credit missing", 0, 99, model.StatusDebitAccountIDMustNotBeZero},
		{"credit zero", 10, 0, model.StatusCreditAccountIDMustNotBeZero},
		{"credit zero, debit not owned", 1, 0, model.StatusCreditAccountIDMustNotBeZero},
		{"same owned account", 10, 10, model.StatusAccountsMustBeDifferent},
		{"same account not owned", 1, 1, model.StatusAccountsMustBeDifferent},
		{"same missing account", 99, 99, model.StatusAccountsMustBeDifferent},
	}
	type entry struct {
		name   string
		system bool // The transfer's id must then be a system id.
		apply  func(l *Ledger, timestamp uint64, events []model.Transfer,
			results []model.TransferResult)
	}
	entries := []entry{
		{"client", false, func(l *Ledger, timestamp uint64, events []model.Transfer,
			results []model.TransferResult) {
			l.CreateTransfersAs(client, false, timestamp, events, results)
		}},
		{"client with balances", false, func(l *Ledger, timestamp uint64,
			events []model.Transfer, results []model.TransferResult) {
			l.CreateTransfersAs(client, true, timestamp, events, results)
		}},
		{"lookahead", false, func(l *Ledger, timestamp uint64, events []model.Transfer,
			results []model.TransferResult) {
			var ahead TransferLookahead
			if len(events) == 1 {
				l.PrefetchTransferSlots(client, true, &events[0], &ahead)
				l.PrefetchTransferRecords(&ahead)
			}
			l.CreateTransferAheadAs(client, true, timestamp, events, results, &ahead)
		}},
		{"saga step 1", false, func(l *Ledger, timestamp uint64, events []model.Transfer,
			results []model.TransferResult) {
			l.CreateSagaTransfersAs(client, timestamp, events, results)
		}},
		{"system at places", true, func(l *Ledger, timestamp uint64, events []model.Transfer,
			results []model.TransferResult) {
			places := make([]uint32, 2*len(events))
			for i := range places {
				places[i] = uint32(i % 3) // Accounts 1 to 3: never the events' ones.
			}
			l.CreateSystemTransfersAt(timestamp, events, places, results)
		}},
	}
	for _, e := range entries {
		for _, batch := range []int{1, 3, 2*pipelineBlockEvents + 3} {
			for _, c := range cases {
				f := newFixture(t)
				results := make([]model.EventResult, 2)
				f.ledger.CreateAccountsAs(client, f.timestamp, []model.Account{
					{ID: model.U128(10), Ledger: 1, Code: 10,
						Flags: model.AccountDebitsMustNotExceedCredits},
					{ID: model.U128(11), Ledger: 1, Code: 10,
						Flags: model.AccountDebitsMustNotExceedCredits},
				}, results)
				f.timestamp += 2
				for i := range results {
					if results[i].Status != model.StatusOK {
						t.Fatalf("account %d: %s", i, results[i].Status)
					}
				}
				buffer := &event.Buffer{}
				f.ledger.SetEvents(buffer)
				probe := batch / 2
				events := make([]model.Transfer, batch)
				for i := range events {
					// Valid for every entry: account 10 is the client's and funded by
					// nothing, so each debit is refused for its balance, not its ids.
					events[i] = transfer(uint64(1000+i), 11, 10, 0)
				}
				events[probe] = transfer(500, c.debit, c.credit, 1)
				if e.system {
					for i := range events {
						events[i].ID.Hi |= 1 << 63
					}
				}
				// A system id is never plain (its top bit): there the order is the
				// validation's own, checked for contrast.
				if plainIgnoringAccountIDs(&events[probe]) == e.system {
					t.Fatalf("%s, %s: plain %v", e.name, c.name, !e.system)
				}
				count := f.ledger.TransferCount()
				transferResults := make([]model.TransferResult, batch)
				e.apply(f.ledger, f.timestamp, events, transferResults)
				if status := transferResults[probe].Status; status != c.want {
					t.Fatalf("%s, %s, batch of %d: %s, want %s", e.name, c.name, batch, status,
						c.want)
				}
				// The other events went through too (ok or refused for their balance):
				// the probe's refusal is its own.
				stored := 0
				for i := range transferResults {
					if transferResults[i].Status == model.StatusOK {
						stored++
					}
				}
				if got := int(f.ledger.TransferCount() - count); got != stored {
					t.Fatalf("%s, %s: %d transfers stored, %d results ok", e.name, c.name, got,
						stored)
				}
			}
		}
	}
}
