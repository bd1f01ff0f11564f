package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/netio/wire"
)

// corkedWatcher is the scene of the tests below (review of session 39's shared wait):
// with a cork held (a goroutine bursting Go calls), a merged caller about to wait first
// writes what the cork holds back (flushCorked), and so may become the connection's
// writer, which goes on writing whatever is queued meanwhile. Two plain requests (first,
// second) fill a window of two; W forms the merged request r (waiting for a slot),
// becomes its watcher, flushes the cork and is held inside the write of first and second
// (a socket whose send buffer is full); F joins r with W's context: a follower.
type corkedWatcher struct {
	conn                      *gatedConn
	c                         *Client
	shared                    context.Context
	endShared                 context.CancelFunc
	first, second             *Call
	r                         *Call
	watcherDone, followerDone chan sharedWaitOutcome
}

type sharedWaitOutcome struct {
	results []model.EventResult
	err     error
}

func newCorkedWatcher(t *testing.T) *corkedWatcher {
	s := &corkedWatcher{conn: newGatedConn()}
	s.c = newConnClient(s.conn)
	c := s.c
	c.window = semaphore.NewWeighted(2)
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	t.Cleanup(c.endLifetime)
	plainBody := make([]byte, model.TransferSize)
	c.Cork()
	s.first = c.Go(context.Background(), model.OperationCreateTransfers, 0, plainBody, nil)
	s.second = c.Go(context.Background(), model.OperationCreateTransfers, 0, plainBody, nil)
	s.shared, s.endShared = context.WithCancel(context.Background())
	t.Cleanup(s.endShared)
	s.watcherDone = make(chan sharedWaitOutcome, 1)
	s.followerDone = make(chan sharedWaitOutcome, 1)
	call := func(id uint64, done chan<- sharedWaitOutcome) {
		results, err := c.CreateTransfers(s.shared, []model.Transfer{transfer(id, 1, 2, 1, 0)})
		done <- sharedWaitOutcome{results, err}
	}
	go call(1, s.watcherDone) // W
	<-s.conn.entered          // W writes first and second; the write waits at the gate.
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	go call(2, s.followerDone) // F
	waitFor(t, c, "the follower in r", func() bool {
		s.r = c.forming[key]
		return s.r != nil && s.r.waiters == 2
	})
	c.mu.Lock()
	shares := s.r.watchDone == s.shared.Done()
	c.mu.Unlock()
	if !shares {
		t.Fatal("r's wait is not shared by its callers")
	}
	return s
}

// TestSharedWaitFollowerNotHeldByWatchersWrite: a follower gets its result once its
// request is answered, even while the watcher is busy elsewhere. Here W goes on from
// first and second to write r, then a plain request queued during that write, whose
// write blocks; r's reply has come back by then. Before the fix F, waiting for the
// watcher's close alone, stayed blocked until W's write returned (up to the write
// deadline, as long again for each further batch the writer picks up), although its
// request was answered.
func TestSharedWaitFollowerNotHeldByWatchersWrite(t *testing.T) {
	s := newCorkedWatcher(t)
	c, conn := s.c, s.conn
	replyTo(c, s.first) // A slot frees: r is admitted and queued behind W's write.
	waitFor(t, c, "r admitted", func() bool { return s.r.Number != 0 })
	conn.gate <- struct{}{} // first and second are through; W goes on with r.
	<-conn.entered
	replyTo(c, s.second)
	third := make(chan *Call, 1)
	go func() {
		third <- c.Go(context.Background(), model.OperationCreateTransfers, 0,
			make([]byte, model.TransferSize), nil)
	}()
	thirdCall := <-third    // Queued while W writes r (corked: nobody else writes it).
	conn.gate <- struct{}{} // r is through; W goes on with the third request...
	<-conn.entered          // ...whose write blocks.

	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: model.OperationCreateTransfers,
		Number: s.r.Number, Status: uint32(model.StatusOK),
		Body: make([]byte, 2*model.EventResultSize)}, c.generation)
	select {
	case f := <-s.followerDone:
		if f.err != nil || len(f.results) != 1 || f.results[0].Status != model.StatusOK {
			t.Errorf("the follower: %v %v, want its transfer ok", f.results, f.err)
		}
	case <-time.After(waitLimit): // A guard against a hang only.
		t.Error("r was answered, and its follower still waits for the watcher's write")
	}

	release(t, c, conn) // Lets W's write through, and any after it.
	if w := <-s.watcherDone; w.err != nil || len(w.results) != 1 {
		t.Errorf("the watcher: %v %v", w.results, w.err)
	}
	replyTo(c, thirdCall)
	c.Uncork()
}

// TestSharedWaitFollowerLeavesWhileWatcherWrites: a follower whose context ends stops
// waiting then, as any caller does, even while the watcher (same context) is held in a
// write for a cork and cannot see the end. Before the fix F waited for W's write to
// return (up to the write deadline).
func TestSharedWaitFollowerLeavesWhileWatcherWrites(t *testing.T) {
	s := newCorkedWatcher(t)
	c, conn := s.c, s.conn
	s.endShared()
	select {
	case f := <-s.followerDone:
		if !errors.Is(f.err, context.Canceled) {
			t.Errorf("the follower: %v %v, want an error wrapping context.Canceled",
				f.results, f.err)
		}
	case <-time.After(waitLimit): // A guard against a hang only.
		t.Error("the follower's context ended, and it still waits for the watcher's write")
	}

	release(t, c, conn)
	if w := <-s.watcherDone; !errors.Is(w.err, context.Canceled) {
		t.Errorf("the watcher: %v %v, want an error wrapping context.Canceled", w.results, w.err)
	}
	replyTo(c, s.first)
	replyTo(c, s.second)
	c.Uncork()
}
