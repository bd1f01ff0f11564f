package client

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestSharedWaitFollowerNotHeldByWatchersWrite (review of session 39's shared wait): a
// follower of a merged request gets its result once the request is answered, even while
// the request's watcher is busy elsewhere. With a cork held (a goroutine bursting Go
// calls), a merged caller about to wait first writes what the cork holds back
// (flushCorked) and so becomes the connection's writer, which goes on writing whatever is
// queued meanwhile. Here the watcher W of request R writes the held-back plain requests,
// then R, then a plain request queued during that write, whose write blocks (a socket
// whose send buffer is full); R's reply has come back by then. Before the fix the
// follower F, which waits for the watcher's close alone, stayed blocked until W's write
// returned (up to the write deadline, and as long again for each further batch the
// writer picks up), although its request was answered: a caller with its own context
// (or none) was not.
func TestSharedWaitFollowerNotHeldByWatchersWrite(t *testing.T) {
	conn := newGatedConn()
	c := newConnClient(conn)
	c.window = semaphore.NewWeighted(2) // Two requests in flight: R waits to be admitted.
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	defer c.endLifetime()
	plainBody := make([]byte, model.TransferSize)
	background := context.Background()

	c.Cork()
	first := c.Go(background, model.OperationCreateTransfers, 0, plainBody, nil)
	second := c.Go(background, model.OperationCreateTransfers, 0, plainBody, nil)

	shared, endShared := context.WithCancel(background)
	defer endShared()
	type outcome struct {
		results []model.EventResult
		err     error
	}
	watcherDone, followerDone := make(chan outcome, 1), make(chan outcome, 1)
	go func() { // W: forms R (the window is full), becomes its watcher, flushes the cork.
		results, err := c.CreateTransfers(shared, []model.Transfer{transfer(1, 1, 2, 1, 0)})
		watcherDone <- outcome{results, err}
	}()
	<-conn.entered // W writes first and second; the write waits at the gate.
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	go func() { // F: joins R with the same context: a follower.
		results, err := c.CreateTransfers(shared, []model.Transfer{transfer(2, 1, 2, 1, 0)})
		followerDone <- outcome{results, err}
	}()
	var r *Call
	waitFor(t, c, "the follower in R", func() bool {
		r = c.forming[key]
		return r != nil && r.waiters == 2
	})
	c.mu.Lock()
	shares := r.watchDone == shared.Done()
	c.mu.Unlock()
	if !shares {
		t.Fatal("R's wait is not shared by its callers")
	}

	replyTo(c, first) // A slot frees: R is admitted and queued behind W's write.
	waitFor(t, c, "R admitted", func() bool { return r.Number != 0 })
	conn.gate <- struct{}{} // first and second are through; W goes on with R.
	<-conn.entered
	replyTo(c, second)
	third := make(chan *Call, 1)
	go func() { third <- c.Go(background, model.OperationCreateTransfers, 0, plainBody, nil) }()
	thirdCall := <-third    // Queued while W writes R (corked: nobody else writes it).
	conn.gate <- struct{}{} // R is through; W goes on with the third request...
	<-conn.entered          // ...whose write blocks.

	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: model.OperationCreateTransfers,
		Number: r.Number, Status: uint32(model.StatusOK),
		Body: make([]byte, 2*model.EventResultSize)}, c.generation)
	select {
	case f := <-followerDone:
		if f.err != nil || len(f.results) != 1 || f.results[0].Status != model.StatusOK {
			t.Errorf("the follower: %v %v, want its transfer ok", f.results, f.err)
		}
	case <-time.After(waitLimit): // A guard against a hang only.
		t.Error("R was answered, and its follower still waits for the watcher's write")
	}

	release(t, c, conn) // Lets W's write through, and any after it.
	if w := <-watcherDone; w.err != nil || len(w.results) != 1 {
		t.Errorf("the watcher: %v %v", w.results, w.err)
	}
	replyTo(c, thirdCall)
	c.Uncork()
}
