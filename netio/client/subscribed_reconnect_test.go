package client

import (
	"log/slog"
	"slices"
	"testing"

	"sequent/netio/wire"
)

// TestSubscribedAnswerAndAReconnectAgreeOnTheFilter: a subscribed answer read on the
// current connection, and a reconnect that comes while its reader handles it. The
// reader checks that the answer is current, then moves the duplicate filter (a live
// subscription to next-1; a reuse back to next-1); the reconnector builds the new
// connection's resumption from the filter (install, under the client's mutex). With
// the check and the move in separate locked blocks, the reconnect fits between them:
// the resumption asks from the filter before the move, and the replaced connection's
// answer then moves it for the new connection. A live subscription's resumption asks
// from 0 (no replay), so the reports made while it reconnected are never sent, though
// its caller was told NextSequence 6; a reuse's asks from 10, past the reports 5 and 6
// the new primary made since, which are never sent either. Either way the new
// connection must bring the reports from the one the answer moved the filter to.
//
// Method: the reader's frames are handled on the test's goroutine (handle, with each
// connection's generation); testHookAnswerApplied, called where the reader releases the
// mutex after the answer, does what install does (a new generation, the resumption
// built from the subscription); the new connection then serves what its resumption asked
// for, as a server holding the reports up to next-1 would: a replay from the sequence
// asked for (none when from 0), then subscribed with next.
func TestSubscribedAnswerAndAReconnectAgreeOnTheFilter(t *testing.T) {
	for _, test := range []struct {
		name         string
		subscription subscription
		answerNext   uint64 // next_sequence of connection 1's answer.
		serverNext   uint64 // Connection 2's next_sequence: reports made since.
		want         []uint64
	}{
		// Subscribe from 0 answered next 6; reports 6 and 7 made while reconnecting.
		{name: "live", subscription: subscription{live: true}, answerNext: 6,
			serverNext: 8, want: []uint64{6, 7}},
		// A resumption from 10 answered next 5 (5..9 reused); the new primary made 5, 6.
		{name: "reused", subscription: subscription{lastSeen: 9, established: true},
			answerNext: 5, serverNext: 7, want: []uint64{5, 6}},
	} {
		t.Run(test.name, func(t *testing.T) {
			answerAcrossReconnect(t, test.subscription, test.answerNext, test.serverNext,
				test.want)
		})
	}
}

func answerAcrossReconnect(t *testing.T, start subscription, answerNext uint64,
	serverNext uint64, want []uint64) {
	var handled []uint64
	s := &subscription{lastSeen: start.lastSeen, live: start.live,
		established: start.established, ready: make(chan Subscribed, 1),
		status:  make(chan error, 1),
		handler: func(r Report) { handled = append(handled, r.Sequence) }}
	c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, subscription: s}
	c.mu.Lock()
	s.frame(c.session) // The subscribe frame connection 1's answer answers.
	c.mu.Unlock()
	var resumption wire.Subscribe
	reconnected := false
	testHookAnswerApplied = func(wire.Kind) {
		if reconnected {
			return
		}
		reconnected = true
		c.mu.Lock()
		c.generation++ // install: connection 2, and its resumption.
		frame := s.frame(c.session)
		c.mu.Unlock()
		resumption.Decode(frame[wire.HeaderSize:])
	}
	t.Cleanup(func() { testHookAnswerApplied = nil })
	if err := c.handle(subscribedFrame(answerNext, 1), 1); err != nil {
		t.Fatal(err)
	}
	if !reconnected {
		t.Fatal("testHookAnswerApplied was not called for the subscribed answer")
	}
	// Connection 2 serves the resumption.
	if from := resumption.FromSequence; from != 0 {
		for sequence := from; sequence < serverNext; sequence++ {
			if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence}, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.handle(subscribedFrame(serverNext, 1), 2); err != nil {
		t.Fatal(err)
	}
	for sequence := serverNext; sequence < serverNext+2; sequence++ { // New reports.
		if err := c.handle(&wire.Frame{Kind: wire.KindReport, Aux: sequence}, 2); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, serverNext, serverNext+1)
	if !slices.Equal(handled, want) {
		t.Fatalf("connection 1's answer (next %d), read as connection 2 was installed: "+
			"the resumption asked from %d; the handler was given %v, want %v: the "+
			"reports after the filter that answer moved were never asked for", answerNext,
			resumption.FromSequence, handled, want)
	}
}
