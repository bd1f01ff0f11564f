package client

import (
	"context"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// dialLoneQuiet is dialLone with the client's heartbeat far beyond the hang guard: the
// ticker never takes the connection's read back within a test, so a test sees who
// reads without it.
func dialLoneQuiet(t *testing.T, address string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1, LoneReads: true,
		HeartbeatInterval: 10 * waitLimit, SilenceTimeout: 40 * waitLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLoneWaiterNotLeftUnreadByAnotherCork_review52c — review of client52, claim (3):
// "any other write ... gives the read back to the reader goroutine" (doc.go: "any other
// request ... takes the read back"). A request another goroutine issues while it holds a
// cork is not written, so it wakes nobody. A lone waiter whose request was written
// before it (without waking the reader: its caller is to read the reply), whose Wait
// found nothing corked, and who then finds two requests pending, does not read
// (readOwnReply) and waits for the reader, which still lends the connection: its reply,
// arrived, is read only at the other goroutine's Uncork or at the heartbeat's ticker.
// Without LoneReads the reader reads it at once, cork or not. Method: the lone call's
// steps in that schedule (goInto as DoInto; Wait's flushCorked with no cork, a no-op;
// the other goroutine's Cork and Go; Wait's readOwnReply), then its reply must come
// while the cork is still held.
func TestLoneWaiterNotLeftUnreadByAnotherCork_review52c(t *testing.T) {
	script := &loneScript{held: make(chan wire.Frame, 1)}
	c := dialLoneQuiet(t, startScriptedServer(t, script.run))
	ctx := context.Background()
	for range 2 {
		if err := loneDo(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, c, "the reader lending the connection", func() bool {
		return c.readRole == roleFree
	})
	body := make([]byte, model.TransferSize)
	lone := c.goInto(ctx, model.OperationCreateTransfers, 0, body, nil, nil, true)
	c.flushCorked() // Wait's first step: nothing corked yet.
	c.Cork()        // Another goroutine's burst.
	other := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	c.readOwnReply(ctx, lone) // Wait's next step: two pending, the caller does not read.
	select {
	case <-lone.complete:
	case <-time.After(waitLimit):
		t.Fatal("a lone call's reply was left unread while another goroutine held a cork")
	}
	c.Uncork()
	if _, err := lone.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
