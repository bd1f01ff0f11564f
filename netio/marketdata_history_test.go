package netio

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/match"
	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReplayPlanWalksOnlyWhatFits: planning a resume walked the whole retained history
// twice (counting, then replaying) whatever it asked for, so a client repeating
// md_subscribe with an old from_op on a quiet instrument made the publisher read up to
// 2^18 updates per frame. A plan for one instrument now visits that instrument's updates
// only, and any plan stops one update past what fits the subscriber's bound.
func TestReplayPlanWalksOnlyWhatFits(t *testing.T) {
	m := &marketData{config: MarketDataConfig{HistoryUpdatesMax: 1 << 12,
		SubscriberBytesMax: 64*model.MarketDataUpdateSize + wire.HeaderSize}.withDefaults()}
	m.history.init(m.config.HistoryUpdatesMax, 1, marketDataInstrumentsLeftMax)
	quiet, busy := uint32(2), uint32(1)
	for op := uint64(1); op <= 1<<13; op++ { // Twice the history: the ring has wrapped.
		instrument := busy
		if op%1024 == 0 {
			instrument = quiet
		}
		m.history.add(&model.MarketDataUpdate{Instrument: instrument, Op: op})
	}
	s := &marketDataSubscriber{conn: &connection{}, instruments: map[uint32]uint32{},
		tops: map[uint32]topOfBook{}}
	s.instruments[quiet] = wire.ChannelBook
	before := m.history.walked
	positions, fits := m.replayPlan(s, &wire.MarketDataSubscribe{Instrument: quiet,
		Channels: wire.ChannelBook, FromOp: m.history.fromOp})
	if walked := m.history.walked - before; !fits || len(positions) != 4 || walked != 4 {
		t.Fatalf("resume of the quiet instrument (4 held updates among 4096): %d positions, "+
			"fits %v, %d updates walked", len(positions), fits, walked)
	}
	s.all = wire.ChannelBook
	before = m.history.walked
	_, fits = m.replayPlan(s, &wire.MarketDataSubscribe{Channels: wire.ChannelBook,
		FromOp: m.history.fromOp})
	if walked := m.history.walked - before; fits || walked != 64+1 {
		t.Fatalf("resume of every instrument past the bound of 64 updates: fits %v, %d walked",
			fits, walked)
	}
}

// TestReplayPlanMatchesAScan: the history's per-instrument chains give what a scan of the
// ring gives (every held update of the instrument with op >= from, oldest first) through
// random adds, wraps and resets. Seeded (MARKET_DATA_SEED=n picks another seed; a
// failure prints the one it ran with).
func TestReplayPlanMatchesAScan(t *testing.T) {
	seed := marketDataSeed(t, 20261204)
	random := rand.New(rand.NewPCG(seed, seed))
	var h marketDataHistory
	h.init(37, 1, marketDataInstrumentsLeftMax)
	op := uint64(0)
	for step := range 20_000 {
		if random.IntN(500) == 0 {
			op += 3
			h.reset(op + 1)
			continue
		}
		op += uint64(random.IntN(2)) // Several updates may share an op.
		h.add(&model.MarketDataUpdate{Instrument: uint32(random.IntN(4)) + 1, Op: max(op, 1)})
		instrument := uint32(random.IntN(5)) // 0: every instrument.
		from := h.fromOp + uint64(random.IntN(8))
		var want []uint64
		for i := range h.updates {
			position := h.added - uint64(len(h.updates)) + uint64(i)
			u := h.at(position)
			if u.Op >= from && (instrument == 0 || u.Instrument == instrument) {
				want = append(want, position)
			}
		}
		var got []uint64
		h.newestFirst(instrument, from, func(position uint64) bool {
			got = append(got, position)
			return true
		})
		slices.Reverse(got) // Oldest first, as the scan.
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d step %d: instrument %d from op %d: walked %v, scan %v", seed, step,
				instrument, from, got, want)
		}
	}
}

// TestHistoryHoldsFromMatchesWhatLeft: holdsFrom (the per-instrument resume rule) against
// a record of every update that left the ring since the last reset, through random adds,
// wraps and resets (a feed loss), with room for 3 instruments' figures among 6. A yes is
// always right: nothing of the instrument (0: of any) with op >= from left, and from is
// not below the last reset. A no is right too, except for an instrument without its own
// figure once another such one lost an update (the shared figure is conservative).
// Seeded as TestReplayPlanMatchesAScan.
func TestHistoryHoldsFromMatchesWhatLeft(t *testing.T) {
	seed := marketDataSeed(t, 20261206)
	random := rand.New(rand.NewPCG(seed, seed))
	var h marketDataHistory
	h.init(23, 1, 3)
	var left []model.MarketDataUpdate // Since the last reset.
	op, sinceOp := uint64(1), uint64(1)
	exactBelowOldest, conservative := 0, 0
	for step := range 50_000 {
		if random.IntN(2000) == 0 {
			op += 3
			h.reset(op)
			left, sinceOp = left[:0], op
			continue
		}
		op += uint64(random.IntN(2)) // Several updates may share an op.
		// Instrument 1 is busy, the others quieter.
		instrument := uint32(1)
		if random.IntN(3) == 0 {
			instrument = uint32(random.IntN(6)) + 1
		}
		if len(h.updates) == h.max {
			left = append(left, *h.at(h.added - uint64(h.max)))
		}
		h.add(&model.MarketDataUpdate{Instrument: instrument, Op: op})
		asked := uint32(random.IntN(7)) // 0: every instrument.
		from := max(sinceOp, h.fromOp) + uint64(random.IntN(12))
		if from > 4 {
			from -= 4 // Also below the oldest op.
		}
		exact := from >= sinceOp
		for i := range left {
			if left[i].Op >= from && (asked == 0 || left[i].Instrument == asked) {
				exact = false
			}
		}
		_, tracked := h.leftOp.get(asked)
		own := asked == 0 || tracked || h.leftOpUntracked == 0
		got := h.holdsFrom(asked, from)
		if got && !exact || !got && exact && own {
			t.Fatalf("seed %d step %d: instrument %d from op %d (since %d, oldest %d): "+
				"holdsFrom %v, exact %v", seed, step, asked, from, sinceOp, h.fromOp, got,
				exact)
		}
		if got && from < h.fromOp {
			exactBelowOldest++
		}
		if !got && exact {
			conservative++
		}
	}
	if exactBelowOldest == 0 || conservative == 0 {
		t.Fatalf("seed %d: %d resumes held below the oldest op, %d refused conservatively: "+
			"the walk did not reach both cases", seed, exactBelowOldest, conservative)
	}
}

// TestHistoryLeftTableSizedForEveryInstrument: leftOp has an entry for every instrument a
// shard holds by default, and the ring evicts without allocating, with that many
// instruments and past it (the shared figure).
func TestHistoryLeftTableSizedForEveryInstrument(t *testing.T) {
	if marketDataInstrumentsLeftMax != match.InstrumentsMaxDefault {
		t.Fatalf("marketDataInstrumentsLeftMax %d, the engine's default instrument bound %d",
			marketDataInstrumentsLeftMax, match.InstrumentsMaxDefault)
	}
	for _, instruments := range []int{marketDataInstrumentsLeftMax,
		2 * marketDataInstrumentsLeftMax} {
		var h marketDataHistory
		h.init(4096, 1, marketDataInstrumentsLeftMax)
		op := uint64(0)
		add := func() {
			op++
			h.add(&model.MarketDataUpdate{Instrument: uint32(op%uint64(instruments)) + 1,
				Op: op})
		}
		for range 3 * 4096 { // Every instrument has left at least once.
			add()
		}
		if allocations := testing.AllocsPerRun(4096, add); allocations != 0 {
			t.Fatalf("%d instruments: %.2f allocations per evicting add, want 0",
				instruments, allocations)
		}
		if h.leftOp.count != marketDataInstrumentsLeftMax {
			t.Fatalf("%d instruments: %d figures kept, want %d", instruments, h.leftOp.count,
				marketDataInstrumentsLeftMax)
		}
	}
}

// TestMarketDataLeftOpsMatchesAMap: the history's fixed table of what left gives what a
// Go map bounded the same way gives (the first entriesMax instruments are held, later ones
// refused), through random sets, gets and clears, instrument ids 0 and 2^32-1 included.
func TestMarketDataLeftOpsMatchesAMap(t *testing.T) {
	random := rand.New(rand.NewPCG(20261206, 1))
	const entriesMax = 50
	var table marketDataLeftOps
	table.init(entriesMax)
	want := map[uint32]uint64{}
	ids := []uint32{0, 1<<32 - 1}
	for range 200 {
		ids = append(ids, random.Uint32())
	}
	for step := range 100_000 {
		if random.IntN(5000) == 0 {
			table.clear()
			clear(want)
		}
		instrument, op := ids[random.IntN(len(ids))], uint64(step)
		_, held := want[instrument]
		if room := held || len(want) < entriesMax; table.set(instrument, op) != room {
			t.Fatalf("step %d: set of %d with %d held reported %v", step, instrument,
				len(want), !room)
		} else if room {
			want[instrument] = op
		}
		asked := ids[random.IntN(len(ids))]
		wantOp, wantHeld := want[asked]
		if got, gotHeld := table.get(asked); got != wantOp || gotHeld != wantHeld ||
			table.count != len(want) {
			t.Fatalf("step %d: get(%d) %d %v (count %d), want %d %v (%d)", step, asked, got,
				gotHeld, table.count, wantOp, wantHeld, len(want))
		}
	}
}

// TestResumeAfterFeedLossIsAGapForEveryInstrument: when the feed's queue overflows (the
// publisher fell behind), the dropped updates' instruments are not known, so a resume of
// any instrument from an op up to the last dropped one answers a gap, a quiet instrument
// whose own updates all stayed in the history included; from the op after it, resumes
// are whole again. The publisher is driven by hand (no goroutine, no subscriber).
func TestResumeAfterFeedLossIsAGapForEveryInstrument(t *testing.T) {
	const quiet, busy = uint32(5), uint32(6)
	m := newMarketData(nil, MarketDataConfig{QueueUpdatesMax: 4, HistoryUpdatesMax: 64}, 0)
	op := uint64(0)
	release := func(instrument uint32) {
		op++
		var buffer event.Buffer
		buffer.BeginOp(op)
		buffer.AppendMarketData(&model.MarketDataUpdate{Instrument: instrument, Op: op})
		m.Consume(&backend.Ready{FirstOp: op, LastOp: op, Events: &buffer})
	}
	release(quiet) // Op 1.
	m.publish()
	for range 6 {
		release(busy) // Ops 2 to 7: the queue holds 4, ops 6 and 7 are dropped.
	}
	if !m.history.holdsFrom(quiet, 2) {
		t.Fatalf("before the publisher takes the loss, the quiet instrument from op 2 is " +
			"not whole")
	}
	m.publish()
	if m.fellBehind.Load() != 1 || m.history.sinceOp != 8 {
		t.Fatalf("after the overflow: %d overflows, history since op %d; want 1 and 8",
			m.fellBehind.Load(), m.history.sinceOp)
	}
	for _, from := range []uint64{2, 7} {
		if m.history.holdsFrom(quiet, from) || m.history.holdsFrom(0, from) {
			t.Fatalf("quiet instrument (or every one) from op %d after ops 6 and 7 were "+
				"dropped: whole", from)
		}
	}
	if !m.history.holdsFrom(quiet, 8) || !m.history.holdsFrom(busy, 8) ||
		!m.history.holdsFrom(0, 8) {
		t.Fatalf("from op 8, after the last dropped op: not whole")
	}
}

// marketDataSeed is the seed of a randomised market-data test: MARKET_DATA_SEED when set
// (to rerun a failure with the seed it printed), else the test's own.
func marketDataSeed(t *testing.T, seed uint64) uint64 {
	text := os.Getenv("MARKET_DATA_SEED")
	if text == "" {
		return seed
	}
	parsed, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		t.Fatalf("MARKET_DATA_SEED=%q: %v", text, err)
	}
	return parsed
}

// TestFeedLossCountsTheDroppedOpsAsHandled: after the queue overflows, the feed's
// HandledOp reaches the last dropped op once the publisher has taken the loss (it owes
// those updates nothing more). It stayed at the last op fanned out, so a caller waiting
// for the feed to catch up with the release (netio's tests do, via MarketDataStats)
// waited for ever after an overflow: CI's TestMarketDataDrainedSubscriberIsToldStale-
// InAQuietMarket, whose 128,000 updates overflowed the 65,536-update queue on a loaded
// machine. Driven by hand (no goroutine, no subscriber).
func TestFeedLossCountsTheDroppedOpsAsHandled(t *testing.T) {
	m := newMarketData(nil, MarketDataConfig{QueueUpdatesMax: 4, HistoryUpdatesMax: 64}, 0)
	for op := uint64(1); op <= 7; op++ { // The queue holds ops 1 to 4; 5 to 7 are dropped.
		var buffer event.Buffer
		buffer.BeginOp(op)
		buffer.AppendMarketData(&model.MarketDataUpdate{Instrument: 5, Op: op})
		m.Consume(&backend.Ready{FirstOp: op, LastOp: op, Events: &buffer})
	}
	m.publish()
	if stats := m.stats(); stats.FellBehind != 1 || stats.HandledOp != 7 {
		t.Fatalf("after the overflow: %d overflows, handled op %d; want 1 and 7",
			stats.FellBehind, stats.HandledOp)
	}
}
