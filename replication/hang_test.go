package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// TestStandbyReplacesAHungPrimaryWithinALease: the primary hangs (its replication link
// and its witness link stop answering but stay open, as for a stopped process). The
// standby must take over as soon as the witness grants the lease, without waiting for
// its stream to break on the silence timeout and for a reconnection to the hung primary
// to time out: it used to need both, two 5 s timeouts, ~10 s in all. The proof is that
// it promotes while its first stream is still open (the stream never ended by itself)
// and without dialling the hung primary again.
//
// The lease is testLeaseDuration: with 400 ms, a renewal slower than 100 ms under load
// fenced the primary before the test froze anything, and the standby, whose log was
// empty, then waited for ever for a primary that refused it. The takeover (about a lease
// and a quarter after the freeze) still comes well before the 5 s silence timeout.
func TestStandbyReplacesAHungPrimaryWithinALease(t *testing.T) {
	lease := testLeaseDuration
	_, witnessAddress := startTestWitness(t, lease)
	witnessLink := newFreezingProxy(t, witnessAddress)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessLink.address(), lease))
	defer primary.Close()
	replicationLink := newFreezingProxy(t, primaryAddress)
	standbyConfig := withWitness(nodeConfig(t.TempDir(), freeAddress(t),
		replicationLink.address()), "b", witnessAddress, lease)
	standbyConfig.Peer = "127.0.0.1:1" // Its fence calls must not reach the proxy.
	messages := &recordingHandler{}
	standbyConfig.Logger = slog.New(messages)
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	dials := replicationLink.accepted.Load()
	replicationLink.frozen.Store(true)
	witnessLink.frozen.Store(true)
	waitFor(t, "the standby to take over", func() bool {
		return standby.Shard().Role() == shard.RolePrimary
	})
	if messages.logged(streamEndedMessage) {
		t.Fatal("the standby's stream to the hung primary ended (silence timeout) before " +
			"the takeover: it waited for it")
	}
	if redials := replicationLink.accepted.Load() - dials; redials != 0 {
		t.Fatalf("the standby dialled the hung primary %d more times before taking over: it "+
			"waited for its stream to time out", redials)
	}
	standby.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := standby.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write after the takeover: %s", reply.Status)
	}
}

// TestExpiredLeaseReleasesNothingAlone: a primary that releases on its own durability
// (async mode, or sync degraded) must stop the moment its witness lease runs out, before
// its lease goroutine has fenced it: a process stopped past its lease and resumed runs
// its goroutines in any order, and the standby may already be primary. What the
// standby acknowledged is on the standby and is still released.
func TestExpiredLeaseReleasesNothingAlone(t *testing.T) {
	for _, c := range []struct {
		name     string
		mode     Mode
		degraded bool
	}{{"async", ModeAsync, false}, {"sync degraded", ModeSync, true}} {
		clock := &leaseClock{}
		p := &Primary{config: PrimaryConfig{Mode: c.mode, Lease: clock, Shard: newTestShard(t)}}
		p.degraded.Store(c.degraded)
		p.acked.Store(5)
		clock.set(time.Now().Add(time.Hour))
		if got := p.Acknowledged(); got != math.MaxUint64 {
			t.Fatalf("%s, lease valid: releases up to %d, want everything durable", c.name, got)
		}
		clock.set(time.Now().Add(-time.Millisecond))
		if got := p.Acknowledged(); got != 5 {
			t.Fatalf("%s, lease expired: releases up to %d, want only what the standby "+
				"acknowledged (5)", c.name, got)
		}
	}
	if (*leaseClock)(nil).valid() != true {
		t.Fatal("without a witness the lease gate must stay open")
	}
}

// startPairThroughProxy starts a sync primary (with degradeAfter, logging to
// primaryLogger) and a standby that reaches it through a freezingProxy, has the primary
// create accounts 1 and 2 (acknowledged), and closes both when the test ends.
func startPairThroughProxy(t *testing.T, degradeAfter time.Duration,
	primaryLogger *slog.Logger) (*testNode, *freezingProxy) {
	t.Helper()
	primaryAddress := freeAddress(t)
	config := nodeConfig(t.TempDir(), primaryAddress, "")
	config.DegradeAfter = degradeAfter
	config.Logger = primaryLogger
	primary := startNode(t, config)
	t.Cleanup(func() { primary.Close() })
	link := newFreezingProxy(t, primaryAddress)
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), link.address()))
	t.Cleanup(func() { standby.Close() })
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	return primary, link
}

// TestHungStandbyIsNotAttached: the standby hangs (its connection stays open, nothing
// comes from it). The primary must stop counting it as attached (readiness) once it has
// not heard from it for standbySilenceMax, while the connection is still open: it used to
// count it attached until the 5 s silence timeout dropped the connection. What the primary
// says is read at the drop itself (the proxy's hook, when the primary closes its side),
// so the test does not depend on this goroutine polling between the two (a test goroutine
// scheduled 4 s late on a loaded machine saw the drop first and failed).
func TestHungStandbyIsNotAttached(t *testing.T) {
	primary, link := startPairThroughProxy(t, 0, testLogger)
	waitFor(t, "the standby to count as attached", func() bool {
		return primary.Status().Primary.Attached
	})
	var attachedAtDrop atomic.Int32 // 0: not dropped yet; 1: not attached by then; 2: attached.
	hook := func() {
		if primary.Status().Primary.Attached {
			attachedAtDrop.CompareAndSwap(0, 2)
		} else {
			attachedAtDrop.CompareAndSwap(0, 1)
		}
	}
	link.onTargetClosed.Store(&hook)
	link.frozen.Store(true)
	waitFor(t, "the hung standby not to count as attached", func() bool {
		return !primary.Status().Primary.Attached
	})
	waitFor(t, "the primary to drop the hung standby's connection (silence timeout)",
		func() bool { return attachedAtDrop.Load() != 0 })
	if attachedAtDrop.Load() != 1 {
		t.Fatal("the hung standby counted as attached until its connection was dropped")
	}
}

// TestHungStandbyDegradesAfterDegradeAfter: with DegradeAfter, a hung standby (connection
// open, nothing coming from it) is degraded from once it has been quiet that long,
// counted from when it went silent, not from when the silence timeout dropped its
// connection; the primary then lets it go (so it re-attaches and catches up) and releases
// the waiting write. The clock's origin is read from the degradation itself (its
// quiet_for: more than standbySilenceMax when counted from the last frame, about
// DegradeAfter when counted from the drop). The test used to assert that the primary had
// degraded by the time the connection was dropped, which assumed the degradation check
// (every 100 ms) ran within the 4 s between the 1 s quiet mark and the 5 s silence
// timeout: a degradation goroutine scheduled late on a loaded machine saw the drop first.
func TestHungStandbyDegradesAfterDegradeAfter(t *testing.T) {
	const degradeAfter = 300 * time.Millisecond
	messages := &recordingHandler{}
	primary, link := startPairThroughProxy(t, degradeAfter, slog.New(messages))
	// A primary alone for DegradeAfter degrades (a slow start of the standby does it):
	// the hang must find it waiting for its standby again.
	waitFor(t, "the primary to wait for its standby (sync)", func() bool {
		return !primary.Status().Primary.Degraded
	})
	before := primary.Status().Primary.Degradations
	link.frozen.Store(true)
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := primary.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write while the standby hangs: %s", reply.Status)
	}
	status := primary.Status().Primary
	if !status.Degraded || status.Degradations != before+1 ||
		messages.count(degradedMessage) != int(before+1) {
		t.Fatalf("after releasing the write without the standby: degraded %v, %d "+
			"degradations (%d before the hang), %d logged; want degraded once more",
			status.Degraded, status.Degradations, before, messages.count(degradedMessage))
	}
	quietFor, ok := messages.attr(degradedMessage, "quiet_for") // The hang's.
	if !ok {
		t.Fatal("the primary degraded without logging it (with quiet_for)")
	}
	if quietFor.Duration() <= standbySilenceMax {
		t.Fatalf("degraded after %v of quiet (DegradeAfter %v): the clock ran from the "+
			"drop of the connection, not from the standby's last frame (more than %v "+
			"before)", quietFor.Duration(), degradeAfter, standbySilenceMax)
	}
	waitFor(t, "the primary to let the hung standby go", link.targetClosed.Load)
}

// TestDroppedHungStandbyStaysQuietSinceItWentSilent: a hung standby last heard at T is
// quiet since T, and the DegradeAfter clock runs from then (the documented behaviour: "after
// 1 s of neither, the D clock runs from then"). When the silence timeout then drops its
// connection, it must stay quiet since T: detach used to restart the clock at the drop,
// so with a DegradeAfter longer than silenceTimeout - standbySilenceMax (4 s) the primary
// degraded DegradeAfter after the drop, up to silenceTimeout later than configured, with
// writes held meanwhile. A standby heard until it left is gone since it left.
func TestDroppedHungStandbyStaysQuietSinceItWentSilent(t *testing.T) {
	for _, c := range []struct {
		name   string
		silent time.Duration // How long before the drop it was last heard.
	}{{"hung", silenceTimeout}, {"heard until it left", 0}} {
		log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
		if err != nil {
			t.Fatal(err)
		}
		p := &Primary{config: PrimaryConfig{Shard: newTestShard(t), Log: log, Logger: testLogger}}
		conn, peer := net.Pipe()
		s := &primarySession{conn: conn}
		p.current.Store(s)
		heard := time.Now().Add(-c.silent).UnixNano()
		p.stats.lastContactNs.Store(heard)
		before := time.Now().UnixNano()
		p.detach(s)
		after := time.Now().UnixNano()
		peer.Close()
		log.Close()
		quiet := p.standbyQuietSince(time.Now().UnixNano())
		if c.silent > 0 && quiet != heard {
			t.Fatalf("%s: after the drop, quiet since %v after it was last heard: the "+
				"DegradeAfter clock restarted at the drop", c.name, time.Duration(quiet-heard))
		}
		if c.silent == 0 && (quiet < before || quiet > after) {
			t.Fatalf("%s: quiet since %d, want since the drop (%d..%d)", c.name, quiet,
				before, after)
		}
	}
}

// TestWrongKeyStopsTheStandbyAtStart: a standby whose replication key the primary refuses
// fails to open with ErrUnauthenticated at once (as for a refused TLS certificate),
// instead of retrying for ever with "primary not reachable yet".
func TestWrongKeyStopsTheStandbyAtStart(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	config := nodeConfig(t.TempDir(), freeAddress(t), primaryAddress)
	config.Key = []byte("not the key")
	opened := openInBackground(context.Background(), config)
	select {
	case err := <-opened:
		if !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("standby with a wrong key: %v, want ErrUnauthenticated", err)
		}
	case <-time.After(waitMax):
		t.Fatalf("a standby with a wrong key was still retrying after %v", waitMax)
	}
}

// TestStandbyWaitAtStartEndsOnShutdown: a standby with an empty log waits for its
// primary at start for ever; a shutdown (its context) must end that wait, even while a
// primary that hangs holds a connection attempt open.
func TestStandbyWaitAtStartEndsOnShutdown(t *testing.T) {
	hung := newFreezingProxy(t, "127.0.0.1:1")
	hung.frozen.Store(true) // Accepts, never answers: a stopped primary.
	config := nodeConfig(t.TempDir(), freeAddress(t), hung.address())
	ctx, cancel := context.WithCancel(context.Background())
	opened := openInBackground(ctx, config)
	waitFor(t, "a connection attempt to the hung primary", func() bool {
		return hung.accepted.Load() > 0
	})
	cancel()
	select {
	case err := <-opened:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after shutdown: %v, want context.Canceled", err)
		}
	case <-time.After(waitMax):
		t.Fatal("the wait for the primary ignored the shutdown")
	}
}

// degradedMessage is what a primary logs when it degrades (Primary.degrade).
const degradedMessage = "replication: standby not acknowledging, degraded to async: " +
	"acknowledged writes may be lost if this node fails now"

// recordingHandler is a slog handler that keeps the messages logged, and the level and
// attributes of each.
type recordingHandler struct {
	mutex    sync.Mutex
	messages []string
	levels   []slog.Level
	attrs    []map[string]slog.Value
	// recorded, if set before the handler is used, runs after each record is kept, on the
	// logging goroutine (outside mutex), with the record's message.
	recorded func(message string)
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, record slog.Record) error {
	attrs := map[string]slog.Value{}
	record.Attrs(func(attr slog.Attr) bool {
		attrs[attr.Key] = attr.Value
		return true
	})
	h.mutex.Lock()
	h.messages = append(h.messages, record.Message)
	h.levels = append(h.levels, record.Level)
	h.attrs = append(h.attrs, attrs)
	h.mutex.Unlock()
	if h.recorded != nil {
		h.recorded(record.Message)
	}
	return nil
}

// attr returns the attribute key of the last record of message.
func (h *recordingHandler) attr(message, key string) (slog.Value, bool) {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	for i := len(h.messages) - 1; i >= 0; i-- {
		if h.messages[i] == message {
			value, ok := h.attrs[i][key]
			return value, ok
		}
	}
	return slog.Value{}, false
}

// loggedAt reports whether message was logged at level.
func (h *recordingHandler) loggedAt(level slog.Level, message string) bool {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	for i, logged := range h.messages {
		if logged == message && h.levels[i] == level {
			return true
		}
	}
	return false
}

// count returns how many records of message were logged.
func (h *recordingHandler) count(message string) int {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	n := 0
	for _, logged := range h.messages {
		if logged == message {
			n++
		}
	}
	return n
}

func (h *recordingHandler) logged(message string) bool {
	h.mutex.Lock()
	defer h.mutex.Unlock()
	return slices.Contains(h.messages, message)
}

// TestSnapshotReceiveAtStartEndsOnShutdown: a standby starting over from its primary's
// snapshot (a transfer that can take minutes) must stop when it is shut down, as every
// other wait at start does. The primary here keeps trickling chunks (alive, so no read
// deadline fires); the receive used to ignore the context until the transfer ended.
func TestSnapshotReceiveAtStartEndsOnShutdown(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	go func() { // A primary that sends a snapshot plan, then one chunk every 20 ms.
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		writer, reader := bufio.NewWriter(conn), newFrameReader(conn)
		writeFrame(writer, frameChallenge, 1, make([]byte, nonceSize+8))
		writer.Flush()
		if _, err := reader.read(); err != nil {
			return
		}
		w := welcome{plan: planSnapshot, op: 5, address: "primary"}
		writeFrame(writer, frameWelcome, 1, w.encode())
		chunk := make([]byte, 16+1024)
		for offset := uint64(0); ; offset += 1024 {
			binary.LittleEndian.PutUint64(chunk, offset)
			if writeFrame(writer, frameSnapshotChunk, 1, chunk) != nil || writer.Flush() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	config := nodeConfig(t.TempDir(), freeAddress(t), listener.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	opened := openInBackground(ctx, config)
	receiving := filepath.Join(config.Groups[0].SnapshotDir, receivingDirectory,
		"snapshot-00000000000000000005.snap.tmp") // wal.WriteFileDurably's temporary file.
	waitFor(t, "the snapshot transfer to be under way", func() bool {
		info, err := os.Stat(receiving)
		return err == nil && info.Size() > 0
	})
	cancel()
	select {
	case err := <-opened:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after shutdown during the snapshot transfer: %v, want context.Canceled", err)
		}
	case <-time.After(waitMax):
		t.Fatal("the snapshot transfer at start ignored the shutdown")
	}
}

// TestExpiredLeaseAnswersNoRead: a sync primary's witness lease has run out (it was
// stopped past it) but its lease goroutine has not run yet to fence it. Its standby may be
// the primary by now, with writes this node never saw: a read must not be answered from
// this node's state, although everything it holds is acknowledged (sync releases follow
// acknowledgements, not the lease). Fenced, it answers the read outcome_unknown with no
// body (nothing of its state), which a client resends to the new primary after the
// redirect (it used to hold it until Close, answering shutting_down).
func TestExpiredLeaseAnswersNoRead(t *testing.T) {
	lease := 2 * time.Second
	_, witnessAddress := startTestWitness(t, lease)
	witnessLink := newFreezingProxy(t, witnessAddress)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessLink.address(), lease))
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), primaryAddress))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	failures := primary.Status().Lease.RenewalFailures
	witnessLink.frozen.Store(true)
	// Renewals run one at a time: once one has failed behind the frozen link, one that was
	// in flight at the freeze has ended (a fixed half-lease sleep assumed it had), and no
	// later one can be granted to undo the expiry set below.
	waitFor(t, "a renewal to fail", func() bool {
		return primary.Status().Lease.RenewalFailures > failures
	})
	primary.leaseClock.set(time.Now().Add(-time.Millisecond)) // Its lease ran out while stopped.
	if err := primary.Shard().Submit(&backend.Request{Connection: 2, Client: 7, Session: 2,
		Number: 1, Operation: model.OperationLookupAccounts,
		Body: model.U128(1).Append(nil)}); err != model.StatusOK {
		t.Fatalf("read submitted before the fence: %s", err)
	}
	waitFor(t, "the lease goroutine to fence the primary", func() bool {
		return primary.Shard().Role() == shard.RoleFenced
	})
	reply, body := primary.replies.wait(t, 2)
	if reply.Status != model.StatusOutcomeUnknown || len(body) != 0 {
		t.Fatalf("a read was answered (%s, %d bytes) by a primary whose lease had run out",
			reply.Status, len(body))
	}
	primary.Close()
}

// openInBackground opens a node with ctx on another goroutine (closing it at once if it
// opens) and sends OpenNode's error.
func openInBackground(ctx context.Context, config NodeConfig) <-chan error {
	opened := make(chan error, 1)
	go func() {
		node, err := OpenNode(ctx, config)
		if err == nil {
			node.Close()
		}
		opened <- err
	}()
	return opened
}

// TestStandbyStoppedAtStartDoesNotStartFromItsLog: a standby with a log of its own
// starts from it unaligned once PrimaryWaitAtStart has passed, but a shutdown that has
// come by then wins: OpenNode returns the context's error and no node.
func TestStandbyStoppedAtStartDoesNotStartFromItsLog(t *testing.T) {
	dir := t.TempDir()
	alone := startNode(t, nodeConfig(dir, "", ""))
	alone.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	if reply, _ := alone.replies.wait(t, 1); reply.Status != model.StatusOK {
		t.Fatalf("accounts: %s", reply.Status)
	}
	alone.Close()
	config := nodeConfig(dir, freeAddress(t), freeAddress(t)) // Nothing listens there.
	config.PrimaryWaitAtStart = time.Nanosecond
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	node, err := OpenNode(ctx, config)
	if err == nil {
		node.Close()
		t.Fatal("a standby stopped at start opened from its local log")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenNode after shutdown: %v, want context.Canceled", err)
	}
}
