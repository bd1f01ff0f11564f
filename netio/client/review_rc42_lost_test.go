package client

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
)

// swallowingProxy forwards loopback connections to target; once swallow is set, the
// next bytes a client sends are dropped, not forwarded, and both connections closed:
// the request in them reaches no server, and its client cannot know it (a copy lost
// with its connection).
type swallowingProxy struct {
	listener net.Listener
	target   string
	swallow  atomic.Bool
}

func startSwallowingProxy(t *testing.T, target string) *swallowingProxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &swallowingProxy{listener: listener, target: target}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			client, err := listener.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() { _, _ = io.Copy(client, server); client.Close() }()
			go p.forward(client, server)
		}
	}()
	return p
}

func (p *swallowingProxy) forward(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	buffer := make([]byte, 64<<10)
	for {
		n, err := client.Read(buffer)
		if err != nil {
			return
		}
		if p.swallow.CompareAndSwap(true, false) {
			return
		}
		if _, err := server.Write(buffer[:n]); err != nil {
			return
		}
	}
}

// TestLostMergedRequestAboveTheBurstIsNotResentForEver (review rc42; failed until rc43's
// fix in resendOrDropLocked): once its callers had left, a request with a copy lost with
// a connection was kept pending without a caller (abandonPendingLocked) and resent
// until a definite reply, which a request above the burst never gets. It held its window
// slot and, as the oldest pending number, the exactly-once window (window.go) for good:
// 256 requests later no request could be numbered and the client was wedged. Client 1
// may send 4 events a second; A and B (3 transfers each) merge into one request of 6
// behind a held window of one; its first copy is lost (the proxy swallows it and closes
// the connection), every resend is refused rate_limited. Both callers leave; the client must give the request up (no
// longer pending) once they have.
func TestLostMergedRequestAboveTheBurstIsNotResentForEver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	leaving, leave := context.WithCancel(ctx)
	defer leave()
	c, request, wait := sendLostMergedRequest(t, ctx, 700, leaving, leaving)
	leave()
	_, errs := wait()
	var unknown *OutcomeUnknownError
	for i, err := range errs {
		if !errors.As(err, &unknown) {
			t.Errorf("caller %d: %v, want an *OutcomeUnknownError", i, err)
		}
	}
	waitFor(t, c, "the request its callers left to be given up", func() bool {
		return c.pending[request.Number] == nil
	})
}

// sendLostMergedRequest starts a server whose client 1 may send 4 events a second and a
// client (window of one, resends 1 ms after a refusal) behind a swallowingProxy; behind
// a window held by transfer blockerID, callers A (leavingA) and B (leavingB) merge 3
// transfers each into one request of 6 events (mergeBehindHeldWindow). The merged
// request's first copy is lost (the proxy swallows it and closes the connection); it
// returns once a resend of it has been refused rate_limited: the client, the request
// (pending, lostCopy) and the wait for A and B.
func sendLostMergedRequest(t *testing.T, ctx context.Context, blockerID uint64,
	leavingA, leavingB context.Context) (*Client, *Call,
	func() ([][]model.EventResult, []error)) {
	s, clockNs := rateLimitedServer(t, 4)
	proxy := startSwallowingProxy(t, s.server.Address())
	c := dialTestClient(t, proxy.listener.Addr().String(), func(config *Config) {
		config.InflightMax = 1
		config.BusyRetryDelay = time.Millisecond
	})
	createTestAccounts(t, c)
	holding, stopHolding := context.WithCancel(ctx)
	defer stopHolding()
	blocker, wait := mergeBehindHeldWindow(t, s, clockNs, c, holding, blockerID,
		[]context.Context{leavingA, leavingB})
	proxy.swallow.Store(true)
	stopHolding() // The merged request goes; the proxy swallows it.
	<-blocker
	s.backend.Resume()
	var request *Call
	waitFor(t, c, "the merged request's resend refused", func() bool {
		for _, call := range c.pending {
			if call.events == 6 && call.lostCopy && call.busyRetries > 0 {
				request = call
				return true
			}
		}
		return false
	})
	return c, request, wait
}
