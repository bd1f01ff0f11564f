package reconcile

import (
	"fmt"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// TestPairingRules decides single references by hand, one rule each: exact pairs first,
// then in order, then leftovers as missing or duplicates; unreferenced payments; posts and
// voids of payments made before the window.
func TestPairingRules(t *testing.T) {
	line := func(number uint64, amount uint64, status uint8) entry {
		return entry{key: model.U128(9), order: number, amount: model.U128(amount),
			side: sideCredit, status: status}
	}
	transfer := func(id uint64, amount uint64, kind uint8) entry {
		return entry{key: model.U128(9), order: id, origin: model.U128(id),
			amount: model.U128(amount), side: sideCredit, ledger: 1, kind: kind}
	}
	post := func(id, pendingID, amount uint64) entry {
		e := transfer(pendingID, amount, kindPost)
		e.order = id
		return e
	}
	cases := []struct {
		name    string
		theirs  []entry
		ours    []entry
		want    []string // kind:line:transfer
		matched int
	}{
		{"agree", []entry{line(2, 5, statusPosted)}, []entry{transfer(100, 5, kindSingle)},
			nil, 1},
		{"a wrong duplicate before the right line is the duplicate",
			[]entry{line(2, 6, 0), line(3, 5, 0)}, []entry{transfer(100, 5, kindSingle)},
			[]string{"duplicate_theirs:2:"}, 1},
		{"amount and status differ", []entry{line(2, 6, statusPending)},
			[]entry{transfer(100, 5, kindSingle)},
			[]string{"amount:2:100", "status:2:100"}, 0},
		{"two payments, no line", nil,
			[]entry{transfer(100, 5, kindSingle), transfer(101, 5, kindSingle)},
			[]string{"missing_theirs:0:100", "duplicate_ours:0:101"}, 0},
		{"two lines, no payment", []entry{line(2, 5, 0), line(7, 5, 0)}, nil,
			[]string{"missing_ours:2:", "duplicate_theirs:7:"}, 0},
		{"two and two", []entry{line(2, 5, 0), line(3, 5, 0)},
			[]entry{transfer(100, 5, kindSingle), transfer(101, 5, kindSingle)}, nil, 2},
		{"pending posted in part", []entry{line(2, 3, statusPosted)},
			[]entry{transfer(100, 5, kindPending), post(102, 100, 3)}, nil, 1},
		{"pending voided", []entry{line(2, 5, statusVoided)},
			[]entry{transfer(100, 5, kindPending), {key: model.U128(9), order: 103,
				origin: model.U128(100), amount: model.U128(5), side: sideCredit, ledger: 1,
				kind: kindVoid}}, nil, 1},
		{"pending open and expired", []entry{line(2, 5, statusPending), line(3, 4, statusExpired)},
			[]entry{transfer(100, 5, kindPending), transfer(101, 4, kindPendingExpired)}, nil, 2},
		{"post of an earlier payment is only noted", nil, []entry{post(102, 50, 3)}, nil, 0},
	}
	for _, c := range cases {
		got, summary := decideOne(t, model.U128(9), c.theirs, c.ours)
		if !slices.Equal(got, c.want) || summary.Matched != c.matched {
			t.Errorf("%s: %v, matched %d; want %v, matched %d", c.name, got, summary.Matched,
				c.want, c.matched)
		}
	}
	got, summary := decideOne(t, model.Uint128{}, nil, []entry{{origin: model.U128(5),
		amount: model.U128(1), side: sideDebit, kind: kindSingle, ledger: 1}})
	if !slices.Equal(got, []string{"missing_theirs:0:5"}) || summary.Unreferenced != 1 {
		t.Errorf("unreferenced: %v %+v", got, summary)
	}
	_, summary = decideOne(t, model.U128(9), nil, []entry{post(102, 50, 3)})
	if summary.ResolutionsBeforeWindow != 1 || summary.OurPayments != 0 {
		t.Errorf("orphan post: %+v", summary)
	}
}

// decideOne runs the merger's decision for one reference and returns the differences as
// kind:line:transfer.
func decideOne(t *testing.T, key model.Uint128, theirs, ours []entry) ([]string, Summary) {
	ledgers, _ := clearing.NewLedgers(nil)
	summary := Summary{Differences: map[string]int{}}
	sink := newSink(&summary, 100, nil, nil)
	m := &merger{sink: sink, summary: &summary, ledgers: ledgers,
		account: clearing.LedgerInfo{Ledger: 1}, theirsGroup: theirs, oursGroup: ours}
	m.decide(key)
	var got []string
	for _, d := range sink.first {
		got = append(got, fmt.Sprintf("%s:%d:%s", d.Kind, d.Line, d.TransferID))
	}
	return got, summary
}
