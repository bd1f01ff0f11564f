package clearing

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseAndFormatAmount(t *testing.T) {
	valid := []struct {
		text   string
		scale  uint8
		units  string
		format string
	}{
		{"123.45", 2, "12345", "123.45"},
		{"7", 2, "700", "7.00"},
		{".5", 2, "50", "0.50"},
		{"0.50", 1, "5", "0.5"},
		{"1.2300", 2, "123", "1.23"},
		{"0", 6, "0", "0.000000"},
		{"000012", 0, "12", "12"},
		{"340282366920938463463374607431768211455", 0,
			"340282366920938463463374607431768211455",
			"340282366920938463463374607431768211455"},
	}
	for _, c := range valid {
		units, err := ParseAmount(c.text, c.scale)
		if err != nil || units.String() != c.units || FormatAmount(units, c.scale) != c.format {
			t.Errorf("ParseAmount(%q, %d) = %s, %v (formats %q)", c.text, c.scale, units, err,
				FormatAmount(units, c.scale))
		}
	}
	for _, c := range []struct {
		text  string
		scale uint8
	}{{"", 2}, {".", 2}, {"1.234", 2}, {"-1", 2}, {"1e3", 0}, {"1,5", 1}, {"1.2.3", 2},
		{"340282366920938463463374607431768211456", 0}, {"3402823669209384634633746074317682114.56", 2}} {
		if units, err := ParseAmount(c.text, c.scale); err == nil {
			t.Errorf("ParseAmount(%q, %d) accepted: %s", c.text, c.scale, units)
		}
	}
}

func TestLedgersRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledgers.json")
	os.WriteFile(path, []byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2},`+
		`{"ledger":3,"name":"usdc","scale":6}]}`), 0o600)
	ledgers, err := LoadLedgers(path)
	if err != nil {
		t.Fatal(err)
	}
	for currency, want := range map[string]LedgerInfo{"usd": {1, "USD", 2},
		"USDC": {3, "usdc", 6}, "1": {1, "USD", 2}, "7": {Ledger: 7}} {
		if info, ok := ledgers.Resolve(currency); !ok || info != want {
			t.Errorf("Resolve(%q) = %+v, %v", currency, info, ok)
		}
	}
	for _, currency := range []string{"GBP", "0", "-1", ""} {
		if info, ok := ledgers.Resolve(currency); ok {
			t.Errorf("Resolve(%q) = %+v", currency, info)
		}
	}
	if ledgers.Name(3) != "usdc" || ledgers.Name(9) != "9" {
		t.Errorf("names %q %q", ledgers.Name(3), ledgers.Name(9))
	}
	bad := map[string][]LedgerInfo{
		"zero":         {{Ledger: 0, Name: "X"}},
		"scale":        {{Ledger: 1, Scale: 19}},
		"number twice": {{Ledger: 1}, {Ledger: 1}},
		"name twice":   {{Ledger: 1, Name: "usd"}, {Ledger: 2, Name: "USD"}},
	}
	for name, infos := range bad {
		if _, err := NewLedgers(infos); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	os.WriteFile(path, []byte(`{"ledgers":[{"ledger":1,"scael":2}]}`), 0o600)
	if _, err := LoadLedgers(path); err == nil {
		t.Error("a misspelt field was accepted")
	}
}

func TestParseTime(t *testing.T) {
	now := time.Unix(1_700_000_000, 5)
	for text, want := range map[string]uint64{
		"now":                            1_700_000_000_000_000_005,
		"1700000000000000000":            1_700_000_000_000_000_000,
		"2023-11-14T22:13:20Z":           1_700_000_000_000_000_000,
		"2023-11-14T22:13:20.000000001Z": 1_700_000_000_000_000_001,
		"2023-11-15T00:13:20+02:00":      1_700_000_000_000_000_000,
		"2023-11-14":                     1_699_920_000_000_000_000,
	} {
		if got, err := ParseTime(text, now); err != nil || got != want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	for _, text := range []string{"", "yesterday", "1969-12-31", "2023-13-01", "-5"} {
		if got, err := ParseTime(text, now); err == nil {
			t.Errorf("ParseTime(%q) accepted: %d", text, got)
		}
	}
	if FormatTime(1_700_000_000_000_000_001) != "2023-11-14T22:13:20.000000001Z" ||
		FormatTime(0) != "" {
		t.Error(FormatTime(1_700_000_000_000_000_001))
	}
}
