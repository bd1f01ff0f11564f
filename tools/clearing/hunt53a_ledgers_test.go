package clearing

import "testing"

// TestHunt53aLedgerNamedAnotherLedgersNumberIsRefused: a statement's currency is a name
// of the registry or a ledger number (Resolve), names first. A registry naming ledger 2
// "1" made every statement line in currency "1" ledger 2's, while "1" is ledger 1's
// number: the lines were matched against the wrong ledger without a word. Such a name is
// refused; a name that is its own ledger's number reads the same either way and stays.
func TestHunt53aLedgerNamedAnotherLedgersNumberIsRefused(t *testing.T) {
	for _, infos := range [][]LedgerInfo{
		{{Ledger: 1, Name: "USD", Scale: 2}, {Ledger: 2, Name: "1", Scale: 2}},
		{{Ledger: 2, Name: " 7 ", Scale: 2}}, // Ledger 7, unlisted, is read as 7 too.
		{{Ledger: 2, Name: "001", Scale: 2}},
	} {
		if ledgers, err := NewLedgers(infos); err == nil {
			resolved, _ := ledgers.Resolve(infos[len(infos)-1].Name)
			t.Errorf("%+v accepted: currency %q resolves to ledger %d", infos,
				infos[len(infos)-1].Name, resolved.Ledger)
		}
	}
	ledgers, err := NewLedgers([]LedgerInfo{{Ledger: 5, Name: "5", Scale: 0},
		{Ledger: 6, Name: "006", Scale: 1}, {Ledger: 7, Name: "X7", Scale: 2}})
	if err != nil {
		t.Fatalf("names that are their own ledger's number: %v", err)
	}
	for currency, want := range map[string]uint32{"5": 5, "6": 6, "006": 6, "x7": 7} {
		if info, ok := ledgers.Resolve(currency); !ok || info.Ledger != want {
			t.Errorf("Resolve(%q) = %+v, %v; want ledger %d", currency, info, ok, want)
		}
	}
}
