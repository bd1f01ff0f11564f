package netio

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

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
	m.history.init(m.config.HistoryUpdatesMax, 1)
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
	seed := uint64(20261204)
	if text := os.Getenv("MARKET_DATA_SEED"); text != "" {
		parsed, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			t.Fatalf("MARKET_DATA_SEED=%q: %v", text, err)
		}
		seed = parsed
	}
	random := rand.New(rand.NewPCG(seed, seed))
	var h marketDataHistory
	h.init(37, 1)
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
