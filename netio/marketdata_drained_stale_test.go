package netio_test

import (
	"fmt"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestMarketDataDrainedSubscriberIsToldStaleInAQuietMarket (PROTOCOL.md section 8a,
// md_stale): a subscriber reads nothing while 2,000 entries of 64 updates of instrument 5
// are released (11 MiB, far past its 64 KiB bound), then reads while nothing more is
// released. When the last entries were dropped for it, it is sent md_stale once it has
// drained all the same: no update has to come first (only the feed's recheck sends it;
// without it, the read waits past waitLimit and the test fails).
//
// Each notice says status market_data_fell_behind, shard 0, and dropped_from_op exactly
// the op of the first update the connection was not sent (the one after the last it read:
// each entry's 64 updates share one op, so sequence q is in op (q-1)/64 + 1). Notices
// sent while the flood went on (the socket buffers grew, so the connection drained for a
// while) are followed by updates; the last one is the notice after which the server sent
// nothing more (the updates read equal the feed's count of updates sent: it is the only
// subscriber). A round after which it read every update, or whose last notice may have
// been sent before the flood was published, floods again (a bounded number of rounds).
// After the last notice the next update released comes right after it, with no second
// notice.
//
// It runs twice: with the default queue (the subscriber's bound drops the updates, as
// long as the publisher keeps up) and with a queue of 1,000 updates, which the flood
// overflows (the publisher's loss marks every subscriber stale), as the default one did
// on a loaded CI machine (the publisher starved): the feed's HandledOp then has to count
// the dropped ops, or waitPublished waits for ever.
func TestMarketDataDrainedSubscriberIsToldStaleInAQuietMarket(t *testing.T) {
	for _, queue := range []int{0, 1000} {
		t.Run(fmt.Sprintf("queue=%d", queue), func(t *testing.T) {
			drainedSubscriberIsToldStale(t, queue)
		})
	}
}

func drainedSubscriberIsToldStale(t *testing.T, queueUpdatesMax int) {
	const entries, perEntry, roundsMax = 2000, 64, 8
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{SubscriberBytesMax: 64 << 10,
			QueueUpdatesMax: queueUpdatesMax}
		c.SilenceTimeout = 2 * waitLimit // The subscriber sends nothing while it reads.
	}})
	feed := newMarketFeed(h)
	slow := dialRaw(t, h.server.Address())
	slow.login(clientAll, 1, secretOne, 7)
	slow.marketDataSubscribe(7, 5, wire.ChannelBook, 0)
	slow.untilSubscribed()
	lastSequence, updatesRead, notices, resumed := uint64(0), uint64(0), uint64(0), true
	for round := 1; ; round++ {
		if round > roundsMax {
			t.Fatalf("%d rounds and never a notice sent after a flood was published", roundsMax)
		}
		for range entries {
			feed.release(5, perEntry)
		}
		feed.waitPublished(t)
		// Every notice counted now was appended before this point or by a recheck since;
		// one counted later can only come from a recheck (nothing is released).
		published := h.server.MarketDataStats().StaleNotices
		last := false
		for !last {
			if stats := h.server.MarketDataStats(); lastSequence == feed.sequences[5] &&
				updatesRead == stats.UpdatesSent && notices == stats.StaleNotices {
				break // It read everything: nothing was dropped at the end of this round.
			}
			frame := slow.next()
			switch frame.Kind {
			case wire.KindMarketData:
				for _, u := range decodeUpdates(frame.Body) {
					// Gap-free, but right after a notice (a later batch's updates).
					if u.Instrument != 5 || u.Sequence <= lastSequence ||
						(u.Sequence != lastSequence+1 && !resumed) {
						t.Fatalf("update of instrument %d sequence %d after sequence %d",
							u.Instrument, u.Sequence, lastSequence)
					}
					lastSequence, resumed = u.Sequence, false
					updatesRead++
				}
			case wire.KindMarketDataStale:
				notices++
				var body wire.MarketDataStale
				body.Decode(frame.Body)
				firstMissedOp := lastSequence/perEntry + 1 // The op of sequence lastSequence+1.
				if model.Status(frame.Status) != model.StatusMarketDataFellBehind ||
					body.Shard != 0 || body.Instrument != 0 ||
					body.DroppedFromOp != firstMissedOp {
					t.Fatalf("md_stale %d: status %d %+v after sequence %d; want 231, shard 0, "+
						"instrument 0, dropped_from_op %d", notices, frame.Status, body,
						lastSequence, firstMissedOp)
				}
				resumed = true
				last = updatesRead == h.server.MarketDataStats().UpdatesSent
			default:
				t.Fatalf("unexpected %s frame (status %d)", frame.Kind, frame.Status)
			}
		}
		if last && notices > published {
			break
		}
	}
	if counted := h.server.MarketDataStats().StaleNotices; counted != notices {
		t.Fatalf("%d stale notices counted, %d read", counted, notices)
	}
	// Updates resume right after it: the next frame (heartbeats aside) is the next
	// entry's update, with no second notice.
	feed.release(5, 1)
	updates := slow.nextUpdates(1)
	if len(updates) != 1 || updates[0].Sequence != feed.sequences[5] || updates[0].Op != feed.op {
		t.Fatalf("after md_stale: %+v, want sequence %d at op %d", updates,
			feed.sequences[5], feed.op)
	}
}
