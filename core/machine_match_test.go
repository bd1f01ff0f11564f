package core

import (
	"bytes"
	"encoding/binary"
	"testing"

	"sequent/core/model"
)

func encodeRecords[T interface{ Encode([]byte) }](size int, records ...T) []byte {
	body := make([]byte, len(records)*size)
	for i := range records {
		records[i].Encode(body[i*size:])
	}
	return body
}

// TestMatchingThroughTheMachine places crossing orders through Apply: the trade settles in
// the ledger in the same entry, both owners get execution reports with their own
// sequence numbers, a retried place answers from the session cache, the state survives a
// snapshot, and a cancel_session entry cancels the client's open orders.
func TestMatchingThroughTheMachine(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(9) // The bank, whose accounts 1 and 2 may go negative.
	h.apply(tradingAccountRequests()...)
	h.apply(Request{Client: 9, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: encodeRecords(model.TransferSize, tradingFunds()...)})
	out := h.apply(Request{Client: 9, Session: 1, Number: 3,
		Operation: model.OperationCreateInstruments, Body: encodeRecords(model.InstrumentSize, tradingInstrument())})
	if statuses := eventStatuses(t, out.Body(&out.Replies[0])); statuses[0] != model.StatusOK {
		t.Fatalf("instrument: %v", statuses)
	}
	sell := tradingOrder(model.SideSell, 1, 50, 10)
	buy := tradingOrder(model.SideBuy, 1, 50, 4)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationPlaceOrders,
		Body: encodeRecords(model.OrderSize, sell)})
	buyBody := encodeRecords(model.OrderSize, buy)
	out = h.apply(Request{Client: 8, Session: 1, Number: 1, Operation: model.OperationPlaceOrders,
		Body: buyBody})
	var result model.OrderResult
	result.Decode(out.Body(&out.Replies[0]))
	if result.Status != model.StatusOK {
		t.Fatalf("buy: %s", result.Status)
	}
	fills := map[uint64]int{}
	for i := range out.Reports {
		var report model.ExecutionReport
		report.Decode(out.ReportBody(&out.Reports[i]))
		if report.Client != out.Reports[i].Client {
			t.Fatal("report routed to the wrong client")
		}
		if report.Kind == model.ReportFill {
			fills[report.Client]++
			if report.Quantity != 4 || report.Price != 50 {
				t.Fatalf("fill %+v", report)
			}
		}
	}
	if fills[7] != 1 || fills[8] != 1 {
		t.Fatalf("fills per client: %v", fills)
	}
	seller := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(12)}, nil)[0]
	if seller.CreditsPosted != model.U128(200) {
		t.Fatalf("seller's quote account: %+v", seller)
	}
	retry := h.apply(Request{Client: 8, Session: 1, Number: 1, Operation: model.OperationPlaceOrders,
		Body: buyBody})
	if !retry.Replies[0].Duplicate || len(retry.Reports) != 0 {
		t.Fatalf("retried place: %+v with %d reports", retry.Replies[0], len(retry.Reports))
	}
	var snapshot bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != h.machine.Digest() {
		t.Fatal("digest differs after restore")
	}
	client := make([]byte, 8)
	binary.LittleEndian.PutUint64(client, 7)
	out = h.apply(Request{Operation: model.OperationCancelSession, Body: client})
	if out.Replies[0].Status != model.StatusOK || h.machine.Match().OpenOrderCount() != 0 {
		t.Fatalf("cancel_session: %s, %d open orders", out.Replies[0].Status,
			h.machine.Match().OpenOrderCount())
	}
	if len(out.Reports) == 0 || out.Reports[0].Sequence != 3 {
		t.Fatalf("client 7's cancel report: %+v", out.Reports)
	}
}

// tradingAccountRequests create the trading accounts, each by its owner: the banks (1,
// 2) are client 9's; each trader owns the accounts it trades from (client 7: 11, 12;
// client 8: 21, 22).
func tradingAccountRequests() []Request {
	accounts := tradingAccounts()
	return []Request{
		{Client: 9, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: encodeRecords(model.AccountSize, accounts[:2]...)},
		{Client: 7, Session: 9, Number: 1, Operation: model.OperationCreateAccounts,
			Body: encodeRecords(model.AccountSize, accounts[2:4]...)},
		{Client: 8, Session: 9, Number: 1, Operation: model.OperationCreateAccounts,
			Body: encodeRecords(model.AccountSize, accounts[4:]...)}}
}

// tradingAccounts are two issuers (ledgers 1 and 2) and two traders' base and quote
// accounts that may not overdraw.
func tradingAccounts() []*model.Account {
	limit := model.AccountDebitsMustNotExceedCredits
	return []*model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1}, {ID: model.U128(2), Ledger: 2, Code: 1},
		{ID: model.U128(11), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(12), Ledger: 2, Code: 2, Flags: limit},
		{ID: model.U128(21), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(22), Ledger: 2, Code: 2, Flags: limit}}
}

// tradingFunds gives the seller (client 7: accounts 11, 12) base and the buyer (client
// 8: accounts 21, 22) quote.
func tradingFunds() []*model.Transfer {
	return []*model.Transfer{
		{ID: model.U128(100), DebitAccountID: model.U128(1), CreditAccountID: model.U128(11),
			Amount: model.U128(1000), Ledger: 1, Code: 1},
		{ID: model.U128(101), DebitAccountID: model.U128(2), CreditAccountID: model.U128(22),
			Amount: model.U128(100_000), Ledger: 2, Code: 1}}
}

// tradingInstrument is instrument 5: base ledger 1, quote ledger 2, tick and lot 1.
func tradingInstrument() *model.Instrument {
	return &model.Instrument{ID: 5, BaseLedger: 1, QuoteLedger: 2, TickSize: 1,
		LotSize: 1, QuantityMin: 1, QuantityMax: 1000}
}

// tradingOrder is a GTC limit order on instrument 5: sells from the seller's accounts,
// buys from the buyer's.
func tradingOrder(side model.Side, clientOrderID, price, quantity uint64) *model.Order {
	order := &model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: model.U128(11),
		QuoteAccountID: model.U128(12), Price: price, Quantity: quantity, Instrument: 5,
		Side: side, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
	if side == model.SideBuy {
		order.Account, order.BaseAccountID, order.QuoteAccountID = 2, model.U128(21), model.U128(22)
	}
	return order
}
