package replication

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// The tests in this file drive the real primary and standby code with a peer that
// misbehaves on cue: a primary whose digests differ, one that answers a reconnect with a
// plan a running standby cannot carry out, one that sends frames of the wrong size or
// kind, and a standby that reports an error. Mutation testing (tools/mutation) found
// these paths unexecuted or unchecked.

// tamperingProxy forwards a standby's connections to its primary. Frames from the
// standby pass as bytes; frames from the primary are decoded, handed to change (which
// may alter the body in place) and re-encoded with a fresh checksum: a primary that
// sends what change makes of its frames, as a diverged or buggy primary would.
type tamperingProxy struct {
	listener net.Listener
	target   string
	change   func(kind frameType, body []byte)
	mutex    sync.Mutex
	conns    []net.Conn
}

func newTamperingProxy(t *testing.T, target string, change func(kind frameType, body []byte)) *tamperingProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperingProxy{listener: listener, target: target, change: change}
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.mutex.Lock()
		for _, conn := range p.conns {
			conn.Close()
		}
		p.mutex.Unlock()
	})
	return p
}

func (p *tamperingProxy) address() string { return p.listener.Addr().String() }

func (p *tamperingProxy) accept() {
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			conn.Close()
			continue
		}
		p.mutex.Lock()
		p.conns = append(p.conns, conn, upstream)
		p.mutex.Unlock()
		go func() { // Standby → primary: untouched.
			io.Copy(upstream, conn)
			upstream.Close()
		}()
		go p.forwardFrames(upstream, conn)
	}
}

// forwardFrames copies the primary's frames to the standby through change.
func (p *tamperingProxy) forwardFrames(from, to net.Conn) {
	defer to.Close()
	reader, writer := newFrameReader(from), bufio.NewWriter(to)
	for {
		f, err := reader.read()
		if err != nil {
			return
		}
		p.change(f.kind, f.body)
		if writeFrame(writer, f.kind, f.epoch, f.body) != nil || writer.Flush() != nil {
			return
		}
	}
}

// TestStandbyStopsOnADigestThatDiffers: both replicas snapshot at the same op and the
// primary sends its state digest; a standby whose digest differs (here the primary's is
// altered on the way, as if the replicas had diverged) must stop following with
// ErrDigestMismatch rather than drift silently. This needs the primary to send its
// digests, the standby to record its own, and both to be compared.
func TestStandbyStopsOnADigestThatDiffers(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	proxy := newTamperingProxy(t, primaryAddress, func(kind frameType, body []byte) {
		if kind == frameDigest && len(body) == 40 {
			body[8] ^= 1 // One bit of the digest: a state that differs.
		}
	})
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), proxy.address()))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	if err := standby.Err(); err != nil {
		t.Fatalf("before any digest: %v", err)
	}
	primary.Shard().RequestSnapshot() // Through the log: both replicas snapshot at its op.
	waitWithin(t, promptWaitMax, "the standby to stop on the digest",
		func() bool { return standby.Err() != nil })
	if err := standby.Err(); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("standby stopped with %v, want ErrDigestMismatch", err)
	}
}

// challengeBody is a primary's challenge: a nonce and a reserved word.
var challengeBody = append(make([]byte, nonceSize), encodeUint64s(0)...)

// welcomeWith answers one standby connection as a primary at epoch 1 would: challenge,
// the standby's hello, then w; then waits for the standby to hang up when hold is set.
func welcomeWith(w welcome, hold bool) func(writer *bufio.Writer, reader *frameReader) {
	return func(writer *bufio.Writer, reader *frameReader) {
		writeFrame(writer, frameChallenge, 1, challengeBody)
		writer.Flush()
		if _, err := reader.read(); err != nil { // The hello.
			return
		}
		writeFrame(writer, frameWelcome, 1, w.encode())
		writer.Flush()
		for hold { // Until the standby hangs up.
			if _, err := reader.read(); err != nil {
				return
			}
		}
	}
}

// TestReconnectWithAResyncPlanStopsTheStandby: a running standby whose stream dropped
// reconnects; a primary that then asks for anything but streaming on from exactly the
// standby's last op (a snapshot or a truncation, even at that op, or a stream from
// another op) is asking for a rebuild of state that only a restart does: the standby
// must stop with ErrResyncNeeded, not stream onto a log that does not continue the
// primary's.
func TestReconnectWithAResyncPlanStopsTheStandby(t *testing.T) {
	for _, c := range []struct {
		name string
		plan plan
		op   uint64
	}{
		{"snapshot at the standby's last op", planSnapshot, 0},
		{"truncate at the standby's last op", planTruncate, 0},
		{"stream from another op", planStream, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			address := scriptedPeer(t,
				welcomeWith(welcome{plan: planStream, address: "p:1"}, false), // Then drops the stream.
				welcomeWith(welcome{plan: c.plan, op: c.op, address: "p:1"}, true))
			standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), address))
			defer standby.Close()
			waitWithin(t, promptWaitMax, "the standby to stop",
				func() bool { return standby.Err() != nil })
			if err := standby.Err(); !errors.Is(err, ErrResyncNeeded) {
				t.Fatalf("standby stopped with %v, want ErrResyncNeeded", err)
			}
		})
	}
}

// TestStreamRefusesAMisbehavingPrimary drives a standby's Link.Stream with a primary
// that sends, after a good start, a frame the standby must not take: each ends the
// stream with an error that says why, which the standby also sends the primary (an
// error frame, which the primary logs). A digest equal to the standby's own is taken.
func TestStreamRefusesAMisbehavingPrimary(t *testing.T) {
	own := [32]byte{7} // The standby's digest at ops 5 and 6.
	digestFrame := func(op uint64, digest [32]byte) []byte {
		return append(encodeUint64s(op), digest[:]...)
	}
	failedApply := errors.New("apply failed: disk full")
	cases := []struct {
		name string
		kind frameType
		body []byte
		want error  // errors.Is the stream's error; nil: see text.
		text string // In the stream's error.
	}{
		{"the primary's error frame", frameError, []byte("primary log failed"), nil, "primary log failed"},
		{"a digest that differs", frameDigest, digestFrame(6, [32]byte{8}), ErrDigestMismatch, "op 6"},
		{"a digest of 39 bytes", frameDigest, digestFrame(6, own)[:39], ErrFrame, "39"},
		{"a short heartbeat", frameHeartbeat, encodeUint64s(3), ErrFrame, ""},
		{"a welcome while streaming", frameWelcome, nil, ErrFrame, "type 3"},
		{"an entry the log refuses", frameEntry, []byte("entry"), failedApply, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			standbySide, primarySide := net.Pipe()
			defer standbySide.Close()
			told := make(chan string, 1) // The standby's error frame, if any.
			go func() {
				defer primarySide.Close()
				writer := bufio.NewWriter(primarySide)
				// A good start: a heartbeat and the digest the standby holds.
				writeFrame(writer, frameHeartbeat, 1, encodeUint64s(5, 5))
				writeFrame(writer, frameDigest, 1, digestFrame(5, own))
				writeFrame(writer, c.kind, 1, c.body)
				writer.Flush()
				reader := newFrameReader(primarySide)
				for {
					f, err := reader.read()
					if err != nil {
						close(told)
						return
					}
					if f.kind == frameError {
						told <- string(f.body)
						return
					}
				}
			}()
			link := &Link{config: StandbyConfig{Log: log, Logger: testLogger}, conn: standbySide,
				reader: newFrameReader(standbySide), writer: bufio.NewWriter(standbySide),
				PrimaryEpoch: 1}
			book := newDigestBook(nil)
			book.standby(5, own)
			book.standby(6, own)
			apply := func([]byte) error { return failedApply }
			var stats StandbyStats
			err = link.Stream(apply, book, make(chan struct{}), &stats)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) ||
				!strings.Contains(err.Error(), c.text) {
				t.Fatalf("stream ended with %v, want %v containing %q", err, c.want, c.text)
			}
			if got := stats.primaryLastOp.Load(); got != 5 {
				t.Fatalf("primary's last op from the heartbeat: %d, want 5", got)
			}
			standbySide.Close()
			message, ok := <-told
			if !ok || message != err.Error() {
				t.Fatalf("error frame to the primary: %q (sent %v), want %q", message, ok, err)
			}
		})
	}
}

// TestPrimaryDropsAStandbyThatReportsAnError: a standby that reports an error (its log
// failed, or it refused a frame) is detached by its primary at once, and the primary
// logs the standby's reason for the operator.
func TestPrimaryDropsAStandbyThatReportsAnError(t *testing.T) {
	primaryAddress := freeAddress(t)
	config := nodeConfig(t.TempDir(), primaryAddress, "")
	messages := &recordingHandler{}
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	link := dialAsStandby(t, primary, primaryAddress)
	waitFor(t, "the standby to attach", func() bool { return primary.primary0().current.Load() != nil })
	if err := link.send(frameError, []byte("standby log failed")); err != nil {
		t.Fatal(err)
	}
	// The primary closes the connection (before the silence timeout would: the reader
	// ends at the close, and the log line below is only written on the error frame).
	io.Copy(io.Discard, link.conn)
	waitFor(t, "the primary to log the standby's error", func() bool {
		return messages.logged("replication: standby reported an error")
	})
}

// dialAsStandby connects to primary's replication address at epoch 1 as a standby with an
// empty log would (closed when the test ends) and returns the link, not streaming: the
// test plays the standby's side.
func dialAsStandby(t *testing.T, primary *testNode, primaryAddress string) *Link {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	link, err := Dial(t.Context(), StandbyConfig{Address: primaryAddress, Key: testKey, Log: log,
		Shards: primary.shards(), MapChecksum: primary.mapChecksum(), Logger: testLogger}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	return link
}

// helloFrom makes one correctly signed hello at epoch 1 to a primary's replication
// address, as a standby of its map would, and returns the primary's answer.
func helloFrom(t *testing.T, address string, h hello) frame {
	t.Helper()
	return helloAtEpoch(t, address, 1, h)
}

// helloAtEpoch is helloFrom from a standby at epoch.
func helloAtEpoch(t *testing.T, address string, epoch uint64, h hello) frame {
	t.Helper()
	conn, _, answer := dialHello(t, address, epoch, h)
	conn.Close()
	return answer
}

// dialHello is helloAtEpoch that leaves the connection open (the caller closes it) for
// what the primary sends after its answer (closed at the latest when the test ends); its
// deadline is exchangeWaitMax away.
func dialHello(t *testing.T, address string, epoch uint64, h hello) (net.Conn, *frameReader, frame) {
	t.Helper()
	conn, reader, challenge := dialGate(t, address)
	payload := h.encodePayload()
	body := append(mac(testKey, frameHello, challenge.body[:nonceSize], epoch, payload), payload...)
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameHello, epoch, body); err != nil || writer.Flush() != nil {
		t.Fatalf("hello: %v", err)
	}
	answer, err := reader.read()
	if err != nil {
		t.Fatalf("hello: no answer: %v", err)
	}
	answer.body = append([]byte(nil), answer.body...)
	return conn, reader, answer
}

// TestPrimaryRefusesAStandbyItSharesNothingWith: a standby whose log shares no entry with
// the primary's (another history at the same ops), with no snapshot to start it over
// from, is told so (an error frame naming the divergence): no plan is made up for it.
// (The primary used to attach the standby before planning, and detaching closed the
// connection before the error frame was written: the standby saw EOF, a diverged log
// looked like a network fault.)
func TestPrimaryRefusesAStandbyItSharesNothingWith(t *testing.T) {
	primaryAddress := freeAddress(t)
	config := nodeConfig(t.TempDir(), primaryAddress, "")
	config.Mode = ModeAsync // Replies without a standby.
	primary := startNode(t, config)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	last := primary.Log().LastOp()
	for _, c := range []struct {
		name  string
		point wal.ChainPoint
	}{
		{"another entry at the primary's last op", wal.ChainPoint{LastOp: last, Chain: [32]byte{9}}},
		// The primary has no chain at an op it never wrote: a zero chain there is no match.
		{"an op the primary never wrote", wal.ChainPoint{LastOp: last + 5}},
	} {
		answer := helloFrom(t, primaryAddress, hello{shards: primary.shards(),
			mapChecksum: primary.mapChecksum(), lastOp: c.point.LastOp,
			points: []wal.ChainPoint{c.point}})
		if answer.kind != frameError || !strings.Contains(string(answer.body), ErrDiverged.Error()) {
			t.Fatalf("%s: answer type %d %q, want an error frame saying %q", c.name, answer.kind,
				answer.body, ErrDiverged)
		}
		if primary.primary0().current.Load() != nil {
			t.Fatalf("%s: the diverged standby is still attached", c.name)
		}
	}
}

// TestStandbyStatusShowsItsLag: a standby whose primary says (heartbeat) it is at op 7
// while the standby holds nothing reports itself connected and 7 ops behind, so an
// operator sees how far behind it is before promoting it.
func TestStandbyStatusShowsItsLag(t *testing.T) {
	heartbeatSent := make(chan struct{})
	address := scriptedPeer(t, func(writer *bufio.Writer, reader *frameReader) {
		welcomeWith(welcome{plan: planStream, address: "p:1"}, false)(writer, reader)
		writeFrame(writer, frameHeartbeat, 1, encodeUint64s(7, 7))
		writer.Flush()
		close(heartbeatSent)
		for { // Until the standby hangs up.
			if _, err := reader.read(); err != nil {
				return
			}
		}
	})
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), address))
	defer standby.Close()
	<-heartbeatSent
	var status *StandbyStatus
	waitFor(t, "the standby to take the heartbeat, connected", func() bool {
		status = standby.Status().Standby
		return status.PrimaryLastOp == 7 && status.Connected
	})
	if status.LagOps != 7 {
		t.Fatalf("standby status %+v, want 7 ops behind", status)
	}
}

// TestPromotedStandbyWithoutAListenerKeepsFencing: a standby that serves no standby of its
// own (no replication listener, so no shard group has a Primary) promoted while its old
// primary is down keeps retrying its fence; deciding whether to retry (has the old
// primary rejoined as a standby?) must not assume a Primary exists.
func TestPromotedStandbyWithoutAListenerKeepsFencing(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	standby := startNode(t, nodeConfig(t.TempDir(), "", primaryAddress))
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	primary.Close()
	// The old primary's address now hangs up on every connection: each fence fails.
	listener, err := net.Listen("tcp", primaryAddress)
	if err != nil {
		t.Skipf("the old primary's address cannot be taken again: %v", err)
	}
	defer listener.Close()
	attempts := make(chan struct{}, 8)
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conn.Close()
			select {
			case attempts <- struct{}{}:
			default:
			}
		}
	}()
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	for attempt := range 2 { // The second is a retry: the check between the two ran.
		select {
		case <-attempts:
		case <-time.After(startWaitMax): // A hang guard; a retry comes after a second.
			t.Fatalf("fence attempt %d never came", attempt+1)
		}
	}
	if standby.Role() != shard.RolePrimary {
		t.Fatalf("role %s after the fence retries, want primary", standby.Role())
	}
}

// TestRefusalCodes: a primary's refusal says why by its code; an empty refusal or one of
// a code this version does not know (a newer primary's) is a bad frame, never taken for
// a fatal key or map mismatch (the standby would stop for good) and never read past its
// end.
func TestRefusalCodes(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"key", encodeRefusal(refusedUnauthenticated, "key"), ErrUnauthenticated},
		{"map", encodeRefusal(refusedShardMap, "map"), ErrShardMapMismatch},
		{"unknown code", encodeRefusal(3, "new"), ErrFrame},
		{"empty", nil, ErrFrame},
	} {
		err := decodeRefusal(c.body)
		for _, other := range []error{ErrUnauthenticated, ErrShardMapMismatch, ErrFrame} {
			if errors.Is(err, other) != (other == c.want) {
				t.Fatalf("%s: %v, want only %v", c.name, err, c.want)
			}
		}
	}
}

// TestMatchingDigestsKeepTheStandbyFollowing: the counterpart of
// TestStandbyStopsOnADigestThatDiffers: replicas whose snapshot digests agree go on, and
// the standby reports no stop (the operator's alarm) when it records its own digest.
func TestMatchingDigestsKeepTheStandbyFollowing(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	config := nodeConfig(t.TempDir(), freeAddress(t), primaryAddress)
	messages := &recordingHandler{}
	config.Logger = slog.New(messages)
	written := make(chan struct{}, 4)
	config.Snapshots.OnWritten = func(shard.SnapshotResult) { written <- struct{}{} }
	standby := startNode(t, config)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.replies.wait(t, 1)
	primary.Shard().RequestSnapshot()
	select { // The standby's own digest is recorded before this callback runs.
	case <-written:
	case <-time.After(startWaitMax): // A hang guard, not a timing assertion.
		t.Fatal("the standby wrote no snapshot")
	}
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	if reply, _ := primary.replies.wait(t, 2); reply.Status != model.StatusOK {
		t.Fatalf("write after the snapshot: %s", reply.Status)
	}
	if err := standby.Err(); err != nil || messages.logged("replication: STANDBY STOPPED") {
		t.Fatalf("the standby stopped (%v) with digests that agree", err)
	}
}
