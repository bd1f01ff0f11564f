package core

import (
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestHunt51cInstrumentAtTheAccountsLimit: creating an instrument creates its two escrow
// accounts as a linked pair. With no room left for any account, the ledger refuses the
// first (accounts_limit_reached) and so the second (linked_event_failed); the engine
// expected the limit on the second only and panicked, so an admin's create_instruments
// on a full ledger ended the shard, and every replay of the log (a restart, the
// standby) ended at the same entry. Found by TestHunt51cRestoredMachineIsTheWholeLogsMachine
// (-rapid.seed=6883382559970786087 with SEQUENT_HUNT51C_ENTRIES=300). With no room, as
// with room for one escrow only, the instrument answers accounts_limit_reached and
// changes nothing but the clock.
func TestHunt51cInstrumentAtTheAccountsLimit(t *testing.T) {
	for _, room := range []uint32{0, 1} {
		const accounts = 4 // The operator's issuers and fee accounts on ledgers 1 and 2.
		h := newHarness(t, Config{Ledger: ledger.Config{AccountsMax: accounts + room}})
		h.operators(9)
		body := make([]byte, 0, accounts*model.AccountSize)
		for id := uint64(1); id <= accounts; id++ {
			account := model.Account{ID: model.U128(id), Ledger: uint32(1 + id%2), Code: 1}
			record := make([]byte, model.AccountSize)
			account.Encode(record)
			body = append(body, record...)
		}
		out := h.apply(Request{Client: 9, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: body})
		for i, status := range eventStatuses(t, out.Body(&out.Replies[0])) {
			if status != model.StatusOK {
				t.Fatalf("room %d: account %d: %s", room, i+1, status)
			}
		}
		before := h.machine.Ledger().AccountCount()
		out = h.apply(Request{Client: 9, Session: 1, Number: 2,
			Operation: model.OperationCreateInstruments,
			Body:      encodeRecords(model.InstrumentSize, tradingInstrument())})
		if statuses := eventStatuses(t, out.Body(&out.Replies[0])); out.Replies[0].Status !=
			model.StatusOK || statuses[0] != model.StatusAccountsLimitReached {
			t.Fatalf("room %d: create_instruments: %s %v, want accounts_limit_reached", room,
				out.Replies[0].Status, statuses)
		}
		if after := h.machine.Ledger().AccountCount(); after != before {
			t.Fatalf("room %d: %d accounts after the refused instrument, %d before", room,
				after, before)
		}
		if h.machine.Match().InstrumentCount() != 0 {
			t.Fatalf("room %d: the refused instrument exists", room)
		}
	}
}
