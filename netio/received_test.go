package netio_test

import (
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/fakeshard"
)

// stampRecorder is a backend that keeps the Received stamp of every request submitted.
type stampRecorder struct {
	*fakeshard.Backend
	mutex    sync.Mutex
	received []time.Time
}

func (b *stampRecorder) Submit(request *backend.Request) model.Status {
	b.mutex.Lock()
	b.received = append(b.received, request.Received)
	b.mutex.Unlock()
	return b.Backend.Submit(request)
}

// TestRequestsStampedWhenRead: every request the server submits carries Received, the
// event loop's clock reading of the read that brought it (the shard counts its receive →
// release latency from it instead of reading the clock per request), taken after the
// frame was sent and before its reply came back. Method: a burst of requests in one
// write, then one more after the replies; each stamp must lie between the test's clock
// readings around its write and its reply. Without the stamp every one was zero.
func TestRequestsStampedWhenRead(t *testing.T) {
	var recorder *stampRecorder
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		recorder = &stampRecorder{Backend: fake}
		return recorder
	}})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	const burst = 5
	number := uint64(0)
	for round, count := range []int{burst, 1} {
		var frames []byte
		for range count {
			number++
			frames = append(frames, requestFrame(1, number, model.OperationLookupAccounts,
				encodeIDs(1))...)
		}
		sent := time.Now()
		r.write(frames)
		for range count {
			r.next()
		}
		answered := time.Now()
		recorder.mutex.Lock()
		stamps := append([]time.Time(nil), recorder.received[len(recorder.received)-count:]...)
		recorder.mutex.Unlock()
		for i, stamp := range stamps {
			if stamp.Before(sent) || stamp.After(answered) {
				t.Fatalf("round %d request %d: received %v, want between %v and %v", round,
					i, stamp, sent, answered)
			}
		}
	}
	if len(recorder.received) != burst+1 {
		t.Fatalf("%d requests submitted, want %d", len(recorder.received), burst+1)
	}
}
