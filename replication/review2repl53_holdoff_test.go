package replication

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/shard"
)

// gatingProxy forwards TCP connections to a target; once armed, it holds the next
// connection it accepts (connected to nothing) until released, then forwards it. The
// others are forwarded at once.
type gatingProxy struct {
	listener net.Listener
	target   string
	armed    atomic.Bool
	holdAll  atomic.Bool   // Armed: every connection is held, not only the next.
	heldN    atomic.Int64  // Connections held so far.
	held     chan struct{} // Closed once a connection is held.
	release  chan struct{} // Closed by open: the held connection is forwarded.
	once     sync.Once
	opened   sync.Once
	mutex    sync.Mutex
	conns    []net.Conn
}

func newGatingProxy(t *testing.T, target string) *gatingProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatingProxy{listener: listener, target: target, held: make(chan struct{}),
		release: make(chan struct{})}
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.once.Do(func() {}) // Nothing is held from now on.
		p.open()
		p.mutex.Lock()
		for _, conn := range p.conns {
			conn.Close()
		}
		p.mutex.Unlock()
	})
	return p
}

// open forwards the held connection.
func (p *gatingProxy) open() { p.opened.Do(func() { close(p.release) }) }

func (p *gatingProxy) keep(conn net.Conn) {
	p.mutex.Lock()
	p.conns = append(p.conns, conn)
	p.mutex.Unlock()
}

func (p *gatingProxy) accept() {
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.keep(conn)
		hold := false
		if p.armed.Load() {
			p.once.Do(func() { hold = true; close(p.held) })
			if p.holdAll.Load() {
				select {
				case <-p.release:
				default:
					hold = true
				}
			}
		}
		if hold {
			p.heldN.Add(1)
		}
		go func() {
			if hold {
				<-p.release
			}
			upstream, err := net.Dial("tcp", p.target)
			if err != nil {
				conn.Close()
				return
			}
			p.keep(upstream)
			go func() {
				copyUntilClosed(upstream, conn)
				upstream.Close()
			}()
			copyUntilClosed(conn, upstream)
			conn.Close()
		}()
	}
}

func copyUntilClosed(to, from net.Conn) {
	buffer := make([]byte, 64<<10)
	for {
		n, err := from.Read(buffer)
		if n > 0 {
			if _, werr := to.Write(buffer[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestReview2repl53WatchDoesNotAcquireDuringTheHoldOffAfterAManualGiveUp (review2-repl53):
// the failover watch checks the hold-off (holdingOff) before its probe and its
// promotion, but promote does not check it again once it has witnessTurn. A watch tick
// that passed its hold-off check, and whose probe was in flight while a manual Promote
// gave the grant up (failedPromotionsPerGrantMax failures under it: released at the
// witness, the hold-off set), goes on with promote once the manual one has unwound:
// it acquires the lease again at once (the release ended it), so that the hold-off,
// which is there for the other node to take the lease, is defeated, and the node with
// the broken disk holds the lease for another round of failures. The watch must not ask
// the witness for a grant during a hold-off (lease.go's watchPrimary: "this loop asks
// the witness nothing for releasedGrantHoldOffLeases leases (holdingOff, even when a
// manual Promote gave it up)"). The probe is held by a proxy in front of the witness
// until the give-up is done.
func TestReview2repl53WatchDoesNotAcquireDuringTheHoldOffAfterAManualGiveUp(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newGatingProxy(t, witnessAddress)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessAddress, testLeaseDuration))
	t.Cleanup(func() { primary.Close() })
	waitForFirstRenewal(t, primary)
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.listener.Addr().String(), testLeaseDuration)
	config.Logger = slog.New(messages)
	standby := startNode(t, config) // Its failover watch runs.
	t.Cleanup(func() { standby.Close() })
	blockEpochFile(t, standby) // Never unblocked: every promotion fails to store.
	primary.Close()
	waitFor(t, "the watch's first failed promotion (b holds a grant)", func() bool {
		return messages.logged(automaticFailoverFailedMessage)
	})
	proxy.armed.Store(true) // The watch's next probe is held.
	select {
	case <-proxy.held:
	case <-time.After(promptWaitMax):
		t.Fatal("the watch sent no probe")
	}
	// A manual promotion gives the grant up while the watch's probe is in flight.
	var gaveUp bool
	for attempt := 0; attempt < 4 && !gaveUp; attempt++ {
		standby.mutex.Lock()
		standby.failedPromotions = failedPromotionsPerGrantMax - 1
		standby.mutex.Unlock()
		_, err := standby.Promote()
		var given grantGivenUpError
		gaveUp = errors.As(err, &given)
	}
	if !gaveUp {
		t.Fatal("set-up: the manual promotion did not give the grant up")
	}
	witness.mutex.Lock()
	givenUp, released := witness.epoch, witness.released
	witness.mutex.Unlock()
	if !released || !standby.holdingOff() {
		t.Fatalf("set-up: grant %d released %v, holding off %v", givenUp, released,
			standby.holdingOff())
	}
	proxy.open()
	// The watch's promotion, if any, is done once it says why it did not promote (the
	// hold-off, a Debug line: promptly, well within the hold-off's two leases), or the
	// witness has granted again.
	var regranted uint64
	waitWithin(t, 2*handshakeTimeout, "the watch to end its tick", func() bool {
		witness.mutex.Lock()
		epoch, holder, released := witness.epoch, witness.holder, witness.released
		witness.mutex.Unlock()
		if epoch > givenUp && holder == "b" && !released {
			regranted = epoch
			return true
		}
		cause, ok := messages.attr("replication: automatic failover not possible yet", "error")
		return ok && strings.Contains(cause.String(), "holding off after a grant given up")
	})
	if regranted != 0 {
		t.Fatalf("the failover watch acquired the lease again (epoch %d) during the hold-off "+
			"that followed the manual give-up of grant %d: the other node cannot take it",
			regranted, givenUp)
	}
}

// TestReview2repl53WatchDoesNotPromoteAStandbyThatStoppedDuringItsProbe (review2-repl53):
// the failover watch must not promote a standby that stopped following for a reason no
// reconnection cures (Err: a state digest that differs, a log to resync), which is known
// not to hold the primary's state; it checks Err before its probe, but promote does not
// check it again, so a standby that stops while the watch's probe is in flight (or while
// the watch waits for witnessTurn) is promoted all the same. The proxy in front of the
// witness holds the probe until the standby has stopped.
func TestReview2repl53WatchDoesNotPromoteAStandbyThatStoppedDuringItsProbe(t *testing.T) {
	witness, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newGatingProxy(t, witnessAddress)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessAddress, testLeaseDuration))
	t.Cleanup(func() { primary.Close() })
	waitForFirstRenewal(t, primary)
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.listener.Addr().String(), testLeaseDuration)
	config.Logger = slog.New(messages)
	standby := startNode(t, config) // Its failover watch runs.
	t.Cleanup(func() { standby.Close() })
	proxy.holdAll.Store(true)
	proxy.armed.Store(true) // Every request to the witness is held from now on.
	primary.Close()
	waitFor(t, "the primary to be silent, and its lease to have run out", func() bool {
		witness.mutex.Lock()
		expired := !time.Now().Before(witness.expires)
		witness.mutex.Unlock()
		return expired && !standby.primaryHeardWithin(testLeaseDuration)
	})
	// The next connection held is the watch's probe before a promotion (probeWitness only
	// asks while the primary is heard).
	heldBefore := proxy.heldN.Load()
	waitFor(t, "the watch's probe before its promotion", func() bool {
		return proxy.heldN.Load() > heldBefore
	})
	standby.fail(errors.New("state digest differs (test)"))
	proxy.open()
	waitWithin(t, promptWaitMax, "the watch to promote b or to say it will not",
		func() bool {
			return standby.Role() != shard.RoleStandby ||
				messages.logged("replication: this standby stopped following: automatic "+
					"failover will not promote it")
		})
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the failover watch promoted b (now %s) after it stopped following: %v",
			role, standby.Err())
	}
}
