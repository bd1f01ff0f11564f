package replication

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentWitness accepts connections and answers nothing. For each one it asks the node
// for its Status and Err, and counts whether they answered while the node's request was
// still open (answered) or only once the node had given it up at its deadline (waited:
// they waited for the request). It then closes the connection, so that the node's
// request fails at once. The node's deadline (a handshake timeout) bounds how long Status
// may take to count as answered: a hang guard, far above what it takes.
type silentWitness struct {
	listener         net.Listener
	answered, waited atomic.Int32
	handlers         sync.WaitGroup
	node             atomic.Pointer[Node]
}

func startSilentWitness(t *testing.T) *silentWitness {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &silentWitness{listener: listener}
	w.handlers.Add(1)
	go func() {
		defer w.handlers.Done()
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			w.handlers.Add(1)
			go func() {
				defer w.handlers.Done()
				w.handle(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		w.handlers.Wait()
	})
	return w
}

func (w *silentWitness) handle(conn net.Conn) {
	defer conn.Close()
	node := w.node.Load()
	if node == nil {
		return
	}
	answered := make(chan struct{})
	go func() {
		node.Status()
		node.Err()
		close(answered)
	}()
	buffer := make([]byte, 4096)
	for {
		select {
		case <-answered:
			// Looked at after the answer: a node that released its mutex only once its
			// request ended had closed its end before Status could answer.
			if closedByNode(conn, buffer) {
				w.waited.Add(1)
			} else {
				w.answered.Add(1)
			}
			return
		default:
		}
		if closedByNode(conn, buffer) {
			w.waited.Add(1)
			<-answered
			return
		}
	}
}

// closedByNode reads what the node sends for a moment and reports whether it has closed
// its end of conn.
func closedByNode(conn net.Conn, buffer []byte) bool {
	conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	for {
		_, err := conn.Read(buffer)
		if err == nil {
			continue
		}
		var netErr net.Error
		return !errors.As(err, &netErr) || !netErr.Timeout()
	}
}

// settled waits until the witness has counted connections connections.
func (w *silentWitness) settled(t *testing.T, connections int32) {
	t.Helper()
	waitFor(t, "the silent witness to count the node's requests", func() bool {
		return w.answered.Load()+w.waited.Load() >= connections
	})
}

// TestRepl53StatusAnswersWhileTheWitnessIsAskedForThePromotion: a promotion whose grant
// ran out releases it at the witness, then acquires afresh; both requests used to hold
// the node's mutex, so that Status (every /healthz, /readyz and /metrics request) and Err
// waited for a witness that hangs until each request's deadline (a handshake timeout
// each). They must answer while the requests are in flight. The release, unanswered,
// stays pending.
func TestRepl53StatusAnswersWhileTheWitnessIsAskedForThePromotion(t *testing.T) {
	witness := startSilentWitness(t)
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standby := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t),
		primaryAddress), "b", witness.listener.Addr().String(), testLeaseDuration))
	defer standby.Close()
	standby.mutex.Lock()
	if standby.watchStop != nil { // The test alone asks the witness.
		close(standby.watchStop)
		standby.watchStop = nil
	}
	// A grant under which a promotion failed, run out: the next one releases it first.
	granted := standby.Epoch() + 1
	standby.grantedEpoch = granted
	standby.mutex.Unlock()
	witness.node.Store(standby.Node)

	if epoch, err := standby.Promote(); err == nil {
		t.Fatalf("promoted to epoch %d by a witness that answers nothing", epoch)
	}
	witness.settled(t, 2)
	if answered, waited := witness.answered.Load(), witness.waited.Load(); answered < 2 ||
		waited != 0 {
		t.Fatalf("Status and Err answered during %d of the node's requests to the witness "+
			"and waited for the node to give up %d (want both requests answered, none "+
			"waited for)", answered, waited)
	}
	standby.mutex.Lock()
	pending, held := standby.releasePending, standby.grantedEpoch
	standby.mutex.Unlock()
	if pending != granted || held != 0 {
		t.Fatalf("after the unanswered release: pending %d, granted %d; want pending %d, "+
			"granted 0", pending, held, granted)
	}
	if shown := standby.Status().Witness.ReleasePendingEpoch; shown != granted {
		t.Fatalf("the status shows the pending release of epoch %d, want %d", shown, granted)
	}
}

// TestRepl53StatusAnswersWhileAPendingReleaseIsSentAgain: the failover watch's resend of
// a release that got no answer (releasePendingGrant) used to hold the node's mutex across
// the request, up to a quarter lease per tick while the witness hangs; Status and Err
// must answer meanwhile, and the release stays pending. The lease is long, so that the
// resend's deadline (a quarter lease) is a handshake timeout.
func TestRepl53StatusAnswersWhileAPendingReleaseIsSentAgain(t *testing.T) {
	witness := startSilentWitness(t)
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	standby := startNode(t, withWitness(nodeConfig(t.TempDir(), freeAddress(t),
		primaryAddress), "b", witness.listener.Addr().String(), 4*handshakeTimeout))
	defer standby.Close()
	standby.mutex.Lock()
	if standby.watchStop != nil { // The test alone asks the witness.
		close(standby.watchStop)
		standby.watchStop = nil
	}
	given := standby.Epoch() + 1
	standby.releasePending = given
	standby.mutex.Unlock()
	witness.node.Store(standby.Node)

	if !standby.releasePendingGrant() {
		t.Fatal("a release the witness did not answer is no longer pending")
	}
	witness.settled(t, 1)
	if answered, waited := witness.answered.Load(), witness.waited.Load(); answered != 1 ||
		waited != 0 {
		t.Fatalf("Status and Err answered during %d of the node's requests to the witness "+
			"and waited for the node to give up %d (want 1 and 0)", answered, waited)
	}
	standby.mutex.Lock()
	pending := standby.releasePending
	standby.mutex.Unlock()
	if pending != given {
		t.Fatalf("pending release %d, want %d", pending, given)
	}
	if shown := standby.Status().Witness.ReleasePendingEpoch; shown != given {
		t.Fatalf("the status shows the pending release of epoch %d, want %d", shown, given)
	}
}
