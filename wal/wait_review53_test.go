package wal

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the calling
// goroutine, as the real one does, so that a helper's failure path can be observed.
type fatalRecorder struct {
	testing.TB
	message chan string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.message <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestWaitDurableIsBounded_review53 (review of wal53, claim 5): waitDurable had no bound
// of its own, so a log that never became durable to the op waited for hung the test until
// the binary's timeout (10 minutes by default) with no word on what it waited for. Now it
// fails after its bound, naming the op and what the log reached. Method: wait, with a
// short bound, for an op the log was never given; the helper must fail, not wait on.
func TestWaitDurableIsBounded_review53(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 2)
	waitDurable(t, l, last)
	recorder := &fatalRecorder{TB: t, message: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitDurableWithin(recorder, l, last+5, 300*time.Millisecond)
	}()
	select {
	case message := <-recorder.message:
		t.Logf("failed as it should: %s", message)
	case <-done:
		t.Fatalf("waitDurable returned for op %d, never appended", last+5)
	case <-time.After(waitMax): // A hang guard, not a timing assertion.
		t.Fatalf("waitDurable for an op never appended still waits after %v", waitMax)
	}
	<-done
}
