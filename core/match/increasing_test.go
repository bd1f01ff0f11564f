package match

import (
	"encoding/binary"
	"testing"

	"sequent/core/model"
)

// increasingOrder is limitOrder with the opt-in flag.
func increasingOrder(n, clientOrderID uint64, side model.Side, price, quantity uint64) model.Order {
	o := limitOrder(n, clientOrderID, side, price, quantity)
	o.Flags = model.OrderFlagClientOrderIDsIncreasing
	return o
}

// TestIncreasingClientOrderIDs walks one opted-in trading account through every answer
// of its key check, next to accounts that did not opt in and keep the window's rules.
func TestIncreasingClientOrderIDs(t *testing.T) {
	h := newHarness(t, Config{ClientOrderIDsPerAccount: 3}, testInstrumentRecord())
	for n := uint64(1); n <= 2; n++ {
		h.trader(n, 100_000, 1_000_000)
	}
	first := increasingOrder(1, 10, model.SideBuy, 100, 10)
	placed := h.place(1, first)[0]
	expectEqual(t, "opting place", placed.Status, model.StatusOK)
	plain := limitOrder(1, 11, model.SideBuy, 95, 10) // No flag: the opt-in stays.
	expectEqual(t, "next key", h.place(1, plain)[0].Status, model.StatusOK)

	h.sink.reset()
	expectEqual(t, "resend", h.place(1, first)[0], placed)
	expectEqual(t, "reports of a resend", len(h.sink.reports), 0)
	changed := first
	changed.Price = 105
	expectEqual(t, "same key, other fields", h.place(1, changed)[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)
	cancelWithPlaceKey := h.cancel(1, model.OrderCancel{ClientOrderID: 11, Account: 1,
		OrderID: placed.OrderID})[0]
	expectEqual(t, "same key, other kind", cancelWithPlaceKey.Status,
		model.StatusClientOrderIDReused)
	expectEqual(t, "not canceled by it", h.e.OpenOrderCount(), uint32(2))

	h.sink.reset()
	for range 2 { // Refused and not remembered: the same answer twice.
		stale := h.place(1, limitOrder(1, 5, model.SideBuy, 100, 10))[0]
		expectEqual(t, "key below the mark, never used", stale.Status,
			model.StatusClientOrderIDNotIncreasing)
	}
	expectEqual(t, "its reports", len(h.sink.reports), 2)
	expectEqual(t, "a rejection", h.sink.reports[0].Kind, model.ReportRejected)
	expectEqual(t, "with the status", h.sink.reports[0].Status,
		model.StatusClientOrderIDNotIncreasing)
	stale := h.cancel(1, model.OrderCancel{ClientOrderID: 9, Account: 1, OrderID: 77})[0]
	expectEqual(t, "a stale cancel", stale, model.OrderResult{OrderID: 77,
		Timestamp: h.clock, Status: model.StatusClientOrderIDNotIncreasing})
	staleReplace := h.replace(1, model.OrderReplace{ClientOrderID: 9, Account: 1,
		OrderID: placed.OrderID, Price: 100, Quantity: 20})[0]
	expectEqual(t, "a stale replace", staleReplace.Status, model.StatusClientOrderIDNotIncreasing)
	massResults := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 1, []model.MassCancel{{ClientOrderID: 9, Account: 1}},
		massResults, &h.sink)
	expectEqual(t, "a stale mass cancel", massResults[0].Status,
		model.StatusClientOrderIDNotIncreasing)
	expectEqual(t, "nothing canceled", h.e.OpenOrderCount(), uint32(2))

	// Gaps are allowed; the keys it skipped are then below the mark.
	expectEqual(t, "gap", h.place(1, limitOrder(1, 100, model.SideBuy, 90, 10))[0].Status,
		model.StatusOK)
	expectEqual(t, "skipped key", h.place(1, limitOrder(1, 50, model.SideBuy, 90, 10))[0].Status,
		model.StatusClientOrderIDNotIncreasing)
	// A cancel by client order id finds the order through the account's ring.
	byKey := h.cancel(1, model.OrderCancel{ClientOrderID: 101, Account: 1,
		OriginalClientOrderID: 100})[0]
	expectEqual(t, "cancel by client order id", byKey.Status, model.StatusOK)
	// The ring holds 3 commands (11, 100, 101 here): key 10 is forgotten now.
	expectEqual(t, "forgotten resend", h.place(1, first)[0].Status,
		model.StatusClientOrderIDNotIncreasing)
	expectEqual(t, "remembered resend", h.cancel(1, model.OrderCancel{ClientOrderID: 101,
		Account: 1, OriginalClientOrderID: 100})[0], byKey)
	notFound := h.cancel(1, model.OrderCancel{ClientOrderID: 102, Account: 1,
		OriginalClientOrderID: 10})[0]
	expectEqual(t, "cancel by a forgotten key", notFound.Status, model.StatusOrderNotFound)

	// Accounts that did not opt in keep the window: any unused key is new.
	other := limitOrder(1, 5, model.SideBuy, 90, 10)
	other.Account = 2
	expectEqual(t, "other trading account", h.place(1, other)[0].Status, model.StatusOK)
	expectEqual(t, "other client", h.place(2, limitOrder(2, 5, model.SideBuy, 90, 10))[0].Status,
		model.StatusOK)
	expectEqual(t, "other client, lower key", h.place(2,
		limitOrder(2, 3, model.SideBuy, 90, 10))[0].Status, model.StatusOK)

	unknownFlag := increasingOrder(2, 20, model.SideBuy, 90, 10)
	unknownFlag.Flags = 2
	expectEqual(t, "unknown flag", h.place(2, unknownFlag)[0].Status, model.StatusReservedField)
	expectEqual(t, "no opt-in by it", h.place(2, limitOrder(2, 4, model.SideBuy, 90, 10))[0].Status,
		model.StatusOK)
}

// TestIncreasingOptInOnlyByAcceptedPlace: a place with the flag opts its account in
// only when it is accepted: not with an invalid key, nor when refused (as a place with
// every reserved bit set is, which must not change how its account's keys are checked).
func TestIncreasingOptInOnlyByAcceptedPlace(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	h.trader(1, 100_000, 1_000_000)
	zero := increasingOrder(1, 0, model.SideBuy, 100, 10)
	expectEqual(t, "key 0", h.place(1, zero)[0].Status, model.StatusClientOrderIDMustNotBeZero)
	refused := increasingOrder(1, 10, model.SideBuy, 100, 10)
	refused.Instrument = 99
	expectEqual(t, "refused place", h.place(1, refused)[0].Status,
		model.StatusInstrumentNotFound)
	garbage := increasingOrder(1, 11, model.SideBuy, 100, 10)
	garbage.Flags = 0xff
	for i := range garbage.Reserved {
		garbage.Reserved[i] = 0xff
	}
	expectEqual(t, "every reserved bit set", h.place(1, garbage)[0].Status,
		model.StatusReservedField)
	expectEqual(t, "nothing opted in", len(h.e.increasing), 0)
	expectEqual(t, "window: a lower key is new",
		h.place(1, limitOrder(1, 9, model.SideBuy, 100, 10))[0].Status, model.StatusOK)
	expectEqual(t, "a refused key answers as remembered", h.place(1, refused)[0].Status,
		model.StatusInstrumentNotFound)
	accepted := increasingOrder(1, 20, model.SideBuy, 100, 10)
	placed := h.place(1, accepted)[0]
	expectEqual(t, "accepted place", placed.Status, model.StatusOK)
	expectEqual(t, "opted in", len(h.e.increasing), 1)
	expectEqual(t, "its resend", h.place(1, accepted)[0], placed)
	expectEqual(t, "then a lower key", h.place(1, limitOrder(1, 12, model.SideBuy, 100,
		10))[0].Status, model.StatusClientOrderIDNotIncreasing)
}

// TestIncreasingAccountsLimit: beyond IncreasingAccountsMax trading accounts an opting
// place is refused with accounts_limit_reached and not remembered, unless it is a resend
// of a remembered one; the account's commands without the flag keep the window. The
// table is filled by as many clients as it has shares (IncreasingAccountsPerClientMax
// each), so that the refusal of a seventeenth, which has opted in nothing, is the
// table's bound and not its share's.
func TestIncreasingAccountsLimit(t *testing.T) {
	h := newHarness(t, Config{}, testInstrumentRecord())
	const shares = IncreasingAccountsMax / IncreasingAccountsPerClientMax
	for n := uint64(1); n <= shares+1; n++ {
		h.trader(n, 100_000, 1_000_000)
	}
	// A place with the flag refused before the table is full is remembered in the window:
	// its resend after must answer the original result like any resend.
	refused := increasingOrder(1, 7, model.SideBuy, 100, 10)
	refused.Account, refused.Instrument = IncreasingAccountsMax+2, 99
	expectEqual(t, "refused before the table is full", h.place(1, refused)[0].Status,
		model.StatusInstrumentNotFound)
	events := make([]model.Order, model.EventsPerRequestMax)
	results := make([]model.OrderResult, len(events))
	for n := uint64(1); n <= shares; n++ {
		for account := uint64(1); account <= IncreasingAccountsPerClientMax; {
			batch := events[:min(uint64(len(events)), IncreasingAccountsPerClientMax+1-account)]
			for i := range batch {
				// Accepted, then canceled unfilled: the book stays empty.
				batch[i] = increasingOrder(n, 1, model.SideBuy, 100, 10)
				batch[i].TimeInForce, batch[i].Account = model.ImmediateOrCancel, account
				account++
			}
			h.e.PlaceOrders(&h.clock, n, batch, results, &h.sink)
			for i := range batch {
				if results[i].Status != model.StatusOK {
					t.Fatalf("client %d, account %d: %s", n, batch[i].Account, results[i].Status)
				}
			}
		}
	}
	h.check()
	expectEqual(t, "opted in", len(h.e.increasing), IncreasingAccountsMax)
	last := uint64(shares + 1)
	beyond := increasingOrder(last, 7, model.SideBuy, 100, 10)
	beyond.Account = IncreasingAccountsMax + 1
	for range 2 {
		expectEqual(t, "one account too many", h.place(last, beyond)[0].Status,
			model.StatusAccountsLimitReached)
	}
	expectEqual(t, "its resend once the table is full", h.place(1, refused)[0].Status,
		model.StatusInstrumentNotFound)
	plain := beyond
	plain.Flags = 0
	expectEqual(t, "without the flag", h.place(last, plain)[0].Status, model.StatusOK)
	plain.ClientOrderID = 3
	plain.Price = 95
	expectEqual(t, "window: a lower key is new", h.place(last, plain)[0].Status,
		model.StatusOK)
}

// newIncreasingScenario is the snapshot scenario with two opted-in trading accounts, one
// whose ring has wrapped.
func newIncreasingScenario(t tb) *harness {
	h := newSnapshotScenario(t)
	h.config.ClientOrderIDsPerAccount = 4
	h.e.config.ClientOrderIDsPerAccount = 4
	o := increasingOrder(1, 50, model.SideBuy, 90, 10)
	o.Account = 7
	h.placeOK(1, o)
	for key := uint64(51); key <= 56; key++ {
		o.ClientOrderID, o.Flags = key, 0
		h.place(1, o) // OK or insufficient funds: both remembered.
	}
	h.place(2, increasingOrder(2, 20, model.SideSell, 130, 10))
	h.check()
	return h
}

// TestIncreasingSnapshot: opted-in accounts survive a snapshot: the restored engine
// encodes to the same bytes and answers resends, stale keys and new keys as the original.
func TestIncreasingSnapshot(t *testing.T) {
	original := newIncreasingScenario(t)
	restored := newIncreasingScenario(t)
	restored.restoreRoundTrip()
	expectEqual(t, "accounts", len(restored.e.increasing), 2)
	for _, h := range []*harness{original, restored} {
		h.sink.reset()
		o := increasingOrder(1, 56, model.SideBuy, 90, 10)
		o.Account, o.Flags = 7, 0
		h.place(1, o)                                          // Resend.
		o.ClientOrderID = 52                                   // Forgotten (ring of 4: 53 to 56).
		h.place(1, o)                                          // Not increasing.
		o.ClientOrderID = 57                                   // New.
		h.place(1, o)                                          // OK or insufficient funds.
		h.place(2, limitOrder(2, 19, model.SideSell, 130, 10)) // Not increasing.
	}
	expectEqual(t, "reports", restored.sink.reports, original.sink.reports)
	expectEqual(t, "engine digest", restored.e.Digest(), original.e.Digest())
}

// TestIncreasingSnapshotRefusesDamage: the increasing section is checked like the rest,
// and files of versions before it may not claim any account.
func TestIncreasingSnapshotRefusesDamage(t *testing.T) {
	h := newIncreasingScenario(t)
	_, good := snapshotBytes(t, h)
	_, plain := snapshotBytes(t, newSnapshotScenario(t))
	// The second account (client 2, one entry) is last: head then entry.
	lastHead := len(good) - snapshotIncreasingEntry - snapshotIncreasingSize
	firstHead := snapshotHeaderSize +
		int(binary.LittleEndian.Uint32(good[12:]))*snapshotInstrumentSize +
		int(binary.LittleEndian.Uint32(good[16:]))*snapshotOrderSize +
		int(binary.LittleEndian.Uint32(good[20:]))*snapshotWindowEntrySize
	if lastHead != firstHead+snapshotIncreasingSize+4*snapshotIncreasingEntry {
		t.Fatalf("layout: first account at %d, last at %d", firstHead, lastHead)
	}
	damages := []snapshotDamage{
		{"count beyond the data", func(b []byte) []byte { b[48] = 3; return b }},
		{"count in version 3", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], 3)
			return b
		}},
		{"version 4 without accounts", func([]byte) []byte {
			b := append([]byte(nil), plain...)
			binary.LittleEndian.PutUint32(b[8:], 4)
			return b
		}},
		{"account 0", func(b []byte) []byte { clear(b[lastHead+8 : lastHead+16]); return b }},
		{"no entries", func(b []byte) []byte { clear(b[lastHead+16 : lastHead+20]); return b }},
		{"more entries than the ring", func(b []byte) []byte {
			b[firstHead+16] = 5
			return b
		}},
		{"window pending beyond the window", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[lastHead+20:], ClientOrderIDsMaxDefault+1)
			return b
		}},
		{"account twice", func(b []byte) []byte {
			copy(b[lastHead:lastHead+16], b[firstHead:firstHead+16])
			return b
		}},
		{"keys not increasing", func(b []byte) []byte {
			entry := firstHead + snapshotIncreasingSize + snapshotIncreasingEntry
			binary.LittleEndian.PutUint64(b[entry:], 1)
			return b
		}},
		{"entry kind", func(b []byte) []byte { b[len(b)-4] = 9; return b }},
		{"entry reserved", func(b []byte) []byte { b[len(b)-1] = 1; return b }},
	}
	expectDamagesRefused(t, h, good, damages)
	expectEqual(t, "with accounts: version", binary.LittleEndian.Uint32(good[8:]),
		uint32(snapshotVersion))
	expectEqual(t, "without: version 3 as before", binary.LittleEndian.Uint32(plain[8:]),
		uint32(3))
}

// TestIncreasingResendAcrossOptIn: a client that used keys through the window before
// its trading account opted in, and resends them after (a retry across its own opt-in),
// gets the original outcomes while the window can still remember them: a key above the
// opting key is not applied a second time (exactly once), a key below it is not refused
// as not increasing, and an order placed before the opt-in is still found by its client
// order id. Once the window has forgotten them, the account's own rules apply.
func TestIncreasingResendAcrossOptIn(t *testing.T) {
	h := newHarness(t, Config{ClientOrderIDsMax: 8, ClientOrderIDsPerAccount: 4},
		testInstrumentRecord())
	h.trader(1, 100_000, 1_000_000)
	below := limitOrder(1, 10, model.SideBuy, 80, 10)
	above := limitOrder(1, 1000, model.SideBuy, 85, 10)
	belowPlaced := h.place(1, below)[0]
	abovePlaced := h.place(1, above)[0]
	expectEqual(t, "pre-opt-in places", [2]model.Status{belowPlaced.Status,
		abovePlaced.Status}, [2]model.Status{model.StatusOK, model.StatusOK})
	expectEqual(t, "opting place", h.place(1, increasingOrder(1, 500, model.SideBuy, 90,
		10))[0].Status, model.StatusOK)
	expectEqual(t, "resend above the opting key", h.place(1, above)[0], abovePlaced)
	expectEqual(t, "resend below the opting key", h.place(1, below)[0], belowPlaced)
	expectEqual(t, "no duplicate order", h.e.OpenOrderCount(), uint32(3))
	changed := above
	changed.Price = 95
	expectEqual(t, "the key above, other fields", h.place(1, changed)[0].Status,
		model.StatusClientOrderIDExistsWithDifferentFields)
	byKey := h.cancel(1, model.OrderCancel{ClientOrderID: 501, Account: 1,
		OriginalClientOrderID: 10})[0]
	expectEqual(t, "cancel of a pre-opt-in order by its key",
		[2]uint64{byKey.OrderID, uint64(byKey.Status)},
		[2]uint64{belowPlaced.OrderID, uint64(model.StatusOK)})
	h.check()

	// Eight commands of another account fill the window: the pre-opt-in keys are gone.
	for key := uint64(1); key <= 8; key++ {
		o := limitOrder(1, key, model.SideBuy, 80, 10)
		o.Account, o.TimeInForce = 2, model.ImmediateOrCancel
		h.place(1, o)
	}
	expectEqual(t, "forgotten key below the mark", h.place(1, below)[0].Status,
		model.StatusClientOrderIDNotIncreasing)
	again := above
	again.Price = 95
	expectEqual(t, "a key above the mark is new again", h.place(1, again)[0].Status,
		model.StatusOK)
	h.check()
}

// TestIncreasingSnapshotWindowBeforeOptIn: a snapshot taken while the window may still
// hold an opted-in account's commands from before its opt-in carries how long that
// lasts: the restored engine answers a resend across the opt-in, then forgets it after
// the same number of window commands, exactly as the engine that was never restored
// (same results, reports and digest).
func TestIncreasingSnapshotWindowBeforeOptIn(t *testing.T) {
	run := func(restoreAfter int) (results []model.OrderResult, digest [32]byte,
		reports []model.ExecutionReport) {
		h := newHarness(t, Config{ClientOrderIDsMax: 8, ClientOrderIDsPerAccount: 4},
			testInstrumentRecord())
		h.trader(1, 100_000, 1_000_000)
		above := limitOrder(1, 1000, model.SideBuy, 85, 10)
		h.placeOK(1, above)
		h.placeOK(1, increasingOrder(1, 500, model.SideBuy, 90, 10))
		h.sink.reset()
		for step := range 10 {
			if step == restoreAfter {
				h.restoreRoundTrip()
			}
			// A window command of another account, then the resend across the opt-in:
			// answered from the window for 6 steps (8 slots minus the first place's and
			// the opting place's: remembered in its ring, it ages the window too), then new.
			o := limitOrder(1, uint64(1+step), model.SideBuy, 80, 10)
			o.Account, o.TimeInForce = 2, model.ImmediateOrCancel
			h.place(1, o)
			results = append(results, h.place(1, above)[0])
		}
		h.check()
		return results, h.e.Digest(), h.sink.reports
	}
	want, wantDigest, wantReports := run(-1)
	for i := range 6 {
		expectEqual(t, "resend answered from the window", want[i].OrderID, uint64(1))
	}
	if want[6].Status != model.StatusOK || want[6].OrderID == 1 {
		t.Fatalf("once forgotten: %v, want a new order", want[6])
	}
	expectEqual(t, "then a resend from the ring", want[9], want[6])
	for _, restoreAfter := range []int{0, 3, 6, 9} {
		got, gotDigest, gotReports := run(restoreAfter)
		expectEqual(t, "results", got, want)
		expectEqual(t, "reports", gotReports, wantReports)
		expectEqual(t, "digest", gotDigest, wantDigest)
	}
}

// spanScenario is an engine with a window of 8 commands holding one place of trading
// account 2 (key 1, an order resting at 80), whose trading account 1 has just opted in
// (key 100): the window may still hold account 1's keys from before, so its new keys
// are looked up there too.
func spanScenario(t *testing.T) *harness {
	h := newHarness(t, Config{ClientOrderIDsMax: 8, ClientOrderIDsPerAccount: 4},
		testInstrumentRecord())
	h.trader(1, 100_000, 1_000_000)
	h.placeOK(1, spanWindowPlace())
	h.placeOK(1, increasingOrder(1, 100, model.SideBuy, 90, 10))
	return h
}

// spanWindowPlace is the window command of spanScenario.
func spanWindowPlace() model.Order {
	o := limitOrder(1, 1, model.SideBuy, 80, 10)
	o.Account = 2
	return o
}

// spanOptedIn is the opted-in account's command number i after its opt-in: an IOC
// place with a new key, which rests nothing.
func spanOptedIn(i uint64) model.Order {
	o := limitOrder(1, 100+i, model.SideBuy, 85, 10)
	o.TimeInForce = model.ImmediateOrCancel
	return o
}

// TestIncreasingSpanEndsUnderOptedInTraffic: when only opted-in commands follow a window
// entry, they age the window (rules version 4): the entry is forgotten once 8 commands
// (the window's size, the opting place's included) were remembered after it, so a
// resend of it is new again, and the opted-in account's look-ups of its new keys in the
// window (7: its commands after the opting one until then) stop for good, as does the
// window's own work (no slot taken once no key is left). Before, the window aged only by
// window commands: it kept the entry, and every new key of the account probed it forever.
func TestIncreasingSpanEndsUnderOptedInTraffic(t *testing.T) {
	h := spanScenario(t)
	for i := uint64(1); i <= 7; i++ {
		expectEqual(t, "opted-in place", h.place(1, spanOptedIn(i))[0].Status,
			model.StatusOK)
	}
	expectEqual(t, "window probes during the span", h.e.windowSpanProbes, uint64(7))
	expectEqual(t, "keyed entries left", h.e.window.index.count, uint32(0))
	taken := h.e.window.remembered
	for i := uint64(8); i <= 40; i++ {
		h.place(1, spanOptedIn(i))
	}
	expectEqual(t, "window probes after the span", h.e.windowSpanProbes, uint64(7))
	expectEqual(t, "window slots taken once empty", h.e.window.remembered, taken)
	resend := h.place(1, spanWindowPlace())[0]
	if resend.Status != model.StatusOK || resend.OrderID == 1 {
		t.Fatalf("resend after 8 commands: %v, want a new order", resend)
	}
	h.check()
}

// TestIncreasingSnapshotMidSpan: a snapshot taken while opted-in commands are ageing the
// window (its section then holds slots without a key after the window's entry) restores
// an engine that forgets the entry after the same number of commands, probes the window
// exactly as long, and ends in the same state as the engine never restored.
func TestIncreasingSnapshotMidSpan(t *testing.T) {
	const steps = 12
	run := func(restoreAfter uint64) (results []model.OrderResult, probes []uint64,
		digest [32]byte) {
		h := spanScenario(t)
		for i := uint64(1); i <= steps; i++ {
			if i == restoreAfter {
				h.restoreRoundTrip()
			}
			before := h.e.windowSpanProbes
			results = append(results, h.place(1, spanOptedIn(i))[0])
			probes = append(probes, h.e.windowSpanProbes-before)
			// A resend of the window's entry: its original result while remembered.
			results = append(results, h.place(1, spanWindowPlace())[0])
		}
		h.check()
		return results, probes, h.e.Digest()
	}
	want, wantProbes, wantDigest := run(0)
	expectEqual(t, "probes", wantProbes,
		[]uint64{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0})
	// Step i's resend is results[2i-1]: the entry is forgotten by step 7's place (the
	// 8th command remembered after it, with the opting place).
	expectEqual(t, "resend while remembered", want[2*6-1].OrderID, uint64(1))
	if want[2*7-1].Status != model.StatusOK || want[2*7-1].OrderID == 1 {
		t.Fatalf("resend once forgotten: %v, want a new order", want[2*7-1])
	}
	for _, restoreAfter := range []uint64{1, 3, 7, 8, 12} {
		got, gotProbes, gotDigest := run(restoreAfter)
		expectEqual(t, "results", got, want)
		expectEqual(t, "probes", gotProbes, wantProbes)
		expectEqual(t, "digest", gotDigest, wantDigest)
	}
}

// TestIncreasingSnapshotKeylessSlotsRefuseDamage: the window's slots without a key are
// encoded one way only (56 zero bytes, never first), and an account's window pending
// may not outlast the window's newest keyed entry (it could change nothing but probes).
func TestIncreasingSnapshotKeylessSlotsRefuseDamage(t *testing.T) {
	h := spanScenario(t)
	h.place(1, spanOptedIn(1), spanOptedIn(2))
	_, good := snapshotBytes(t, h)
	window := snapshotHeaderSize +
		int(binary.LittleEndian.Uint32(good[12:]))*snapshotInstrumentSize +
		int(binary.LittleEndian.Uint32(good[16:]))*snapshotOrderSize
	expectEqual(t, "window records: the entry and 3 keyless slots",
		binary.LittleEndian.Uint32(good[20:]), uint32(4))
	keyless := window + snapshotWindowEntrySize
	head := window + 4*snapshotWindowEntrySize
	expectEqual(t, "keyless slot", allZero(good[keyless:keyless+snapshotWindowEntrySize]),
		true)
	expectEqual(t, "window pending: 8 slots minus the 3 taken since the entry",
		binary.LittleEndian.Uint32(good[head+20:]), uint32(5))
	damages := []snapshotDamage{
		{"keyless slot first", func(b []byte) []byte {
			clear(b[window : window+snapshotWindowEntrySize])
			return b
		}},
		{"keyless slot with a byte set", func(b []byte) []byte {
			b[keyless+45] = 1
			return b
		}},
		{"window pending beyond the newest entry", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[head+20:], 6)
			return b
		}},
	}
	expectDamagesRefused(t, h, good, damages)
}
