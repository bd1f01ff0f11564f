package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"sequent/core/shardmap"
	"sequent/netio/wire"
)

// TestSubscribeWhoseContextEndedTellsTheAnswersGaps: a Subscribe whose context ends
// before the server's answer returns the context's error, but the subscription stays
// (no frame ends a report subscription on a connection, and a second subscribe there
// is unexpected_frame): its handler is given the reports that follow. The answer's
// gaps (oldest_sequence above the sequence asked for: reports lost; next_sequence below
// it: reports handled, then lost in a failover and reused) were the caller's alone to
// read from its Subscribed, and that caller has gone: nothing told them, not even the
// log, and the handler was given the reports after them as if the stream were whole.
// Once the caller has gone the callbacks must tell them, as for a resumption, before
// the reports after them are handed over.
//
// Method: a scripted server that holds the subscribe frame until the caller has
// returned, then answers it and sends one report; the callbacks must have been called
// when the handler is given that report.
func TestSubscribeWhoseContextEndedTellsTheAnswersGaps(t *testing.T) {
	for _, test := range []abandonedCase{
		{name: "lost", from: 5, oldest: 9, next: 12, report: 9,
			want: []abandonedGap{{false, 5, 8}}},
		{name: "reused", from: 10, oldest: 1, next: 6, report: 6,
			want: []abandonedGap{{true, 6, 9}}},
		{name: "whole", from: 5, oldest: 1, next: 7, report: 5},
	} {
		for _, named := range []bool{false, true} {
			test.named = named
			name := test.name + "/Subscribe"
			if named {
				name = test.name + "/SubscribeShard"
			}
			t.Run(name, func(t *testing.T) { test.run(t) })
		}
	}
}

// abandonedGap is a gap a callback told: reused (ReportsReused) or lost (ReportsLost).
type abandonedGap struct {
	reused      bool
	first, last uint64
}

// abandonedCase is one case of TestSubscribeWhoseContextEndedTellsTheAnswersGaps.
type abandonedCase struct {
	name         string
	named        bool   // SubscribeShard of shard 1 (label 2): the shard callbacks tell.
	from         uint64 // Subscribe's fromSequence.
	oldest, next uint64 // The answer.
	report       uint64 // The report after the answer.
	want         []abandonedGap
}

// startHeldSubscribeServer is a scripted server whose first connection holds the
// subscribe frame: it closes received once the frame came, waits for release, then
// writes stream (the answer and what follows it). Later connections are drained.
// release is also run at the test's cleanup, before the server's cleanup waits for the
// script, should the test stop before it answers.
func startHeldSubscribeServer(t *testing.T, stream []byte) (address string,
	received <-chan struct{}, release func()) {
	t.Helper()
	subscribed := make(chan struct{})
	answerNow := make(chan struct{})
	address = startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if connection != 0 {
			peer.drain()
			return
		}
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		close(subscribed)
		<-answerNow
		if _, err := peer.conn.Write(stream); err != nil {
			return
		}
		peer.drain()
	})
	release = sync.OnceFunc(func() { close(answerNow) })
	t.Cleanup(release)
	return address, subscribed, release
}

func (test abandonedCase) run(t *testing.T) {
	var label uint64 // The subscribe frame's shard field, echoed in number.
	if test.named {
		label = 2
	}
	answer := subscribedFrame(test.next, test.oldest)
	answer.Number = label
	stream := wire.AppendFrame(nil, answer, answer.Body)
	stream = wire.AppendFrame(stream, &wire.Frame{Kind: wire.KindReport,
		Number: label, Aux: test.report}, make([]byte, 8))
	address, received, release := startHeldSubscribeServer(t, stream)
	var mu sync.Mutex
	var gaps []abandonedGap
	record := func(reused bool) func(first, last uint64) {
		return func(first, last uint64) {
			mu.Lock()
			defer mu.Unlock()
			gaps = append(gaps, abandonedGap{reused, first, last})
		}
	}
	recordShard := func(reused bool) func(shard uint16, first, last uint64) {
		return func(shard uint16, first, last uint64) {
			if shard != 1 {
				t.Errorf("a gap told of shard %d, want 1", shard)
			}
			record(reused)(first, last)
		}
	}
	config := Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1}
	if test.named {
		config.ShardReportsLost, config.ShardReportsReused = recordShard(false),
			recordShard(true)
	} else {
		config.ReportsLost, config.ReportsReused = record(false), record(true)
	}
	dialContext, cancelDial := context.WithTimeout(context.Background(), waitLimit)
	defer cancelDial()
	c, err := Dial(dialContext, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if test.named {
		c.mu.Lock()
		c.shardMap = &shardmap.Map{Shards: 2} // As read: SubscribeShard asks for it once.
		c.mu.Unlock()
	}
	subscribe := func(ctx context.Context, from uint64, handler func(Report)) error {
		var err error
		if test.named {
			_, err = c.SubscribeShard(ctx, 1, from, handler)
		} else {
			_, err = c.Subscribe(ctx, from, handler)
		}
		return err
	}

	handed := make(chan []abandonedGap, 1)
	handler := func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		if r.Sequence == test.report {
			handed <- slices.Clone(gaps)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- subscribe(ctx, test.from, handler) }()
	bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
	defer cancelBound()
	select {
	case <-received:
	case <-bound.Done():
		t.Fatal("the server never received the subscribe frame")
	}
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("the subscription returned %v, want context.Canceled", err)
	}
	release()
	select {
	case told := <-handed:
		if !slices.Equal(told, test.want) {
			t.Errorf("before report %d the callbacks told %v, want %v", test.report, told,
				test.want)
		}
	case <-bound.Done():
		t.Fatalf("report %d never reached the handler", test.report)
	}
	// The subscription stays: another subscribe on the connection would close it.
	if err := subscribe(bound, 1, handler); !errors.Is(err, ErrSubscribed) {
		t.Errorf("subscribing again returned %v, want ErrSubscribed", err)
	}
}

// TestSubscribeWhoseContextEndsAfterTheAnswerWasAppliedReturnsIt: the other order of the
// race above. The reader has applied the answer (the duplicate filter moved, the
// subscription established, its gaps left to the caller's Subscribed) when the caller's
// context ends, before the answer reaches the caller. Returning the context's error
// then would drop the answer, and its gaps with it, untold: the caller must be given
// the answer.
//
// Method: a scripted server answers with a loss (oldest_sequence 9 for a Subscribe from
// 5); testHookAnswerApplied, run by the reader between applying the answer and handing
// it to the caller, cancels the caller's context and waits until the caller has taken
// its end (testHookSubscribeAbandoned).
func TestSubscribeWhoseContextEndsAfterTheAnswerWasAppliedReturnsIt(t *testing.T) {
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(wire.KindSubscribe); !ok {
			return
		}
		answer := subscribedFrame(12, 9)
		if _, err := peer.conn.Write(wire.AppendFrame(nil, answer, answer.Body)); err != nil {
			return
		}
		peer.drain()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	abandoned := make(chan struct{})
	testHookSubscribeAbandoned = func() { close(abandoned) }
	testHookAnswerApplied = func(kind wire.Kind) {
		if kind != wire.KindSubscribed {
			return
		}
		cancel()
		bound, cancelBound := context.WithTimeout(context.Background(), waitLimit)
		defer cancelBound()
		select {
		case <-abandoned:
		case <-bound.Done():
			t.Error("the caller never noticed its context's end")
		}
	}
	t.Cleanup(func() { testHookAnswerApplied, testHookSubscribeAbandoned = nil, nil })
	c := dialScripted(t, address) // Closed before the hooks are reset (cleanups run last first).
	subscribed, err := c.Subscribe(ctx, 5, func(Report) {})
	if err != nil {
		t.Fatalf("Subscribe returned %v, want the answer applied before its context ended",
			err)
	}
	if subscribed.OldestSequence != 9 || subscribed.NextSequence != 12 {
		t.Errorf("Subscribe returned %+v, want oldest 9 and next 12", subscribed)
	}
}
