package client

import (
	"context"
	"errors"
	"slices"
	"sync"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Book is a local copy of one instrument's order book: price levels with their absolute
// quantity and order count, at a market-data sequence.
//
// get_book sends at most model.DepthLevelsPerSideMax levels a side, the best ones, and
// does not say whether a side had more (PROTOCOL.md 8a). Of a side the snapshot filled,
// the book is exact only up to the snapshot's worst price on that side (Bound): beyond
// it, it holds just the levels updates named since and lacks the others. Levels leaves
// those out, so that what it returns is the engine's book at Sequence.
type Book struct {
	Instrument uint32
	Sequence   uint64 // Last sequence applied.
	Op         uint64 // Op of the last update applied (or of the snapshot).
	bids       map[uint64]model.DepthLevel
	asks       map[uint64]model.DepthLevel
	// The snapshot's worst bid and ask, for a side it filled (bidBounded, askBounded):
	// levels past them are not known to be complete.
	bidBound, askBound     uint64
	bidBounded, askBounded bool
}

// ErrBookGap reports an update that does not follow the book's sequence: updates were
// missed, and the book must be rebuilt from a snapshot.
var ErrBookGap = errors.New("client: market-data gap")

func (b *Book) side(side model.Side) map[uint64]model.DepthLevel {
	if b.bids == nil {
		b.bids, b.asks = map[uint64]model.DepthLevel{}, map[uint64]model.DepthLevel{}
	}
	if side == model.SideBuy {
		return b.bids
	}
	return b.asks
}

// Load replaces the book with a snapshot (get_book's header and levels, asked for
// model.DepthLevelsPerSideMax levels a side). A side with that many levels may have had
// more: the book then keeps its worst price as the side's Bound.
func (b *Book) Load(header model.BookHeader, levels []model.DepthLevel) {
	b.Instrument, b.Sequence, b.Op = header.Instrument, header.Sequence, header.Op
	clear(b.side(model.SideBuy))
	clear(b.side(model.SideSell))
	b.bidBounded, b.askBounded = false, false
	bids, asks := 0, 0
	for _, level := range levels {
		b.side(level.Side)[level.Price] = level
		if level.Side == model.SideBuy {
			if bids == 0 || level.Price < b.bidBound {
				b.bidBound = level.Price // The worst bid: the lowest.
			}
			bids++
		} else {
			if asks == 0 || level.Price > b.askBound {
				b.askBound = level.Price // The worst ask: the highest.
			}
			asks++
		}
	}
	b.bidBounded = bids >= model.DepthLevelsPerSideMax
	b.askBounded = asks >= model.DepthLevelsPerSideMax
}

// Bound reports how far a side is exact: when bounded, only its levels at or better
// than price (a bid's at or above it, an ask's at or below it) are the engine's, all of
// them; the snapshot had model.DepthLevelsPerSideMax levels on that side and may have
// left worse ones out. When not bounded, the whole side is exact. A new snapshot moves
// the bound (FollowBook takes one after a gap or a loss, not when the exact levels run
// out: a caller that needs deeper levels than the bound can call GetBook itself).
func (b *Book) Bound(side model.Side) (price uint64, bounded bool) {
	if side == model.SideBuy {
		return b.bidBound, b.bidBounded
	}
	return b.askBound, b.askBounded
}

// exact reports whether a level of side at price is within the side's Bound.
func (b *Book) exact(side model.Side, price uint64) bool {
	bound, bounded := b.Bound(side)
	switch {
	case !bounded:
		return true
	case side == model.SideBuy:
		return price >= bound
	default:
		return price <= bound
	}
}

// Apply applies one update: it ignores an update at or below the book's sequence (a
// replay's duplicate), returns ErrBookGap for one that skips a sequence (nothing
// changes), and otherwise sets the level to its absolute quantity (0 removes it); a
// trade only advances the sequence.
func (b *Book) Apply(u *model.MarketDataUpdate) error {
	switch {
	case u.Sequence <= b.Sequence:
		return nil
	case u.Sequence != b.Sequence+1:
		return ErrBookGap
	}
	b.Sequence, b.Op = u.Sequence, u.Op
	if u.Kind != model.MarketDataLevel {
		return nil
	}
	levels := b.side(u.Side)
	if u.Quantity.IsZero() {
		delete(levels, u.Price) // Removing a level the book does not hold is normal.
		return nil
	}
	levels[u.Price] = model.DepthLevel{Price: u.Price, Quantity: u.Quantity,
		OrderCount: u.OrderCount, Side: u.Side}
	return nil
}

// Levels returns up to count levels of a side, best first (count <= 0: all), of those
// within the side's Bound: a level an update named past it is left out, since the levels
// between it and the bound are not known.
func (b *Book) Levels(side model.Side, count int) []model.DepthLevel {
	levels := make([]model.DepthLevel, 0, len(b.side(side)))
	for _, level := range b.side(side) {
		if b.exact(side, level.Price) {
			levels = append(levels, level)
		}
	}
	slices.SortFunc(levels, func(x, y model.DepthLevel) int {
		if side == model.SideBuy {
			x, y = y, x // Bids: highest first.
		}
		switch {
		case x.Price < y.Price:
			return -1
		case x.Price > y.Price:
			return 1
		}
		return 0
	})
	if count > 0 && len(levels) > count {
		levels = levels[:count]
	}
	return levels
}

// BookBuilder runs the book-building procedure of PROTOCOL.md 8a on updates and
// snapshots given to it, with no I/O: subscribe first and buffer; take a snapshot; drop
// the buffered updates at or below its sequence; apply the rest, requiring each sequence
// to follow the previous; on a gap, a stale notice or a resume gap, start over from a new
// snapshot. FollowBook drives it over a connection; tests drive it directly.
type BookBuilder struct {
	Book      Book
	Synced    bool                     // The book is exact as of Book.Sequence, within Book.Bound.
	Snapshots int                      // Snapshots loaded so far.
	Gaps      int                      // Times it had to start over.
	buffered  []model.MarketDataUpdate // Updates waiting for a snapshot.
	// shard is the shard serving the instrument (FollowBook: named by its latest
	// accepted answer, on each connection: handle): an md_stale of another shard
	// dropped none of its updates (PROTOCOL.md 8a).
	shard uint16
}

// Update takes one update of the builder's instrument; it reports whether a snapshot
// is needed now (the caller then calls Snapshot with a fresh one).
func (b *BookBuilder) Update(u *model.MarketDataUpdate) (needSnapshot bool) {
	if !b.Synced {
		b.buffered = append(b.buffered, *u)
		return false
	}
	if errors.Is(b.Book.Apply(u), ErrBookGap) {
		b.restart()
		b.buffered = append(b.buffered, *u)
		return true
	}
	return false
}

// Lost says that updates were lost (md_stale, or a resubscription answered
// market_data_resume_gap): it reports that a snapshot is needed, and it must be one
// requested after the notice (a snapshot already in flight may predate the loss).
func (b *BookBuilder) Lost() (needSnapshot bool) {
	b.restart()
	return true
}

func (b *BookBuilder) restart() {
	if b.Synced {
		b.Gaps++
	}
	b.Synced = false
	b.buffered = b.buffered[:0]
}

// Snapshot loads a snapshot and applies the buffered updates after it. It reports
// whether another snapshot is needed: the buffer skips a sequence after the snapshot's
// (updates were lost in between).
func (b *BookBuilder) Snapshot(header model.BookHeader, levels []model.DepthLevel) (needSnapshot bool) {
	b.Book.Load(header, levels)
	b.Snapshots++
	b.Synced = true
	buffered := b.buffered
	b.buffered = nil
	for i := range buffered {
		if errors.Is(b.Book.Apply(&buffered[i]), ErrBookGap) {
			b.restart()
			b.buffered = append(b.buffered[:0], buffered[i:]...)
			return true
		}
	}
	b.buffered = buffered[:0]
	return false
}

// FollowBook keeps a local book of one instrument up to date over c, following the
// procedure of PROTOCOL.md 8a, and calls onChange (on its own goroutine) after every
// change of the book while it is exact (within Book.Bound on a side the snapshot
// filled). It returns when ctx ends, or on a request error.
// After a reconnect the client resumes the subscription from the op its updates were
// seen through, so the book carries on without a snapshot when the server still holds
// the missed updates (across a failover too); otherwise the server says so and the book
// is rebuilt.
func FollowBook(ctx context.Context, c *Client, instrument uint32,
	onChange func(b *BookBuilder, updates []model.MarketDataUpdate)) error {
	inbox := &bookInbox{wake: make(chan struct{}, 1)}
	defer c.forgetBook(inbox) // Nothing is kept for it once it has returned.
	answer, err := c.subscribeMarketData(ctx, instrument, wire.ChannelBook, nil, inbox)
	if err != nil {
		return err
	}
	builder := &BookBuilder{Book: Book{Instrument: instrument}, shard: answer.Shard}
	needSnapshot := true
	for {
		if needSnapshot {
			header, levels, err := c.GetBook(ctx, instrument, model.DepthLevelsPerSideMax)
			if err != nil {
				return err
			}
			needSnapshot = builder.Snapshot(header, levels)
			if !needSnapshot {
				onChange(builder, nil)
			}
			continue
		}
		events, overflowed, err := inbox.wait(ctx)
		if err != nil {
			return err
		}
		if overflowed {
			needSnapshot = builder.Lost()
		}
		for _, event := range events {
			needSnapshot = builder.handle(event, instrument, onChange) || needSnapshot
		}
	}
}

// handle feeds one subscription event to the builder; it reports whether a snapshot is
// needed.
func (b *BookBuilder) handle(event MarketDataEvent, instrument uint32,
	onChange func(b *BookBuilder, updates []model.MarketDataUpdate)) bool {
	switch {
	case event.Stale != nil && event.Stale.Shard != uint32(b.shard):
		return false // Another shard's updates were dropped, none of this book's.
	case event.Stale != nil:
		return b.Lost()
	case event.Subscribed != nil:
		if answer := event.Subscribed; answer.Instrument == instrument &&
			marketDataAccepted(answer.Status) {
			// Each connection's answer names the shard serving the instrument there: a
			// server older than channel bit 3 serves it by shard 0, a newer one by its
			// own shard, so the first answer's may not hold after a failover.
			b.shard = answer.Shard
		}
		return event.Subscribed.Status == model.StatusMarketDataResumeGap && b.Lost()
	}
	need := false
	mine := event.Updates[:0:0]
	for i := range event.Updates {
		u := &event.Updates[i]
		if u.Instrument != instrument {
			continue
		}
		need = b.Update(u) || need
		mine = append(mine, *u)
	}
	if b.Synced && len(mine) > 0 {
		onChange(b, mine)
	}
	return need
}

// bookInbox hands subscription events from the reader goroutine to FollowBook's. It
// holds at most bookInboxUpdatesMax update records: FollowBook may be blocked in GetBook
// or in its onChange while the reader keeps putting, and the reader must never wait for
// it. Past the bound the queued updates and md_stale notices are dropped (answers are
// kept: they carry the instrument's shard) and the next wait reports the overflow, which
// costs the book a snapshot, as a slow subscriber's md_stale does on the server.
type bookInbox struct {
	mutex      sync.Mutex
	events     []MarketDataEvent
	updates    int  // Update records in events.
	overflowed bool // Updates were dropped since the last wait.
	wake       chan struct{}
}

// bookInboxUpdatesMax bounds a FollowBook's unread update records (128 bytes each: 8 MiB).
const bookInboxUpdatesMax = 1 << 16

func (i *bookInbox) put(event MarketDataEvent) {
	i.mutex.Lock()
	if i.updates+len(event.Updates) > bookInboxUpdatesMax {
		kept := i.events[:0]
		for _, queued := range i.events {
			if queued.Subscribed != nil {
				kept = append(kept, MarketDataEvent{Subscribed: queued.Subscribed})
			}
		}
		clear(i.events[len(kept):])
		i.events, i.updates, i.overflowed = kept, 0, true
	}
	i.events = append(i.events, event)
	i.updates += len(event.Updates)
	i.mutex.Unlock()
	select {
	case i.wake <- struct{}{}:
	default:
	}
}

// wait returns the events put since the last call, and whether updates were dropped
// before them (the book must then be rebuilt from a snapshot requested after this call).
func (i *bookInbox) wait(ctx context.Context) (events []MarketDataEvent, overflowed bool, err error) {
	for {
		i.mutex.Lock()
		events, overflowed = i.events, i.overflowed
		i.events, i.updates, i.overflowed = nil, 0, false
		i.mutex.Unlock()
		if len(events) > 0 || overflowed {
			return events, overflowed, nil
		}
		select {
		case <-i.wake:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}
