package capture

import (
	"encoding/json"
	"math"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestEveryFieldIsWritten: with every field of each record set (distinct, nonzero),
// the published JSON decodes with the documented types to exactly the record's values:
// no field is left out or written under another's name.
func TestEveryFieldIsWritten(t *testing.T) {
	n := func(v uint64) model.Uint128 { return model.Uint128{Lo: v, Hi: v + 100} }
	account := model.Account{ID: n(1), DebitsPending: n(2), DebitsPosted: n(3),
		CreditsPending: n(4), CreditsPosted: n(5), UserData128: n(6), UserData64: 7,
		UserData32: 8, Ledger: 9, Code: 10, Flags: 11, Timestamp: 12}
	transfer := model.Transfer{ID: n(21), DebitAccountID: n(22), CreditAccountID: n(23),
		Amount: n(24), PendingID: n(25), UserData128: n(26), UserData64: 27, UserData32: 28,
		Timeout: 29, Ledger: 30, Code: 31, Flags: 32, Timestamp: 33}
	debit := model.Balance{DebitsPending: n(41), DebitsPosted: n(42), CreditsPending: n(43),
		CreditsPosted: n(44)}
	credit := model.Balance{DebitsPending: n(45), DebitsPosted: n(46), CreditsPending: n(47),
		CreditsPosted: n(48)}
	report := model.ExecutionReport{OrderID: 51, ClientOrderID: 52, Client: 53, Account: 54,
		Instrument: 55, Status: model.StatusOK, Kind: model.ReportFill, Side: 1, Liquidity: 2,
		Type: 3, TradeID: 56, ContraOrderID: 57, Price: 58, Quantity: 59, LeavesQuantity: 60,
		FilledQuantity: 61, Fee: n(62), Timestamp: 63}
	update := model.MarketDataUpdate{Sequence: 71, Timestamp: 72, Instrument: 73,
		Kind: model.MarketDataTrade, Side: 2, Price: 74, Quantity: n(75), OrderCount: 76,
		TradeID: 77, BidPrice: 78, BidQuantity: n(79), AskPrice: 80, AskQuantity: n(81)}
	var buffer event.Buffer
	buffer.BeginOp(90)
	buffer.AppendAccount(&account, 5)
	buffer.AppendTransfer(event.KindTransferPosted, &transfer, debit, credit)
	buffer.AppendOrder(&report)
	buffer.AppendMarketData(&update)
	decoded := make([]EventJSON, len(buffer.Events))
	for i := range buffer.Events {
		if err := json.Unmarshal(appendEvent(nil, 0, &buffer, &buffer.Events[i], 1), &decoded[i]); err != nil {
			t.Fatalf("%s: %v", buffer.Events[i].Kind, err)
		}
	}
	balance := func(b model.Balance) BalanceJSON {
		return BalanceJSON{DebitsPending: b.DebitsPending.String(), DebitsPosted: b.DebitsPosted.String(),
			CreditsPending: b.CreditsPending.String(), CreditsPosted: b.CreditsPosted.String()}
	}
	if want := jsonview.NewAccount(&account); decoded[0].Account == nil || *decoded[0].Account != want {
		t.Errorf("account %+v, want %+v", decoded[0].Account, want)
	}
	if want := jsonview.NewTransfer(&transfer); decoded[1].Transfer == nil || *decoded[1].Transfer != want {
		t.Errorf("transfer %+v, want %+v", decoded[1].Transfer, want)
	}
	if decoded[1].DebitBalance == nil || *decoded[1].DebitBalance != balance(debit) ||
		decoded[1].CreditBalance == nil || *decoded[1].CreditBalance != balance(credit) {
		t.Errorf("balances %+v %+v", decoded[1].DebitBalance, decoded[1].CreditBalance)
	}
	wantOrder := OrderJSON{OrderID: 51, ClientOrderID: 52, Client: 53, Account: 54,
		Instrument: 55, Kind: uint8(model.ReportFill), Status: model.StatusOK.String(), Side: 1,
		Type: 3, Liquidity: 2, TradeID: 56, ContraOrderID: 57, Price: 58, Quantity: 59,
		LeavesQuantity: 60, FilledQuantity: 61, Fee: n(62).String(), Timestamp: 63}
	if decoded[2].Order == nil || *decoded[2].Order != wantOrder {
		t.Errorf("order %+v, want %+v", decoded[2].Order, wantOrder)
	}
	wantUpdate := MarketDataJSON{Instrument: 73, Sequence: 71, Kind: uint8(model.MarketDataTrade),
		Side: 2, Price: 74, Quantity: n(75).String(), OrderCount: 76, TradeID: 77, BidPrice: 78,
		BidQuantity: n(79).String(), AskPrice: 80, AskQuantity: n(81).String(), Timestamp: 72}
	if decoded[3].MarketData == nil || *decoded[3].MarketData != wantUpdate {
		t.Errorf("market data %+v, want %+v", decoded[3].MarketData, wantUpdate)
	}
}

// TestParseMessageID is a table of the message ids capture resumes from: the four
// documented forms and ids it must refuse rather than resume after a wrong position.
func TestParseMessageID(t *testing.T) {
	for _, test := range []struct {
		id   string
		want messageName
		ok   bool
	}{
		{"3:42:7:9", messageName{at: position{op: 42, index: 7}, epoch: 9}, true},
		{"3:42:7", messageName{at: position{op: 42, index: 7}}, true},
		{"3:42:gap", messageName{at: position{op: 42, index: math.MaxUint32}, marker: true}, true},
		{"3:42:7:superseded:9", messageName{at: position{op: 42, index: 7}, epoch: 9, marker: true}, true},
		{"3:42:7:other:9", messageName{}, false},
		{"3:42:7:superseded:9:1", messageName{}, false},
		{"3:42", messageName{}, false},
		{"x:42:7:9", messageName{}, false},
		{"3:42:gap:9", messageName{at: position{op: 42, index: math.MaxUint32}, epoch: 9}, true},
		{"3:42:gap:0", messageName{}, false},
		{"3:42:gap:x", messageName{}, false},
		{"3:42:gap:9:1", messageName{}, false},
		{"3:42:7:epoch", messageName{}, false},
	} {
		got, err := parseMessageID(test.id)
		if (err == nil) != test.ok || got != test.want {
			t.Errorf("%q: %+v, %v; want %+v (ok %v)", test.id, got, err, test.want, test.ok)
		}
	}
}

// TestHeldOpFollowsThePosition: until the stream's position is known capture holds the
// whole log; then only what follows the op before the position's (a rebuild starts from
// a snapshot before it), so the shard can retire the rest.
func TestHeldOpFollowsThePosition(t *testing.T) {
	c := New(Config{Released: func() uint64 { return 100 }})
	if op, ok := c.HeldOp(); op != 0 || !ok {
		t.Fatalf("position unknown: holds after %d (%v), want all of the log", op, ok)
	}
	c.setPosition(position{op: 40, index: 2}, 9)
	if op, ok := c.HeldOp(); op != 39 || !ok {
		t.Fatalf("at op 40: holds after %d (%v), want 39", op, ok)
	}
}
