package bench

import (
	"math/rand/v2"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestParseMix reads single names and weighted lists and rejects the rest.
func TestParseMix(t *testing.T) {
	mix, err := ParseMix("single=70, two-phase=20,linked=10,orders")
	if err != nil || mix != (Mix{70, 20, 10, 1}) || mix.String() !=
		"single=70,two-phase=20,linked=10,orders=1" {
		t.Fatalf("mix %v (%s), error %v", mix, mix, err)
	}
	for _, bad := range []string{"", "bogus", "single=x", "single=0", "single=99999"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
	if _, err := ParseChoice("zipf"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseChoice("random"); err == nil {
		t.Fatal("ParseChoice accepted random")
	}
}

// TestValidate rejects each out-of-range setting with a message naming it.
func TestValidate(t *testing.T) {
	valid := Config{Addresses: []string{"x"}, Count: 1}.WithDefaults()
	if err := valid.Validate(); err != nil {
		t.Fatal(err)
	}
	lone := valid
	lone.LoneReads, lone.Inflight = true, 1
	if err := lone.Validate(); err != nil {
		t.Fatalf("lone reads with one request in flight: %v", err)
	}
	for _, test := range []struct {
		change func(*Config)
		word   string
	}{
		{func(c *Config) { c.Connections = ConnectionsMax + 1 }, "connections"},
		{func(c *Config) { c.Inflight = InflightMax + 1 }, "inflight"},
		{func(c *Config) { c.Events = EventsMax + 1 }, "events"},
		{func(c *Config) { c.Connections, c.Inflight, c.Events = 128, 128, 100 }, "inflight"},
		{func(c *Config) { c.Accounts = 1 }, "accounts"},
		{func(c *Config) { c.Mix = Mix{KindLinked: 1}; c.Events = 1 }, "linked"},
		{func(c *Config) { c.Mix = Mix{KindOrders: 1}; c.Connections = 3; c.Accounts = 2 },
			"trader"},
		{func(c *Config) { c.Count = 0 }, "stop"},
		{func(c *Config) { c.Rate = -1 }, "rate"},
		{func(c *Config) { c.Choice, c.ZipfSkew = ChoiceZipf, 1 }, "zipf"},
		// --lone-reads did nothing outside its mode and said nothing (session 52).
		{func(c *Config) { c.LoneReads, c.Inflight = true, 4 }, "lone"},
		{func(c *Config) { c.LoneReads, c.Inflight, c.Callers = true, 1, 8 }, "lone"},
		{func(c *Config) { c.LoneReads, c.Inflight, c.Rate = true, 1, 100 }, "lone"},
		{func(c *Config) { c.LoneReads, c.Inflight, c.Driver = true, 1, DriverWire }, "lone"},
		{func(c *Config) { c.Choice, c.HotAccounts = ChoiceHot, 0 }, "hot"},
		{func(c *Config) { c.Choice, c.HotAccounts, c.HotFraction = ChoiceHot, 5, 2 }, "hot"},
	} {
		config := valid
		test.change(&config)
		err := config.Validate()
		if err == nil || !strings.Contains(err.Error(), test.word) {
			t.Errorf("error %v, want one about %s", err, test.word)
		}
	}
}

// TestChainLength splits every request size into chains of 2 to 4 that fill it exactly.
func TestChainLength(t *testing.T) {
	for events := 2; events <= 40; events++ {
		for roll := range chainLengthMax - chainLengthMin + 1 {
			total := 0
			for total < events {
				length := chainLength(events-total, roll)
				if length < chainLengthMin || length > chainLengthMax {
					t.Fatalf("%d events, roll %d: chain of %d", events, roll, length)
				}
				total += length
			}
			if total != events {
				t.Fatalf("%d events, roll %d: chains cover %d", events, roll, total)
			}
		}
	}
}

// TestChooserShapes draws many accounts and checks each choice's shape: uniform spreads,
// zipf (both formulas) favours low ranks, hot sends its fraction to the hot set; pairs
// always differ.
func TestChooserShapes(t *testing.T) {
	const accounts, draws = 1000, 20000
	for _, config := range []Config{
		{Accounts: accounts, Choice: ChoiceUniform},
		{Accounts: accounts, Choice: ChoiceZipf, ZipfSkew: 0.99},
		{Accounts: accounts, Choice: ChoiceZipf, ZipfSkew: 1.5},
		{Accounts: accounts, Choice: ChoiceHot, HotAccounts: 10, HotFraction: 0.9},
	} {
		var table *zipfTable
		if config.Choice == ChoiceZipf && config.ZipfSkew < 1 {
			table = newZipfTable(accounts, config.ZipfSkew)
		}
		c := newChooser(&config, table, rand.New(rand.NewPCG(1, 2)), nil)
		low := 0 // Draws among the first 10 accounts.
		for range draws {
			debit, credit := c.pair()
			if debit == credit || debit >= accounts || credit >= accounts {
				t.Fatalf("%s: pair %d, %d", config.Choice, debit, credit)
			}
			if debit < 10 {
				low++
			}
		}
		share := float64(low) / draws
		uniform := config.Choice == ChoiceUniform
		if (uniform && share > 0.05) || (!uniform && share < 0.3) {
			t.Errorf("%s (skew %v): %.2f of draws among the first 1%% of accounts",
				config.Choice, config.ZipfSkew, share)
		}
	}
}

// TestMovedPrice keeps moves on their side of the center, within the spread, except a
// crossing move.
func TestMovedPrice(t *testing.T) {
	if p := movedPrice(orderCenterPrice-1, model.SideBuy, 3, true, false); p !=
		orderCenterPrice-1 {
		t.Fatalf("bid moved up to %d", p)
	}
	if p := movedPrice(orderCenterPrice+orderSpreadTicks, model.SideSell, 3, true,
		false); p != orderCenterPrice+orderSpreadTicks {
		t.Fatalf("ask moved out to %d", p)
	}
	if p := movedPrice(orderCenterPrice-5, model.SideBuy, 2, false, true); p <=
		orderCenterPrice {
		t.Fatalf("crossing bid at %d", p)
	}
	if p := movedPrice(orderCenterPrice+5, model.SideSell, 2, false, false); p !=
		orderCenterPrice+3 {
		t.Fatalf("ask moved down to %d", p)
	}
}

// TestIDs keeps derived ids out of the system range and away from 0, stable per seed,
// and different per run for transfers only.
func TestIDs(t *testing.T) {
	a, b := newIDSpace(1, 1, false), newIDSpace(1, 2, false)
	if a.account(0) != b.account(0) || a.transfer(0, 1) == b.transfer(0, 1) ||
		a.instrument != b.instrument || a.clientOrderID(1) == b.clientOrderID(1) {
		t.Fatal("ids do not derive as documented")
	}
	for _, id := range []model.Uint128{a.account(0), a.transfer(3, 7), a.issuer(2),
		a.traderBaseAccount(5), a.fundingTransfer(5, 3)} {
		if id.IsZero() || model.IsSystemID(id) {
			t.Fatalf("id %s is zero or reserved", id)
		}
	}
	if a.instrument == 0 || a.clientOrderID(1) == 0 {
		t.Fatal("zero instrument or client order id")
	}
}

func TestFormatting(t *testing.T) {
	if got := grouped(1234567); got != "1,234,567" {
		t.Fatalf("grouped: %s", got)
	}
	for ns, want := range map[int64]string{1500: "1.50 µs", 123456: "123 µs",
		45_600_000: "45.6 ms", 2_000_000_000: "2.00 s"} {
		if got := formatNs(ns); got != want {
			t.Errorf("formatNs(%d) = %s, want %s", ns, got, want)
		}
	}
	if percentileLabel(4) != "99.99%" || percentileLabel(1) != "90%" {
		t.Fatal("percentile labels")
	}
	if tickLabel(10_000_000) != "10 ms" || tickLabel(200_000) != "200 µs" ||
		tickLabel(1_000_000_000) != "1 s" {
		t.Fatalf("tick labels %s %s %s", tickLabel(10_000_000), tickLabel(200_000),
			tickLabel(1_000_000_000))
	}
}

// With shards, the chooser puts the asked share of pairs across shards (0, 10%, half,
// all), whatever the account choice, and never pairs an account with itself.
func TestChooserCrossShardShare(t *testing.T) {
	const accounts, draws = 1000, 20000
	shardOf := make([]uint16, accounts)
	for i := range shardOf {
		shardOf[i] = uint16(i % 3) // Three shards.
	}
	for _, choice := range []Config{
		{Accounts: accounts, Choice: ChoiceUniform},
		{Accounts: accounts, Choice: ChoiceHot, HotAccounts: 10, HotFraction: 0.9},
	} {
		for _, share := range []float64{0, 0.1, 0.5, 1} {
			config := choice
			config.CrossShard, config.CrossShardSet = share, true
			c := newChooser(&config, nil, rand.New(rand.NewPCG(3, 4)), shardOf)
			crossing := 0
			for range draws {
				debit, credit := c.pair()
				if debit == credit {
					t.Fatalf("%s %v: account %d paired with itself", choice.Choice, share, debit)
				}
				if shardOf[debit] != shardOf[credit] {
					crossing++
				}
			}
			got := float64(crossing) / draws
			if got < share-0.02 || got > share+0.02 || c.crossing != uint64(crossing) {
				t.Errorf("%s: asked %.2f across shards, got %.3f (counted %d of %d)",
					choice.Choice, share, got, c.crossing, c.pairs)
			}
		}
	}
}
