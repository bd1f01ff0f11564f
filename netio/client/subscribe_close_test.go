package client

import (
	"context"
	"errors"
	"testing"
)

// TestSubscribeWaitingForAnAnswerReturnsOnClose: Subscribe and SubscribeMarketData wait
// for the server's answer, their context, or a refusal; Close fails the calls still
// pending but never answered these, so a subscription sent to a server that does not
// answer (a slow replay, a server failing) waited past Close for its context, for ever
// with context.Background. Once the client is closed no answer can be read: they must
// return ErrClosed.
//
// Method: a scripted server that receives each subscribe frame and never answers; Close
// once it has received the frame.
func TestSubscribeWaitingForAnAnswerReturnsOnClose(t *testing.T) {
	for _, stream := range resumedStreams {
		t.Run(stream.name, func(t *testing.T) {
			received := make(chan struct{})
			address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
				if _, ok := peer.frameOf(stream.subscribeKind); ok {
					close(received)
					peer.drain()
				}
			})
			c := dialScripted(t, address)
			// A bound on waits of microseconds, not a timing: without the fix the call
			// waits for it. As long as the package's other hang guards: a starved
			// machine must not reach it.
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- stream.subscribe(ctx, c) }()
			select {
			case <-received:
			case <-ctx.Done():
				t.Fatal("the server never received the subscription")
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-result; !errors.Is(err, ErrClosed) {
				t.Fatalf("the subscription waiting when Close ran returned %v, want ErrClosed",
					err)
			}
		})
	}
}
