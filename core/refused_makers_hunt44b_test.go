package core

import (
	"testing"

	"sequent/core/model"
)

// TestClosedPayeeAccountUnderManyOrdersCannotStopTheMachine: client 7, with no grant
// (trade and transfer permissions only, over accounts it created), rests 3,100 one-unit
// sells, then closes the quote account they are paid into (a pending closing_debit
// transfer of 0 from its own account). Client 8's buy that crosses them all must apply:
// each sell is canceled (canceled_account, its payout refused by the ledger) and the
// buy rests. The matching engine counted the ledger's refusals over the whole command
// against a bound meant for one step (3,074), so this entry made Apply panic: the
// primary's sequencer dies, and so does every replay of the log that holds the entry.
func TestClosedPayeeAccountUnderManyOrdersCannotStopTheMachine(t *testing.T) {
	const sells = 3100
	h := newHarness(t, Config{})
	h.operators(9)
	h.apply(tradingAccountRequests()...)
	funds := tradingFunds()
	funds[0].Amount = model.U128(sells)
	funds[1].Amount = model.U128(50 * sells)
	h.apply(Request{Client: 9, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: encodeRecords(model.TransferSize, funds...)})
	instrument := tradingInstrument()
	instrument.QuantityMax = 1 << 20
	h.apply(Request{Client: 9, Session: 1, Number: 3,
		Operation: model.OperationCreateInstruments, Body: encodeRecords(model.InstrumentSize, instrument)})
	orders := make([]*model.Order, sells)
	for i := range orders {
		orders[i] = tradingOrder(model.SideSell, uint64(i+1), 50, 1)
	}
	out := h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationPlaceOrders,
		Body: encodeRecords(model.OrderSize, orders...)})
	if h.machine.Match().OpenOrderCount() != sells {
		t.Fatalf("%d sells rest", h.machine.Match().OpenOrderCount())
	}
	h.closeQuoteAccountOf7()
	out = h.apply(Request{Client: 8, Session: 1, Number: 1, Operation: model.OperationPlaceOrders,
		Body: encodeRecords(model.OrderSize, tradingOrder(model.SideBuy, 1, 50, sells))})
	var result model.OrderResult
	result.Decode(out.Body(&out.Replies[0]))
	canceled := canceledAccountReports(out, 7)
	if result.Status != model.StatusOK || canceled != sells ||
		h.machine.Match().OpenOrderCount() != 1 {
		t.Fatalf("buy %s, %d sells canceled_account, %d open orders", result.Status, canceled,
			h.machine.Match().OpenOrderCount())
	}
}

// closeQuoteAccountOf7 has client 7 close account 12, the quote account its sells are
// paid into (tradingAccountRequests), by a pending closing_debit transfer of 0 from it.
func (h *harness) closeQuoteAccountOf7() {
	h.t.Helper()
	closing := model.Transfer{ID: model.U128(500), DebitAccountID: model.U128(12),
		CreditAccountID: model.U128(2), Ledger: 2, Code: 1,
		Flags: model.TransferPending | model.TransferClosingDebit}
	if status := h.transferStatus(7, closing); status != model.StatusOK {
		h.t.Fatalf("client 7 closing its quote account: %s", status)
	}
}

// canceledAccountReports counts out's reports to client that cancel an order
// canceled_account.
func canceledAccountReports(out *Output, client uint64) int {
	canceled := 0
	for i := range out.Reports {
		var report model.ExecutionReport
		report.Decode(out.ReportBody(&out.Reports[i]))
		if report.Client == client && report.Kind == model.ReportCanceled &&
			report.Status == model.StatusCanceledAccount {
			canceled++
		}
	}
	return canceled
}
