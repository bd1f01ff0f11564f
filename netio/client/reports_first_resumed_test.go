package client

import (
	"log/slog"
	"slices"
	"testing"

	"sequent/netio/wire"
)

// TestFirstSubscribeAnsweredByAResumptionSplitsTheGaps: the first Subscribe's connection
// is lost after its replay began and before its answer; the resumption, which asks from
// after the last report handled, is answered. Each gap sequence must be told exactly
// once: the caller compares its Subscribed with the sequence it asked from, and the
// callbacks tell what that comparison cannot show. Without the split, the caller
// compared the resumption's oldest_sequence with its own fromSequence and counted the
// reports the handler was given as lost (and missed the ones the first connection's
// replay skipped), and no callback told of the resumption's own gap.
func TestFirstSubscribeAnsweredByAResumptionSplitsTheGaps(t *testing.T) {
	type gap struct {
		reused      bool
		first, last uint64
	}
	for _, test := range []struct {
		name             string
		from             uint64   // Subscribe's fromSequence.
		replayed         []uint64 // Connection 1's replay before it was lost.
		oldest, next     uint64   // Connection 2's answer.
		wantGaps         []gap
		wantOldest       uint64 // The caller's Subscribed.
		wantNext         uint64
		wantReplayedLast uint64
	}{
		// The new server no longer holds 4 and 5: only they are lost (not 1..5).
		{name: "lost after the handled", from: 1, replayed: []uint64{1, 2, 3},
			oldest: 6, next: 20, wantGaps: []gap{{false, 4, 5}}, wantOldest: 1,
			wantNext: 20, wantReplayedLast: 3},
		// Connection 1's replay began at 3: 1 and 2 were lost there, which the caller
		// sees from OldestSequence; the new server holds everything asked for.
		{name: "lost before the first replayed", from: 1, replayed: []uint64{3, 4},
			oldest: 1, next: 8, wantOldest: 3, wantNext: 8, wantReplayedLast: 4},
		// A failover reused 3..9: the caller, which asked from 5, sees 3 and 4 (handled
		// before it subscribed) from NextSequence; the callback tells 5..9.
		{name: "reused across the sequence asked from", from: 5,
			replayed: []uint64{5, 6, 7, 8, 9}, oldest: 1, next: 3,
			wantGaps: []gap{{true, 5, 9}}, wantOldest: 5, wantNext: 3, wantReplayedLast: 9},
		// Nothing handled before the connection was lost: the resumption asks what the
		// caller asked, whose answer tells all; no callback.
		{name: "nothing replayed", from: 5, oldest: 7, next: 3, wantOldest: 7, wantNext: 3},
	} {
		t.Run(test.name, func(t *testing.T) {
			var gaps []gap
			s := &subscription{callerFrom: test.from, lastSeen: test.from - 1,
				ready: make(chan Subscribed, 1), status: make(chan error, 1),
				handler: func(Report) {}}
			c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s,
				config: Config{
					ReportsLost: func(first, last uint64) {
						gaps = append(gaps, gap{false, first, last})
					},
					ReportsReused: func(first, last uint64) {
						gaps = append(gaps, gap{true, first, last})
					}}}
			c.mu.Lock()
			s.frame(c.session) // Subscribe's own frame, on connection 1.
			c.mu.Unlock()
			for _, sequence := range test.replayed {
				if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence}, 1); err != nil {
					t.Fatal(err)
				}
			}
			c.mu.Lock()
			c.generation++ // install: connection 2 and its resumption.
			s.frame(c.session)
			c.mu.Unlock()
			body := make([]byte, wire.SubscribedSize)
			(&wire.Subscribed{OldestSequence: test.oldest}).Encode(body)
			answer := &wire.Frame{Kind: wire.KindSubscribed, Aux: test.next, Body: body}
			if err := c.handle(answer, 2); err != nil {
				t.Fatal(err)
			}
			var subscribed Subscribed
			select {
			case subscribed = <-s.ready:
			default:
				t.Fatal("the first Subscribe was not answered")
			}
			if !slices.Equal(gaps, test.wantGaps) {
				t.Errorf("callbacks %v, want %v", gaps, test.wantGaps)
			}
			want := Subscribed{OldestSequence: test.wantOldest,
				ReplayedThrough: test.wantReplayedLast, NextSequence: test.wantNext}
			if subscribed != want {
				t.Errorf("the caller was answered %+v, want %+v", subscribed, want)
			}
		})
	}
}
