package core

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// TestOrderFlagsFollowRulesVersion: byte 104 of an Order was reserved (refused unless 0,
// reserved_field, and that refusal remembered under its key) until it became the order
// flags. A log written by a build before them must replay as it was applied, so below
// the rules version that brought the flags a place with a flag set is still refused,
// after a restore too; from that version on (the one a primary moves to before it
// serves writes) it is accepted and opts its trading account in.
func TestOrderFlagsFollowRulesVersion(t *testing.T) {
	h := newTradingHarness(t, 3) // The newest version of the builds before the order flags.
	number := uint64(0)
	place := func(clientOrderID uint64) model.OrderResult {
		t.Helper()
		number++
		return h.placeFlagged(number, clientOrderID)
	}
	if result := place(10); result.Status != model.StatusReservedField {
		t.Fatalf("flagged place at rules version 3: %s, want reserved_field as applied then",
			result.Status)
	}
	h.restore(Config{})
	if result := place(11); result.Status != model.StatusReservedField {
		t.Fatalf("flagged place at rules version 3 after a restore: %s", result.Status)
	}
	h.upgradeRules(RulesVersionCurrent)
	if result := place(12); result.Status != model.StatusOK {
		t.Fatalf("flagged place at rules version %d: %s", RulesVersionCurrent, result.Status)
	}
	if result := place(5); result.Status != model.StatusClientOrderIDNotIncreasing {
		t.Fatalf("a lower unused key once opted in: %s", result.Status)
	}
}

// newTradingHarness is a machine at rules version rules with operator 9, the trading
// accounts, their funds and the instrument of the matching tests.
func newTradingHarness(t *testing.T, rules uint32) *harness {
	return newTradingHarnessWith(t, Config{}, rules)
}

// newTradingHarnessWith is newTradingHarness over a machine configured so.
func newTradingHarnessWith(t *testing.T, config Config, rules uint32) *harness {
	h := newHarness(t, config)
	h.operators(9)
	h.apply(tradingAccountRequests()...)
	h.apply(Request{Client: 9, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: encodeRecords(model.TransferSize, tradingFunds()...)})
	h.apply(Request{Client: 9, Session: 1, Number: 3, Operation: model.OperationCreateInstruments,
		Body: encodeRecords(model.InstrumentSize, tradingInstrument())})
	h.upgradeRules(rules)
	return h
}

// restore replaces the harness's machine with one restored, under config, from a
// snapshot of it (as a node restarting from its snapshot does).
func (h *harness) restore(config Config) {
	h.t.Helper()
	var snapshot bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
		h.t.Fatal(err)
	}
	restored, err := Restore(config, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.machine = restored
}

// placeFlagged has client 7 place (request number) a sell with the increasing client
// order ids flag and returns its result.
func (h *harness) placeFlagged(number, clientOrderID uint64) model.OrderResult {
	order := tradingOrder(model.SideSell, clientOrderID, 50, 1)
	order.Flags = model.OrderFlagClientOrderIDsIncreasing
	out := h.apply(Request{Client: 7, Session: 1, Number: number,
		Operation: model.OperationPlaceOrders, Body: encodeRecords(model.OrderSize, order)})
	var result model.OrderResult
	result.Decode(out.Body(&out.Replies[0]))
	return result
}
