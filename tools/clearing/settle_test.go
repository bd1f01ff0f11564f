package clearing

import (
	"context"
	"errors"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/netio/client"
)

const second = uint64(1_000_000_000)

// book is a ledger with a clock for the netting tests: each call to at applies transfers
// at a chosen time (expiring what is due first, as the machine does per entry).
type book struct {
	t      *testing.T
	ledger *ledger.Ledger
}

func newBook(t *testing.T, accounts ...model.Account) *book {
	b := &book{t: t, ledger: ledger.New(ledger.Config{HashSeed: 1})}
	results := make([]model.EventResult, len(accounts))
	b.ledger.CreateAccounts(1, accounts, results)
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, result.Status)
		}
	}
	return b
}

func (b *book) at(timestamp uint64, transfers ...model.Transfer) {
	b.t.Helper()
	b.ledger.Expire(timestamp, nil)
	results := make([]model.TransferResult, len(transfers))
	b.ledger.CreateTransfers(timestamp, transfers, results)
	for i, result := range results {
		if result.Status != model.StatusOK {
			b.t.Fatalf("transfer %s: %s", transfers[i].ID, result.Status)
		}
	}
}

func move(id, debit, credit, amount uint64, ledgerNumber uint32) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: ledgerNumber,
		Code: 1}
}

func pending(id, debit, credit, amount uint64, ledgerNumber uint32, timeout uint32) model.Transfer {
	t := move(id, debit, credit, amount, ledgerNumber)
	t.Flags, t.Timeout = model.TransferPending, timeout
	return t
}

// postAll as a post's amount posts the whole pending amount.
const postAll = ^uint64(0)

func resolve(id, pendingID, amount uint64, void bool) model.Transfer {
	t := model.Transfer{ID: model.U128(id), PendingID: model.U128(pendingID),
		Amount: model.U128(amount), Flags: model.TransferPostPending}
	if amount == postAll {
		t.Amount = model.Uint128Max
	}
	if void {
		t.Flags = model.TransferVoidPending
	}
	return t
}

// nettingBook: partner accounts 50 (ledger 1, USD) and 60 (ledger 2, EUR); customers 1
// (ledger 1) and 2 (ledger 2); the operator's settlement accounts 90 (ledger 1) and 91
// (ledger 2). The window is [100 s, 200 s].
func nettingBook(t *testing.T) *book {
	b := newBook(t, model.Account{ID: model.U128(1), Ledger: 1, Code: 1},
		model.Account{ID: model.U128(2), Ledger: 2, Code: 1},
		model.Account{ID: model.U128(50), Ledger: 1, Code: 2},
		model.Account{ID: model.U128(60), Ledger: 2, Code: 2},
		model.Account{ID: model.U128(90), Ledger: 1, Code: 3},
		model.Account{ID: model.U128(91), Ledger: 2, Code: 3})
	b.at(50*second, move(10, 1, 50, 1_000, 1))     // Before the window: not counted.
	b.at(60*second, pending(11, 1, 50, 10, 1, 0))  // Pending before the window…
	b.at(110*second, move(12, 1, 50, 100, 1))      // Posted credit.
	b.at(111*second, move(13, 1, 50, 50, 1))       // Posted credit.
	b.at(112*second, move(14, 50, 1, 30, 1))       // Posted debit.
	b.at(113*second, pending(15, 1, 50, 20, 1, 0)) // In flight at the cut-off.
	b.at(114*second, pending(16, 1, 50, 10, 1, 0))
	b.at(115*second, resolve(17, 16, 7, false))       // Posts 7 of 10.
	b.at(116*second, pending(18, 1, 50, 5, 1, 0))     //
	b.at(117*second, resolve(19, 18, 0, true))        // Voided.
	b.at(118*second, pending(20, 1, 50, 4, 1, 30))    // Deadline 148 s: expired by 200 s.
	b.at(119*second, pending(21, 1, 50, 3, 1, 300))   // Deadline 419 s: in flight.
	b.at(120*second, resolve(22, 11, postAll, false)) // …posted in the window: 10 counts.
	b.at(130*second, move(23, 60, 2, 80, 2))          // EUR: the partner owes us 80.
	return b
}

// TestNetPositions checks the net position per ledger, the in-flight pendings and the
// state of every transfer behind them, on a book with one transfer of each kind.
func TestNetPositions(t *testing.T) {
	b := nettingBook(t)
	b.at(250*second, move(24, 1, 50, 999, 1)) // After the cut-off: not counted.
	ledgers, _ := NewLedgers([]LedgerInfo{{Ledger: 1, Name: "USD", Scale: 2},
		{Ledger: 2, Name: "EUR", Scale: 2}})
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(50), model.U128(60)},
		Window:   Window{From: 100 * second, Until: 200 * second}, ListMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Positions) != 2 {
		t.Fatalf("%d positions", len(report.Positions))
	}
	usd, eur := report.Positions[0], report.Positions[1]
	// Credits 100 + 50 + 7 (post) + 10 (post of an older pending) = 167; debits 30.
	expectPosition(t, usd, 1, "USD", "167", "30", "137", "1.37", DirectionPayable, "23")
	expectPosition(t, eur, 2, "EUR", "0", "80", "-80", "-0.80", DirectionReceivable, "0")
	if report.TransfersCounted != 12 || len(report.Transfers) != 12 || report.Truncated {
		t.Errorf("counted %d listed %d", report.TransfersCounted, len(report.Transfers))
	}
	states := map[string]string{}
	for _, line := range report.Transfers {
		states[line.ID] = line.Kind + "/" + line.State
	}
	want := map[string]string{"12": "single/posted", "13": "single/posted",
		"14": "single/posted", "15": "pending/in_flight", "16": "pending/resolved",
		"17": "post/posted", "18": "pending/resolved", "19": "void/voided",
		"20": "pending/expired", "21": "pending/in_flight", "22": "post/posted",
		"23": "single/posted"}
	for id, state := range want {
		if states[id] != state {
			t.Errorf("transfer %s: %q, want %q", id, states[id], state)
		}
	}
}

func expectPosition(t *testing.T, p Position, ledgerNumber uint32, currency, credits, debits,
	net, netMajor, direction, inFlight string) {
	t.Helper()
	if p.Ledger != ledgerNumber || p.Currency != currency || p.CreditsPosted.String() != credits ||
		p.DebitsPosted.String() != debits || p.Net != net || p.NetMajor != netMajor ||
		p.Direction != direction || p.InFlightCredits.String() != inFlight {
		t.Errorf("position %+v; want ledger %d %s credits %s debits %s net %s (%s) %s, "+
			"in flight %s", p, ledgerNumber, currency, credits, debits, net, netMajor,
			direction, inFlight)
	}
}

// TestSettlementBooking books the settlement of a window as pending transfers, checks
// that they are in flight in the next window, and that once posted the position over
// both windows is flat.
func TestSettlementBooking(t *testing.T) {
	b := nettingBook(t)
	ledgers, _ := NewLedgers(nil)
	query := NettingQuery{Partners: []model.Uint128{model.U128(50), model.U128(60)},
		Window: Window{From: 100 * second, Until: 200 * second}}
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, query)
	if err != nil {
		t.Fatal(err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90), 2: model.U128(91)},
		FirstID: model.U128(500), Code: 7}
	settlements, _, err := report.SettlementTransfers(booking)
	if err != nil || len(settlements) != 2 {
		t.Fatalf("%d settlements: %v", len(settlements), err)
	}
	usd, eur := settlements[0], settlements[1]
	if usd.DebitAccountID != model.U128(50) || usd.CreditAccountID != model.U128(90) ||
		usd.Amount != model.U128(137) || usd.Flags != model.TransferPending ||
		eur.DebitAccountID != model.U128(91) || eur.CreditAccountID != model.U128(60) ||
		eur.Amount != model.U128(80) || eur.ID != model.U128(501) ||
		usd.UserData128 != model.U128(200*second) || usd.UserData64 != 200*second ||
		uint8(usd.UserData32>>24) != client.ClearingKindSettlement {
		t.Fatalf("settlements %+v %+v", usd, eur)
	}
	b.at(300*second, settlements...)
	query.Window = Window{From: 201 * second, Until: 400 * second}
	next, _ := Net(context.Background(), MemoryReader{b.ledger}, ledgers, query)
	if next.Positions[0].InFlightDebits != wide(137) || next.Positions[1].InFlightCredits != wide(80) ||
		next.Positions[0].SettlementInFlight != wide(137) {
		t.Fatalf("booked settlements not in flight: %+v", next.Positions)
	}
	query.Window = Window{From: 100 * second, Until: 300 * second}
	again, _ := Net(context.Background(), MemoryReader{b.ledger}, ledgers, query)
	booking.FirstID = model.U128(700)
	if _, _, err := again.SettlementTransfers(booking); !errors.Is(err, ErrBooking) {
		t.Fatalf("booked a second settlement while one is in flight: %v", err)
	}
	b.at(301*second, resolve(600, 500, postAll, false), resolve(601, 501, postAll, false))
	query.Window = Window{From: 100 * second, Until: 400 * second}
	whole, _ := Net(context.Background(), MemoryReader{b.ledger}, ledgers, query)
	for _, p := range whole.Positions {
		if p.Direction != DirectionFlat || p.Net != "0" {
			t.Errorf("after settling, ledger %d is %s %s", p.Ledger, p.Direction, p.Net)
		}
	}
}

func wide(value uint64) model.WideSum { return model.WideSum{Low: model.U128(value)} }

// TestNettingRefusals lists every query Net refuses before reading anything.
func TestNettingRefusals(t *testing.T) {
	b := nettingBook(t)
	ledgers, _ := NewLedgers(nil)
	many := make([]model.Uint128, PartnersMax+1)
	for i := range many {
		many[i] = model.U128(uint64(i + 1))
	}
	window := Window{From: 1, Until: 2}
	cases := map[string]NettingQuery{
		"no partner":      {Window: window},
		"too many":        {Partners: many, Window: window},
		"no cut-off":      {Partners: []model.Uint128{model.U128(50)}},
		"reversed":        {Partners: []model.Uint128{model.U128(50)}, Window: Window{From: 3, Until: 2}},
		"negative list":   {Partners: []model.Uint128{model.U128(50)}, Window: window, ListMax: -1},
		"zero account":    {Partners: []model.Uint128{{}}, Window: window},
		"listed twice":    {Partners: []model.Uint128{model.U128(50), model.U128(50)}, Window: window},
		"unknown partner": {Partners: []model.Uint128{model.U128(999)}, Window: window},
		"saga's account": {Partners: []model.Uint128{saga.SettlementAccountID(0, 1, 1)},
			Window: window},
	}
	for name, query := range cases {
		_, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, query)
		var status *StatusError
		switch {
		case name == "unknown partner" && errors.As(err, &status) &&
			status.Status == model.StatusAccountNotFound:
		case name != "unknown partner" && errors.Is(err, ErrNettingQuery):
		default:
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNettingListTruncated counts every transfer but lists at most ListMax, and says so.
func TestNettingListTruncated(t *testing.T) {
	b := nettingBook(t)
	ledgers, _ := NewLedgers(nil)
	report, err := Net(context.Background(), MemoryReader{b.ledger}, ledgers, NettingQuery{
		Partners: []model.Uint128{model.U128(50)},
		Window:   Window{From: 100 * second, Until: 200 * second}, ListMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	if report.TransfersCounted != 11 || len(report.Transfers) != 3 || !report.Truncated ||
		report.Positions[0].Net != "137" {
		t.Errorf("counted %d, listed %d, truncated %v, net %s", report.TransfersCounted,
			len(report.Transfers), report.Truncated, report.Positions[0].Net)
	}
}

// TestBookingRefusals: booking needs an id, a code, a settlement account per ledger with
// a position, and one partner account per such ledger.
func TestBookingRefusals(t *testing.T) {
	report := &NettingReport{Until: 5, Positions: []Position{{Ledger: 1,
		Accounts: []string{"50", "51"}, Direction: DirectionPayable, magnitude: wide(3)}}}
	via := map[uint32]model.Uint128{1: model.U128(90)}
	for name, booking := range map[string]Booking{
		"no id":        {Via: via, Code: 1},
		"no code":      {Via: via, FirstID: model.U128(1)},
		"no via":       {FirstID: model.U128(1), Code: 1},
		"two accounts": {Via: via, FirstID: model.U128(1), Code: 1},
	} {
		if _, _, err := report.SettlementTransfers(booking); !errors.Is(err, ErrBooking) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
