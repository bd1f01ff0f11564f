package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// resumedStream is one of the client's resumed subscriptions, as a scripted server sees
// it: how the test subscribes, the kind of the client's subscribe frame, and the
// server's answer to it with a status.
type resumedStream struct {
	name          string
	subscribe     func(ctx context.Context, c *Client) error
	subscribeKind wire.Kind
	answer        func(status model.Status) []byte
}

var resumedStreams = []resumedStream{{
	name: "reports",
	subscribe: func(ctx context.Context, c *Client) error {
		_, err := c.Subscribe(ctx, 0, func(Report) {})
		return err
	},
	subscribeKind: wire.KindSubscribe,
	answer: func(status model.Status) []byte {
		frame := subscribedFrame(1, 1)
		frame.Status = uint32(status)
		return wire.AppendFrame(nil, frame, frame.Body)
	},
}, {
	name: "market data",
	subscribe: func(ctx context.Context, c *Client) error {
		_, err := c.SubscribeMarketData(ctx, 7, wire.ChannelBook, func(MarketDataEvent) {})
		return err
	},
	subscribeKind: wire.KindMarketDataSubscribe,
	answer: func(status model.Status) []byte {
		frame := marketDataSubscribedFrame(7, wire.ChannelBook, 0)
		frame.Status = uint32(status)
		return wire.AppendFrame(nil, frame, frame.Body)
	},
}}

// frameOf returns the next frame of kind the client sent (a logout acknowledged on the
// way, as request does), or false once the connection ends.
func (p *scriptedPeer) frameOf(kind wire.Kind) (wire.Frame, bool) {
	for {
		frame, err := readFrame(p.conn, p.decoder)
		if err != nil {
			return wire.Frame{}, false
		}
		if frame.Kind == kind {
			return frame, true
		}
		if frame.Kind == wire.KindLogout {
			_, _ = p.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout}, nil))
		}
	}
}

// drain reads the connection until it ends, acknowledging a logout (Close need not wait
// for it).
func (p *scriptedPeer) drain() {
	for {
		if _, ok := p.request(); !ok {
			return
		}
	}
}

// TestResumptionRetryStaysOnTheRefusingConnection: a resumption (of the report or of the
// market-data subscription) refused busy is sent again after a back-off, on the
// connection that refused it, unless that connection is replaced meanwhile: the new
// connection sends its own resumption. The retry was bound to the connection current
// when it was scheduled, not to the one that answered busy: a reconnect between the
// reader's reading the answer and its scheduling the retry bound it to the new
// connection, which got a second subscribe beside its resumption (for reports, a
// protocol error: the server answers unexpected_frame and the reports end; for market
// data a second replay, and an answer taken for a caller's).
//
// Method: a scripted server. Connection 0 accepts the subscription and closes;
// connection 1 answers the resumption busy; testHookAnswerApplied, on connection 1's
// reader just after it read the answer, ends connection 1 as a failed write does
// (lostLocked) and returns once connection 2 has received its resumption;
// testHookAfterDelay hands the retry to the test, which runs it, then sends a request.
// Connection 2 must see its resumption, then the request, and nothing in between.
func TestResumptionRetryStaysOnTheRefusingConnection(t *testing.T) {
	for _, stream := range resumedStreams {
		t.Run(stream.name, func(t *testing.T) { resumptionRetryAcrossReconnect(t, stream) })
	}
}

func resumptionRetryAcrossReconnect(t *testing.T, stream resumedStream) {
	armed, resumed := make(chan struct{}), make(chan struct{})
	seen := make(chan []wire.Kind, 1) // Connection 2's frames up to the first request.
	address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
		if _, ok := peer.frameOf(stream.subscribeKind); !ok || connection > 2 {
			return
		}
		status := model.StatusOK
		switch connection {
		case 1:
			close(armed) // Before the answer, for the hook on the reader that reads it.
			status = model.StatusBusy
		case 2:
			close(resumed)
		}
		if _, err := peer.conn.Write(stream.answer(status)); err != nil || connection == 0 {
			return // Connection 0 closes: the client reconnects.
		}
		if connection == 1 {
			peer.drain()
			return
		}
		var kinds []wire.Kind // After the resumption.
		for {
			frame, err := readFrame(peer.conn, peer.decoder)
			if err != nil {
				return
			}
			kinds = append(kinds, frame.Kind)
			if frame.Kind == wire.KindRequest {
				seen <- kinds
				_, _ = peer.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
					Operation: frame.Operation, Session: frame.Session, Number: frame.Number},
					nil))
				peer.drain()
				return
			}
		}
	})
	retries := make(chan func(), 4)
	var client atomic.Pointer[Client]
	var reconnect sync.Once
	testHookAfterDelay = func(_ time.Duration, retry func()) { retries <- retry }
	testHookAnswerApplied = func(wire.Kind) {
		select {
		case <-armed:
		default:
			return // Connection 0's answer.
		}
		reconnect.Do(func() {
			c := client.Load()
			c.mu.Lock()
			c.lostLocked(c.generation, errors.New("test: connection 1 lost"))
			c.mu.Unlock()
			select {
			case <-resumed:
			case <-time.After(waitLimit): // The hang guard.
				t.Error("connection 2 never received the resumption")
			}
		})
	}
	t.Cleanup(func() { testHookAfterDelay, testHookAnswerApplied = nil, nil })
	c := dialScripted(t, address)
	client.Store(c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := stream.subscribe(ctx, c); err != nil {
		t.Fatal(err)
	}
	select {
	case retry := <-retries: // Scheduled once the hook returned: connection 2 is in.
		retry()
	case <-ctx.Done():
		t.Fatal("the busy resumption was never retried")
	}
	body := make([]byte, model.TransferSize)
	expectOK(t, c.Go(ctx, model.OperationCreateTransfers, 0, body, nil), "the request")
	kinds := <-seen
	if want := []wire.Kind{wire.KindRequest}; !slices.Equal(kinds, want) {
		t.Fatalf("after its resumption, connection 2 received %v, want %v: connection "+
			"1's busy answer was retried on connection 2, beside its own resumption",
			kinds, want)
	}
}
