package client

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"sequent/netio/wire"
)

// Review of reporthunt50 (review-report50): the reports a replay could not give (its
// server no longer held them) are told once, by the caller's Subscribed or by
// ReportsLost, also when the replay gave the ones after them.
//
// PROTOCOL.md section 8: for a subscribe from n the server replays every retained report
// from max(n, oldest_sequence) on, then sends subscribed. So when oldest_sequence is
// above n the reports oldest_sequence.. are replayed before the answer (they are not
// lost), and n..oldest_sequence-1 are. subscribedLocked names the first lost report
// max(askedFrom, lastSeen+1), lastSeen having been moved by that very replay: for any
// replay that gave a report, the loss n..oldest_sequence-1 was told by nobody.

// review50Gap is a gap a callback told: reused (ReportsReused) or lost (ReportsLost).
type review50Gap struct {
	reused      bool
	first, last uint64
}

// TestReview50AbandonedSubscribeTellsTheLossBeforeAReplay (claim 1): a Subscribe from 5
// whose context ends before the answer; the server (as PROTOCOL.md section 8 says) holds
// 9.. only, replays 9, 10 and 11, answers oldest_sequence 9 and next_sequence 12, then
// sends 12 live. Reports 5..8 are lost, the caller is gone: ReportsLost must tell 5..8,
// at the latest before report 12 reaches the handler. The change's own test sent its
// report after the answer with no replay (oldest 9 from 5 yet 9 not replayed), which a
// server does not do.
func TestReview50AbandonedSubscribeTellsTheLossBeforeAReplay(t *testing.T) {
	var stream []byte
	for sequence := uint64(9); sequence <= 11; sequence++ {
		stream = wire.AppendFrame(stream, &wire.Frame{Kind: wire.KindReport,
			Aux: sequence}, make([]byte, 8))
	}
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: 9, ReplayedThrough: 11}).Encode(body)
	stream = wire.AppendFrame(stream, &wire.Frame{Kind: wire.KindSubscribed, Aux: 12},
		body)
	stream = wire.AppendFrame(stream, &wire.Frame{Kind: wire.KindReport, Aux: 12},
		make([]byte, 8))
	address, received, release := startHeldSubscribeServer(t, stream)
	var mu sync.Mutex
	var gaps []review50Gap
	config := Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1,
		ReportsLost: func(first, last uint64) {
			mu.Lock()
			defer mu.Unlock()
			gaps = append(gaps, review50Gap{false, first, last})
		},
		ReportsReused: func(first, last uint64) {
			mu.Lock()
			defer mu.Unlock()
			gaps = append(gaps, review50Gap{true, first, last})
		}}
	bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
	defer cancelBound()
	c, err := Dial(bound, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	handed := make(chan []review50Gap, 1)
	handler := func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		if r.Sequence == 12 {
			handed <- slices.Clone(gaps)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(ctx, 5, handler)
		result <- err
	}()
	select {
	case <-received:
	case <-bound.Done():
		t.Fatal("the server never received the subscribe frame")
	}
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
	release()
	select {
	case told := <-handed:
		if want := []review50Gap{{false, 5, 8}}; !slices.Equal(told, want) {
			t.Errorf("before report 12 the callbacks told %v, want %v", told, want)
		}
	case <-bound.Done():
		t.Fatal("report 12 never reached the handler")
	}
}

// review50Client is a client with no connection, subscription s, and callbacks that
// record into gaps; frames are handed to it as its readers would (handle).
func review50Client(s *subscription, gaps *[]review50Gap) *Client {
	return &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s,
		config: Config{
			ReportsLost: func(first, last uint64) {
				*gaps = append(*gaps, review50Gap{false, first, last})
			},
			ReportsReused: func(first, last uint64) {
				*gaps = append(*gaps, review50Gap{true, first, last})
			}}}
}

// review50Answer hands c an ok subscribed frame on connection generation.
func review50Answer(t *testing.T, c *Client, generation uint64, oldest, replayedThrough,
	next uint64) {
	t.Helper()
	body := make([]byte, wire.SubscribedSize)
	(&wire.Subscribed{OldestSequence: oldest, ReplayedThrough: replayedThrough}).Encode(body)
	if err := c.handle(&wire.Frame{Kind: wire.KindSubscribed, Aux: next, Body: body},
		generation); err != nil {
		t.Fatal(err)
	}
}

// review50Replay hands c the reports first..last on connection generation.
func review50Replay(t *testing.T, c *Client, generation uint64, first, last uint64) {
	t.Helper()
	for sequence := first; sequence <= last; sequence++ {
		if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence},
			generation); err != nil {
			t.Fatal(err)
		}
	}
}

// review50Established is a subscription from 1, accepted, that has handled 1..lastSeen.
func review50Established(lastSeen uint64) *subscription {
	return &subscription{lastSeen: lastSeen, established: true, callerFrom: 1,
		firstHandled: 1, ready: make(chan Subscribed, 1), status: make(chan error, 1),
		handler: func(Report) {}}
}

// review50Frame makes connection generation c's current one and builds s's subscribe
// frame on it, as install does (the first Subscribe's own frame when generation is 1).
func review50Frame(c *Client, s *subscription, generation uint64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation = generation
	return s.frame(c.session)
}

// TestReview50ResumptionTellsTheLossBeforeItsReplay (claim 2, the same bug on the path
// the change reused, there since the overrun fix 78ccbcd2): an established subscription
// has handled 1..15; after a reconnect its resumption asks from 16; the new server holds
// 20.. only, replays 20..25 and answers oldest_sequence 20. Reports 16..19 are lost and
// must be told (ReportsLost 16..19); nothing told them.
func TestReview50ResumptionTellsTheLossBeforeItsReplay(t *testing.T) {
	var gaps []review50Gap
	s := review50Established(15)
	c := review50Client(s, &gaps)
	review50Frame(c, s, 2) // install: connection 2 and its resumption.
	review50Replay(t, c, 2, 20, 25)
	review50Answer(t, c, 2, 20, 25, 26)
	if want := []review50Gap{{false, 16, 19}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}

// TestReview50ResumptionOverrunAfterALateStartTellsBothLosses: the overrun case that
// 78ccbcd2 fixed, when the replay also began above the sequence asked for: asked from 16,
// the server held 20.. when the replay began, replayed 20..25, then its window overran
// 26..29 before the replay reached them (oldest_sequence 30). Lost: 16..19 and 26..29,
// not the handled 20..25.
func TestReview50ResumptionOverrunAfterALateStartTellsBothLosses(t *testing.T) {
	var gaps []review50Gap
	s := review50Established(15)
	c := review50Client(s, &gaps)
	review50Frame(c, s, 2)
	review50Replay(t, c, 2, 20, 25)
	review50Answer(t, c, 2, 30, 25, 40)
	if want := []review50Gap{{false, 16, 19}, {false, 26, 29}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}

// TestReview50AbandonedSubscribeAnsweredByAResumptionTellsTheFirstReplaysLoss (claim 3):
// Subscribe from 1; connection 1's server held 3.. and replayed 3 and 4, then the
// connection was lost before its answer; the caller's context ends; the resumption
// (from 5) is answered with nothing lost. Reports 1 and 2 are lost: with a caller, its
// Subscribed would show them (OldestSequence 3, subscribedAnswer); with none, the
// callbacks must (ReportsLost 1..2). callerGone told only the resumption's own gaps.
func TestReview50AbandonedSubscribeAnsweredByAResumptionTellsTheFirstReplaysLoss(
	t *testing.T) {
	var gaps []review50Gap
	s := newSubscription(1, func(Report) {})
	c := review50Client(s, &gaps)
	review50Frame(c, s, 1) // Subscribe's own frame, on connection 1.
	review50Replay(t, c, 1, 3, 4)
	review50Frame(c, s, 2) // install: connection 2 and its resumption.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.subscribeAbandoned(ctx, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribeAbandoned returned %v, want context.Canceled", err)
	}
	review50Answer(t, c, 2, 1, 0, 8)
	if want := []review50Gap{{false, 1, 2}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}

// TestReview50UnansweredResumptionsLossBelowItsReplayIsTold (claim 4): an established
// subscription has handled 1..15; connection 2's resumption asks from 16, its server
// holds 20.. and replays 20 and 21, and the connection is lost before the answer;
// connection 3's resumption asks from 22 and is answered with nothing lost. Reports
// 16..19 are lost: only connection 2's answer would have told them, and it never came.
// ReportsLost must tell them (before any later report).
func TestReview50UnansweredResumptionsLossBelowItsReplayIsTold(t *testing.T) {
	var gaps []review50Gap
	s := review50Established(15)
	c := review50Client(s, &gaps)
	for generation := uint64(2); generation <= 3; generation++ {
		review50Frame(c, s, generation) // install: the connection and its resumption.
		if generation == 2 {
			review50Replay(t, c, 2, 20, 21)
		}
	}
	review50Answer(t, c, 3, 1, 0, 30)
	review50Replay(t, c, 3, 30, 30)
	if want := []review50Gap{{false, 16, 19}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}

// TestReview50FirstSubscribesSecondConnectionLossIsTold: the same for a first Subscribe
// whose caller waits: from 1, connection 1 replays 3 and 4 (1 and 2 lost: the caller's
// OldestSequence 3 shows them) and is lost; connection 2 asks from 5, replays 7 and 8
// (5 and 6 lost) and is lost; connection 3 asks from 9 and is answered. The caller reads
// 1..2 from its Subscribed; ReportsLost must tell 5..6, which nothing else shows.
func TestReview50FirstSubscribesSecondConnectionLossIsTold(t *testing.T) {
	var gaps []review50Gap
	s := newSubscription(1, func(Report) {})
	c := review50Client(s, &gaps)
	review50Frame(c, s, 1) // Subscribe's own frame, on connection 1.
	review50Replay(t, c, 1, 3, 4)
	for generation := uint64(2); generation <= 3; generation++ {
		review50Frame(c, s, generation)
		if generation == 2 {
			review50Replay(t, c, 2, 7, 8)
		}
	}
	review50Answer(t, c, 3, 1, 0, 20)
	var subscribed Subscribed
	select {
	case subscribed = <-s.ready:
	default:
		t.Fatal("the first Subscribe was not answered")
	}
	if subscribed.OldestSequence != 3 {
		t.Errorf("the caller was answered %+v, want OldestSequence 3", subscribed)
	}
	if want := []review50Gap{{false, 5, 6}}; !slices.Equal(gaps, want) {
		t.Errorf("callbacks told %v, want %v", gaps, want)
	}
}

// TestReview50LiveReportsAfterAnAnswerAreNoLoss: the guard of the fix above. A
// resumption from 16 is answered with nothing lost, reports 16..20 come live after
// the answer, the connection is lost, and the next resumption (from 21) is answered
// with nothing lost: no callback, the live reports after an answer not being taken for
// a replay that began above the sequence asked for.
func TestReview50LiveReportsAfterAnAnswerAreNoLoss(t *testing.T) {
	var gaps []review50Gap
	s := review50Established(15)
	c := review50Client(s, &gaps)
	review50Frame(c, s, 2)
	review50Answer(t, c, 2, 1, 0, 16)
	review50Replay(t, c, 2, 16, 20) // Live, after the answer.
	review50Frame(c, s, 3)
	review50Answer(t, c, 3, 1, 0, 21)
	review50Replay(t, c, 3, 21, 21)
	if len(gaps) != 0 {
		t.Errorf("callbacks told %v, want none", gaps)
	}
}

// TestReview50AbandonedSubscribeDoesNotWaitForAGapCallback (claim 5): reporthunt50 made a
// Subscribe whose context ends after its answer was applied wait, without its context,
// for the answer to be handed over (subscribeAbandoned reads s.ready); the answer is
// handed over only once the gaps it found are told (subscribedAnnounce). A gap callback
// that waits for the goroutine calling Subscribe (it takes a lock that goroutine holds
// around the call, say) then holds Subscribe for ever: its context's end, which
// released it before, no longer does. Here connection 1 replays report 5 of a Subscribe
// from 5 and is lost; connection 2's resumption (from 6) is answered with 6..8 lost;
// ReportsLost waits until Subscribe has returned. The caller's context is canceled
// while the callback waits: Subscribe must return (with the answer, or the context's
// error), not wait for the callback.
func TestReview50AbandonedSubscribeDoesNotWaitForAGapCallback(t *testing.T) {
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		if connection == 0 {
			// Replay report 5, then lose the connection before the answer.
			_, _ = peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReport,
				Aux: 5}, make([]byte, 8)))
			return
		}
		answer := subscribedFrame(12, 9)
		if _, err := peer.conn.Write(wire.AppendFrame(nil, answer, answer.Body)); err != nil {
			return
		}
		peer.drain()
	})
	bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
	defer cancelBound()
	entered := make(chan struct{})
	returned := make(chan struct{})
	var once sync.Once
	config := Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1,
		ReportsLost: func(first, last uint64) {
			once.Do(func() { close(entered) })
			select {
			case <-returned:
			case <-bound.Done():
			}
		}}
	c, err := Dial(bound, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(ctx, 5, func(Report) {})
		close(returned)
		result <- err
	}()
	select {
	case <-entered:
	case <-bound.Done():
		t.Fatal("ReportsLost was never called")
	}
	cancel()
	select {
	case err := <-result:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe returned %v, want the answer or context.Canceled", err)
		}
		if bound.Err() != nil {
			t.Error("Subscribe returned only once the gap callback gave up waiting for it")
		}
	case <-bound.Done():
		t.Fatal("Subscribe never returned")
	}
}
