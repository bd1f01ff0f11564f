package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/tools/testcert"
	"sequent/wal"
)

// The tests in this file come from the fourth round's systematic pass over replication
// (tools/mutation/RESULTS.md, "Fourth round: replication"): every error return, refusal
// and default that no test of the package executed, each checked by its effect (the
// error the caller relies on, the state left behind, the frame sent). They call the
// pieces directly where a node pair would only reach them by chance, and take
// milliseconds each.

// TestTruncatedFrameIsAnEOF: a frame whose header is sound (here announcing a body of
// exactly frameBodyBytesMax, the largest allowed) but whose body ends early is the
// reader's error (the stream ended), not a checksum failure made up from a partial body;
// and writeFrame takes a body of exactly frameBodyBytesMax.
func TestTruncatedFrameIsAnEOF(t *testing.T) {
	var b bytes.Buffer
	writer := bufio.NewWriter(&b)
	if err := writeFrame(writer, frameEntry, 1, make([]byte, frameBodyBytesMax)); err != nil {
		t.Fatalf("a body of frameBodyBytesMax: %v", err)
	}
	writer.Flush()
	truncated := b.Bytes()[:frameHeaderSize+3]
	_, err := newFrameReader(bytes.NewReader(truncated)).read()
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrFrame) {
		t.Fatalf("a body cut short: %v, want io.ErrUnexpectedEOF", err)
	}
	f, err := newFrameReader(bytes.NewReader(b.Bytes())).read()
	if err != nil || len(f.body) != frameBodyBytesMax {
		t.Fatalf("the whole frame: %d bytes (%v)", len(f.body), err)
	}
}

// TestPlanNames: every plan has its name in logs and errors; an unknown one says its
// number.
func TestPlanNames(t *testing.T) {
	for p, name := range map[plan]string{planStream: "stream", planTruncate: "truncate",
		planSnapshot: "snapshot", 9: "plan(9)"} {
		if got := p.String(); got != name {
			t.Fatalf("plan %d named %q, want %q", uint8(p), got, name)
		}
	}
}

// TestLoadEpochChecks: no epoch file is epoch 0 (a new node); a file holding a number
// (with its newline) is that epoch; one holding anything else, or a path that cannot be
// read as a file, is an error naming the problem, never epoch 0 (which would let a node
// that was promoted start again as of its first epoch).
func TestLoadEpochChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		name, path string
		epoch      uint64
		err        string
	}{
		{"missing", filepath.Join(dir, "none"), 0, ""},
		{"number", write("good", "7\n"), 7, ""},
		{"garbage", write("bad", "seven\n"), 0, "epoch file"},
		{"directory", dir, 0, "is a directory"},
	} {
		epoch, err := LoadEpoch(c.path)
		if epoch != c.epoch || (err == nil) != (c.err == "") ||
			(err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Fatalf("%s: epoch %d (%v), want %d and an error containing %q", c.name, epoch,
				err, c.epoch, c.err)
		}
	}
}

// TestNodeConfigNeedsOneGroupPerShard: a node needs a group for every shard of its map,
// and at least one.
func TestNodeConfigNeedsOneGroupPerShard(t *testing.T) {
	two := shardmap.Hashed(2)
	one := nodeConfig(t.TempDir(), "", "").Groups
	for _, c := range []struct {
		name   string
		groups []GroupConfig
		placed *shardmap.Map
		ok     bool
	}{
		{"none", nil, nil, false},
		{"one of one", one, nil, true},
		{"two for one", append(append([]GroupConfig(nil), one...), one...), nil, false},
		{"one for two", one, two, false},
	} {
		config := NodeConfig{Groups: c.groups, Map: c.placed}
		err := config.withDefaults()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "groups for a map")) {
			t.Fatalf("%s: %v, want allowed %v", c.name, err, c.ok)
		}
	}
}

// TestStartNeedsAnOutputPerShard: Start with a number of outputs other than the shard
// count is a programming error, said at once.
func TestStartNeedsAnOutputPerShard(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "1 outputs for 2 shards") {
			t.Fatalf("recovered %v, want the count mismatch", r)
		}
	}()
	n := &Node{groups: []*Group{{}, {}}}
	n.Start([]shard.Outputs{shard.RepliesOnly(newCollector())})
}

// TestGroupWithoutAPrimaryReleasesNothing: a replicated group with no Primary yet (between
// a promotion and its primary's start) releases no reply and answers no read; a group
// without replication releases and answers everything; a group with a Primary asks it.
func TestGroupWithoutAPrimaryReleasesNothing(t *testing.T) {
	withPrimary := &Group{replicated: true}
	p := &Primary{config: PrimaryConfig{Shard: newTestShard(t)}}
	p.acked.Store(4)
	withPrimary.primary.Store(p)
	for _, c := range []struct {
		name         string
		group        *Group
		acknowledged uint64
		reads        bool
	}{
		{"not replicated", &Group{}, math.MaxUint64, true},
		{"replicated, no primary", &Group{replicated: true}, 0, false},
		{"replicated, primary", withPrimary, 4, true},
	} {
		if got, reads := c.group.Acknowledged(), c.group.ReadsAllowed(); got != c.acknowledged ||
			reads != c.reads {
			t.Fatalf("%s: acknowledged %d, reads %v; want %d, %v", c.name, got, reads,
				c.acknowledged, c.reads)
		}
	}
}

// TestSendDigestNeverBlocks: a digest notice (op, then the digest) is queued for the
// session's sender, which is woken; with no session it is dropped, and with the queue
// full (a sender stuck on a slow standby) the newest is dropped rather than blocking the
// snapshot writer that hands it over.
func TestSendDigestNeverBlocks(t *testing.T) {
	p := &Primary{}
	p.SendDigest(1, [32]byte{1}) // No session: nothing to do, nothing panics.
	session := &primarySession{wake: make(chan struct{}, 1), digests: make(chan [40]byte, 2)}
	p.current.Store(session)
	p.SendDigest(7, [32]byte{7})
	p.SendDigest(8, [32]byte{8}) // The sender has a wake-up pending already.
	p.SendDigest(9, [32]byte{9}) // The queue is full: dropped.
	if len(session.wake) != 1 || len(session.digests) != 2 {
		t.Fatalf("wake %d, digests %d queued; want 1 and 2", len(session.wake), len(session.digests))
	}
	notice := <-session.digests
	if op := binary.LittleEndian.Uint64(notice[:8]); op != 7 || notice[8] != 7 {
		t.Fatalf("notice for op %d with digest %x, want op 7 with digest 07…", op, notice[8:])
	}
}

// TestWakeReleasesNeverBlocks: the lease goroutine's wake-up of every group's release
// path leaves one signal pending per group however often it runs (a group whose
// sequencer is busy must not stop the lease goroutine).
func TestWakeReleasesNeverBlocks(t *testing.T) {
	n := &Node{groups: []*Group{{notify: make(chan struct{}, 1)}, {notify: make(chan struct{}, 1)}}}
	n.wakeReleases()
	n.wakeReleases()
	for i, g := range n.groups {
		if len(g.notify) != 1 {
			t.Fatalf("group %d: %d signals pending, want 1", i, len(g.notify))
		}
	}
}

// TestStartPrimaryDefaults: a Primary configured without a heartbeat interval (zero or
// negative), logger or notification channel gets the default interval, a logger, and a
// channel of its own that AcknowledgedNotify returns and an acknowledgement signals.
func TestStartPrimaryDefaults(t *testing.T) {
	for _, interval := range []time.Duration{0, -1} {
		p := StartPrimary(PrimaryConfig{Shard: newTestShard(t), HeartbeatInterval: interval})
		if p.config.HeartbeatInterval != heartbeatInterval || p.config.Logger == nil {
			t.Fatalf("interval %d: heartbeat %v, logger %v; want %v and a logger", interval,
				p.config.HeartbeatInterval, p.config.Logger, heartbeatInterval)
		}
		notify := p.AcknowledgedNotify()
		if notify == nil || cap(notify) != 1 || len(notify) != 0 {
			t.Fatalf("notification channel %v (capacity %d)", notify, cap(notify))
		}
		p.acknowledge(3, 3)
		if len(notify) != 1 || p.acked.Load() != 3 {
			t.Fatalf("an acknowledgement: %d signals, acknowledged %d", len(notify), p.acked.Load())
		}
		p.Close()
	}
}

// TestSendEntryKeepsTheOrder: the sender skips entries the standby already has (a tail
// that fell back to the log re-reads them), refuses one that does not follow the last
// op sent (a gap would leave the standby's log with a hole), and sends one that does,
// counting it.
func TestSendEntryKeepsTheOrder(t *testing.T) {
	p := &Primary{config: PrimaryConfig{Shard: newTestShard(t)}}
	var sent bytes.Buffer
	session := &primarySession{writer: bufio.NewWriter(&sent)}
	session.sentOp.Store(5)
	for _, c := range []struct {
		name            string
		firstOp, lastOp uint64
		err             bool
		sentOp          uint64
		entries         uint64
	}{
		{"already sent", 3, 5, false, 5, 0},
		{"a gap", 7, 7, true, 5, 0},
		{"next", 6, 8, false, 8, 1},
		{"overlapping", 8, 9, true, 8, 1},
	} {
		err := p.sendEntry(session, []byte("entry"), c.firstOp, c.lastOp)
		if (err != nil) != c.err || session.sentOp.Load() != c.sentOp ||
			p.stats.entriesSent.Load() != c.entries {
			t.Fatalf("%s (ops %d..%d): %v, sent op %d, %d entries; want error %v, %d, %d",
				c.name, c.firstOp, c.lastOp, err, session.sentOp.Load(),
				p.stats.entriesSent.Load(), c.err, c.sentOp, c.entries)
		}
	}
	session.writer.Flush()
	f, err := newFrameReader(&sent).read()
	if err != nil || f.kind != frameEntry || string(f.body) != "entry" {
		t.Fatalf("sent %+v (%v), want the one entry", f, err)
	}
	if _, err := newFrameReader(&sent).read(); !errors.Is(err, io.EOF) {
		t.Fatalf("a second frame was sent (%v)", err)
	}
	if stats := &p.stats; stats.lastSentOp.Load() != 8 || stats.bytesSent.Load() != 5 {
		t.Fatalf("last sent op %d, %d bytes; want 8, 5", stats.lastSentOp.Load(),
			stats.bytesSent.Load())
	}
}

// TestUnreadableSnapshotDirectoryIsAnError: a primary that cannot list its snapshots (the
// directory is a file here) says so, both when planning a standby's start and when
// sending the snapshot; it does not call the standby diverged, nor send nothing as if
// it had sent a snapshot.
func TestUnreadableSnapshotDirectoryIsAnError(t *testing.T) {
	notADirectory := filepath.Join(t.TempDir(), "snapshots")
	if err := os.WriteFile(notADirectory, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t),
		SnapshotDir: notADirectory}}
	_, err = p.plan(&hello{lastOp: 5, points: []wal.ChainPoint{{LastOp: 5}}})
	if !errors.Is(err, syscall.ENOTDIR) || errors.Is(err, ErrDiverged) {
		t.Fatalf("plan: %v, want ENOTDIR", err)
	}
	var sent bytes.Buffer
	if err := p.sendSnapshot(bufio.NewWriter(&sent), 3); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("sendSnapshot: %v, want ENOTDIR", err)
	}
	p.config.SnapshotDir = t.TempDir()
	if err := p.sendSnapshot(bufio.NewWriter(&sent), 3); err == nil || sent.Len() != 0 {
		t.Fatalf("sendSnapshot of a snapshot that is not there: %v, %d bytes sent", err, sent.Len())
	}
}

// TestSnapshotWrittenPairsOnlySoundSnapshots: a primary hands its standby the digest of
// every snapshot it wrote, and only of those: not of a snapshot that failed, nor of one
// skipped because another was being written (its digest is not of a state on disk).
func TestSnapshotWrittenPairsOnlySoundSnapshots(t *testing.T) {
	g := &Group{}
	p := &Primary{}
	session := &primarySession{wake: make(chan struct{}, 1), digests: make(chan [40]byte, 4)}
	p.current.Store(session)
	g.primary.Store(p)
	g.snapshotWritten(shard.SnapshotResult{Meta: wal.SnapshotMeta{Op: 1}, Err: errors.New("disk")})
	g.snapshotWritten(shard.SnapshotResult{Meta: wal.SnapshotMeta{Op: 2}, Superseded: true})
	g.snapshotWritten(shard.SnapshotResult{Meta: wal.SnapshotMeta{Op: 3, Digest: [32]byte{3}}})
	if len(session.digests) != 1 {
		t.Fatalf("%d digests queued, want 1 (the sound snapshot's)", len(session.digests))
	}
	if notice := <-session.digests; binary.LittleEndian.Uint64(notice[:8]) != 3 || notice[8] != 3 {
		t.Fatalf("queued the digest %x", notice)
	}
}

// TestGateRoutesHellos: the gate refuses a hello too short to hold its signature as
// unauthenticated, a malformed one as a bad frame, one for a shard past the map's end as
// a map mismatch if it is signed with the node's key (unauthenticated if not: nothing is
// said about the map to a stranger), and one for a shard whose group serves no primary
// as fenced.
func TestGateRoutesHellos(t *testing.T) {
	n := &Node{config: NodeConfig{Key: testKey, Logger: testLogger}, groups: []*Group{{}}}
	g := &gate{node: n}
	nonce := make([]byte, nonceSize)
	signed := func(h hello, key []byte) frame {
		payload := h.encodePayload()
		return frame{kind: frameHello, epoch: 1,
			body: append(mac(key, frameHello, nonce, 1, payload), payload...)}
	}
	for _, c := range []struct {
		name string
		f    frame
		want error
	}{
		{"short", frame{kind: frameHello, body: make([]byte, 31)}, ErrUnauthenticated},
		{"signature only", frame{kind: frameHello, body: make([]byte, 32)}, ErrFrame},
		{"malformed", frame{kind: frameHello, body: make([]byte, 40)}, ErrFrame},
		{"past the map", signed(hello{shard: 1, shards: 1}, testKey), errShardMap},
		{"past the map, stranger", signed(hello{shard: 1, shards: 1}, []byte("other")), ErrUnauthenticated},
		{"no primary", signed(hello{shard: 0, shards: 1}, testKey), errFenced},
	} {
		if err := g.hello(nil, nil, nil, c.f, nonce); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestFencePeerOnceSignsTheFence: a fence call reads the peer's challenge and sends a
// fence at the new epoch, signed over that challenge's nonce, naming this node's client
// address; a peer that answers with anything but a challenge (or a short one) gets no
// fence, and the call fails.
func TestFencePeerOnceSignsTheFence(t *testing.T) {
	received := make(chan frame, 1)
	nonce := bytes.Repeat([]byte{9}, nonceSize)
	address := scriptedPeer(t,
		func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameError, 1, []byte("not a challenge"))
		},
		func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameChallenge, 1, make([]byte, nonceSize-1))
		},
		func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameChallenge, 1, nonce) // Exactly a nonce: enough.
			w.Flush()
			if f, err := r.read(); err == nil {
				f.body = append([]byte(nil), f.body...)
				received <- f
			}
		})
	n := &Node{config: NodeConfig{Key: testKey, ClientAddress: "client:7"}, lifetime: t.Context()}
	for _, name := range []string{"error frame", "short challenge"} {
		if err := n.fencePeerOnce(address, 5); err == nil ||
			!strings.Contains(err.Error(), "unexpected first frame") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := n.fencePeerOnce(address, 5); err != nil {
		t.Fatal(err)
	}
	f := <-received
	if f.kind != frameFence || f.epoch != 5 || string(f.body[32:]) != "client:7" ||
		!verifyMAC(testKey, frameFence, nonce, 5, f.body[32:], f.body[:32]) {
		t.Fatalf("fence sent: type %d, epoch %d, body %q", f.kind, f.epoch, f.body)
	}
}

// TestLoadTLSNamesTheMissingFile: a certificate or key that cannot be loaded, and a CA
// file that cannot be read, are errors saying which; a TLS dial to an address without a
// port is an error before any connection.
func TestLoadTLSNamesTheMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := LoadTLS(missing, missing, missing); err == nil ||
		!strings.Contains(err.Error(), "certificate and key") {
		t.Fatalf("no certificate: %v", err)
	}
	files := testcert.NewAuthority(t, "sequent test CA").IssueFiles(t)
	if _, err := LoadTLS(files.Certificate, files.Key, missing); err == nil ||
		!strings.Contains(err.Error(), "CA") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no CA: %v", err)
	}
	loaded, err := LoadTLS(files.Certificate, files.Key, files.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialLink(context.Background(), "127.0.0.1", loaded.Client, handshakeTimeout); err == nil ||
		!strings.Contains(err.Error(), "missing port") {
		t.Fatalf("a TLS dial without a port: %v", err)
	}
}

// TestStandbyDialToAPrimaryThatHangsUp: a primary that reads the hello and closes the
// connection (a restart, a crash) is a network error for the standby, which reconnects:
// not a malformed frame.
func TestStandbyDialToAPrimaryThatHangsUp(t *testing.T) {
	address := scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
		writeFrame(w, frameChallenge, 1, challengeBody)
		w.Flush()
		r.read() // The hello; then the connection closes.
	})
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	_, err = Dial(context.Background(), StandbyConfig{Address: address, Key: testKey, Log: log,
		Logger: testLogger}, 1)
	if !errors.Is(err, io.EOF) || errors.Is(err, ErrFrame) {
		t.Fatalf("dial: %v, want io.EOF", err)
	}
}

// TestStartWitnessDefaults: a witness configured without a lease (zero or negative) or a
// logger grants the default lease and logs somewhere.
func TestStartWitnessDefaults(t *testing.T) {
	for _, lease := range []time.Duration{0, -1} {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey, LeaseDuration: lease})
		got := witness.config
		witness.Close()
		if got.LeaseDuration != LeaseDurationDefault || got.Logger == nil {
			t.Fatalf("lease %v: %v and logger %v, want %v and a logger", lease,
				got.LeaseDuration, got.Logger, LeaseDurationDefault)
		}
	}
}

// TestWitnessIgnoresARequestOfTheWrongLength: a signed lease request whose node name is
// not as long as its length field says gets no answer (the connection closes); the same
// request with the right length is answered.
func TestWitnessIgnoresARequestOfTheWrongLength(t *testing.T) {
	_, address := startTestWitness(t, time.Minute)
	request := func(nameLength uint16, name string) (frame, error) {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(handshakeTimeout))
		reader, writer := newFrameReader(conn), bufio.NewWriter(conn)
		challenge, err := reader.read()
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 18)
		payload[0] = leaseRenew
		binary.LittleEndian.PutUint64(payload[8:], 1)
		binary.LittleEndian.PutUint16(payload[16:], nameLength)
		payload = append(payload, name...)
		body := append(mac(testKey, frameLeaseRequest, challenge.body[:nonceSize], 1, payload), payload...)
		writeFrame(writer, frameLeaseRequest, 1, body)
		writer.Flush()
		return reader.read()
	}
	if _, err := request(5, "abc"); !errors.Is(err, io.EOF) {
		t.Fatalf("a name shorter than its length: %v, want no answer (EOF)", err)
	}
	if _, err := request(2, "abc"); !errors.Is(err, io.EOF) {
		t.Fatalf("a name longer than its length: %v, want no answer (EOF)", err)
	}
	if reply, err := request(3, "abc"); err != nil || reply.kind != frameLeaseReply || reply.body[0] != 1 {
		t.Fatalf("a sound request: %+v (%v), want a grant", reply, err)
	}
	if reply, err := request(0, ""); err != nil || reply.kind != frameLeaseReply {
		t.Fatalf("a request with an empty name (the shortest): %+v (%v), want an answer", reply, err)
	}
}

// startAlone opens and starts a node in dir without replication (a primary on its own).
func startAlone(t *testing.T, dir string) *testNode {
	t.Helper()
	return startNode(t, nodeConfig(dir, "", ""))
}

// TestFailedOpenReleasesTheLogs: a node that cannot store its epoch, recover its machine
// or build its shard fails to open, saying which, and leaves its logs closed behind it (a retry can open
// them); one whose log cannot be opened names the shard; one whose epoch file is not a
// number refuses to start.
func TestFailedOpenReleasesTheLogs(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(config *NodeConfig)
		err    string
	}{
		{"epoch not stored", func(config *NodeConfig) {
			config.EpochPath = filepath.Join(t.TempDir(), "missing", "epoch")
		}, "store epoch"},
		{"shard not built", func(config *NodeConfig) { config.Shard.EntryBytesMax = 1 },
			"replication: shard 0: shard: EntryBytesMax"},
		{"machine not recovered", func(config *NodeConfig) {
			// A snapshot of an op the empty log never reached: its tail was lost.
			if _, err := wal.WriteSnapshot(config.Groups[0].SnapshotDir, wal.SnapshotMeta{Op: 5},
				strings.NewReader("state")); err != nil {
				t.Fatal(err)
			}
		}, "replication: shard 0: " + shard.ErrLogBehindSnapshot.Error()},
		{"epoch not a number", func(config *NodeConfig) {
			if err := os.WriteFile(config.EpochPath, []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "epoch file"},
		{"log not opened", func(config *NodeConfig) {
			if err := os.WriteFile(config.Groups[0].LogDir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "replication: shard 0:"},
	} {
		dir := t.TempDir()
		config := nodeConfig(dir, "", "")
		c.change(&config)
		node, err := OpenNode(context.Background(), config)
		if err == nil {
			node.Close()
			t.Fatalf("%s: the node opened", c.name)
		}
		if !strings.Contains(err.Error(), c.err) {
			t.Fatalf("%s: %v, want %q", c.name, err, c.err)
		}
		if c.name == "log not opened" {
			continue
		}
		log, err := wal.Open(wal.Options{Dir: config.Groups[0].LogDir, Logger: testLogger})
		if err != nil {
			t.Fatalf("%s: the failed node left its log open: %v", c.name, err)
		}
		log.Close()
	}
}

// dialGate connects to a node's replication address and reads its challenge; the
// connection (deadline exchangeWaitMax away) closes when the test ends.
func dialGate(t *testing.T, address string) (net.Conn, *frameReader, frame) {
	t.Helper()
	conn, err := dialLink(context.Background(), address, nil, exchangeWaitMax)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(exchangeWaitMax))
	reader := newFrameReader(conn)
	challenge, err := reader.read()
	if err != nil || challenge.kind != frameChallenge {
		t.Fatalf("no challenge (%v)", err)
	}
	challenge.body = append([]byte(nil), challenge.body...)
	return conn, reader, challenge
}

// TestFenceWithABadSignatureIsIgnored: a fence of a higher epoch signed with another key
// (a stranger, or a node of another pair) leaves the primary serving.
func TestFenceWithABadSignatureIsIgnored(t *testing.T) {
	address := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), address, ""))
	defer primary.Close()
	conn, _, challenge := dialGate(t, address)
	payload := []byte("impostor:1")
	body := append(mac([]byte("another key"), frameFence, challenge.body[:nonceSize], 9, payload), payload...)
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameFence, 9, body); err != nil || writer.Flush() != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, conn) // The primary closes the connection once it has handled it.
	if role, epoch := primary.Role(), primary.Epoch(); role != shard.RolePrimary || epoch != 1 {
		t.Fatalf("a fence signed with another key made the primary %s at epoch %d", role, epoch)
	}
}

// TestPrimaryIsNotPromoted: promoting a node that is already the primary is refused and
// changes nothing.
func TestPrimaryIsNotPromoted(t *testing.T) {
	node := startAlone(t, t.TempDir())
	defer node.Close()
	epoch, err := node.Promote()
	if err == nil || !strings.Contains(err.Error(), "cannot promote a primary") || epoch != 0 {
		t.Fatalf("promoting a primary: epoch %d, %v", epoch, err)
	}
	if node.Epoch() != 1 || node.Role() != shard.RolePrimary {
		t.Fatalf("after the refusal: %s at epoch %d", node.Role(), node.Epoch())
	}
}

// TestStatusShowsTheFailure: once replication has failed, the node's status says why
// (the first failure: later ones follow from it).
func TestStatusShowsTheFailure(t *testing.T) {
	node := startAlone(t, t.TempDir())
	defer node.Close()
	if failure := node.Status().Failure; failure != "" {
		t.Fatalf("a healthy node reports failure %q", failure)
	}
	first := errors.New("first problem")
	node.fail(first)
	node.fail(errors.New("second problem"))
	if failure := node.Status().Failure; failure != "first problem" || node.Err() != first {
		t.Fatalf("status failure %q, Err %v; want the first problem", failure, node.Err())
	}
}

// TestRecoveryIsReported: a restarted node reports how each group's state was rebuilt
// (Node.Recovery is shard 0's), and each group knows its shard index.
func TestRecoveryIsReported(t *testing.T) {
	dir := t.TempDir()
	node := startAlone(t, dir)
	node.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1))
	node.replies.wait(t, 1)
	node.Close()
	node = startAlone(t, dir)
	defer node.Close()
	if report := node.Recovery(); report.OpLast != 1 || report.ReplayedOps != 1 ||
		node.Groups()[0].Recovery().OpLast != 1 {
		t.Fatalf("recovery %+v, group 0's %+v; want op 1 replayed", report, node.Groups()[0].Recovery())
	}
	sharded := startSharded(t, shardedConfig(t.TempDir(), "", "", twoShards))
	defer sharded.Close()
	for i, g := range sharded.Groups() {
		if g.Index() != uint16(i) {
			t.Fatalf("group %d says it is shard %d", i, g.Index())
		}
	}
}

// TestFailedStartOverKeepsTheLog: a standby told at start to start over from the
// primary's snapshot keeps its log where it is when it cannot: when what the primary
// sends whole is not the snapshot the plan names (its header does not read; the node's
// own snapshots, one of them undeletable, are not touched before that check), and when
// the transfer breaks (a chunk at the wrong offset). The open fails with the reason,
// and no log was set aside to be replaced.
func TestFailedStartOverKeepsTheLog(t *testing.T) {
	chunk := func(offset uint64, last bool) []byte {
		body := append(encodeUint64s(offset), make([]byte, 8)...)
		if last {
			body[8] = 1
		}
		return append(body, "state"...)
	}
	for _, c := range []struct {
		name        string
		undeletable bool
		offset      uint64
		want        error
	}{
		{"snapshots not removed", true, 0, nil},
		{"transfer broken", false, 7, ErrFrame},
	} {
		t.Run(c.name, func(t *testing.T) {
			address := scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
				welcomeWith(welcome{plan: planSnapshot, op: 5, address: "p:1"}, false)(w, r)
				writeFrame(w, frameSnapshotChunk, 1, chunk(c.offset, true))
				w.Flush()
				for { // Until the standby hangs up.
					if _, err := r.read(); err != nil {
						return
					}
				}
			})
			dir := t.TempDir()
			config := nodeConfig(dir, "", address)
			if c.undeletable {
				undeletableSnapshot(t, config.Groups[0].SnapshotDir, 3)
			}
			node, err := OpenNode(t.Context(), config)
			if err == nil {
				node.Close()
				t.Fatal("the standby started although it could not start over")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("open failed with %v, want %v", err, c.want)
			}
			entries, readErr := os.ReadDir(dir)
			if readErr != nil {
				t.Fatal(readErr)
			}
			for _, entry := range entries {
				if strings.Contains(entry.Name(), "replaced") {
					t.Fatalf("the log was set aside (%s) although the start over failed: %v",
						entry.Name(), err)
				}
			}
		})
	}
}

// TestReconnectRefusalStopsTheStandby: a running standby whose stream dropped and whose
// primary then refuses its key, or its shard map, stops following at once with that
// reason (Node.Err): no reconnection can cure it, and retrying for ever would hide it.
func TestReconnectRefusalStopsTheStandby(t *testing.T) {
	for _, c := range []struct {
		name string
		code byte
		want error
	}{
		{"key", refusedUnauthenticated, ErrUnauthenticated},
		{"map", refusedShardMap, ErrShardMapMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			address := scriptedPeer(t,
				welcomeWith(welcome{plan: planStream, address: "p:1"}, false), // Then hangs up.
				func(w *bufio.Writer, r *frameReader) {
					writeFrame(w, frameChallenge, 1, challengeBody)
					w.Flush()
					if _, err := r.read(); err == nil { // The hello.
						writeFrame(w, frameRefused, 1, encodeRefusal(c.code, "refused"))
					}
				})
			standby := startNode(t, nodeConfig(t.TempDir(), "", address))
			defer standby.Close()
			waitFor(t, "the standby to stop", func() bool { return standby.Err() != nil })
			if err := standby.Err(); !errors.Is(err, c.want) {
				t.Fatalf("stopped with %v, want %v", err, c.want)
			}
		})
	}
}

// failingListener is a listener whose Accept always fails (as when the process is out of
// file descriptors); it records when each call came.
type failingListener struct {
	mutex sync.Mutex
	calls []time.Time
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	l.calls = append(l.calls, time.Now())
	return nil, errors.New("accept: too many open files")
}

func (l *failingListener) Close() error   { return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{} }

func (l *failingListener) count() int {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return len(l.calls)
}

// TestGatePausesAfterAFailedAccept: after a failed Accept the gate waits before it tries
// again (a failure such as EMFILE lasts: retrying at once would spin a core and flood the
// log), and it stops once closed. The gaps are a lower bound that time.Sleep guarantees
// however loaded the machine, not a timing of the machine.
func TestGatePausesAfterAFailedAccept(t *testing.T) {
	listener := &failingListener{}
	g := startGate(&Node{config: NodeConfig{Logger: testLogger}}, listener)
	waitFor(t, "three attempts", func() bool { return listener.count() >= 3 })
	g.close()
	g.wait()
	listener.mutex.Lock()
	defer listener.mutex.Unlock()
	for i := 1; i < len(listener.calls); i++ {
		if gap := listener.calls[i].Sub(listener.calls[i-1]); gap < 50*time.Millisecond {
			t.Fatalf("attempt %d came %v after the failed one before it, want a pause of 50ms", i+1, gap)
		}
	}
}

// heldProxy forwards connections to target only once released: until then it accepts
// and holds them (a witness slow to answer).
func heldProxy(t *testing.T, target string) (address string, release func()) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				select {
				case <-released:
				case <-t.Context().Done():
					return
				}
				upstream, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer upstream.Close()
				go io.Copy(upstream, conn)
				io.Copy(conn, upstream)
			}()
		}
	}()
	return listener.Addr().String(), func() { once.Do(func() { close(released) }) }
}

// TestFirstLeaseGrantReleasesWhatWaits: an async primary with a witness releases nothing
// on its own before the witness grants its lease; a write made meanwhile waits, and the
// grant that makes the lease valid wakes the release path at once. Nothing else would
// wake it within the test's wait (no further write, a pulse interval of an hour, and the
// next renewal a quarter of a ten-minute lease later, well past waitMax): without the
// wake-up the reply would wait for the next write or renewal.
func TestFirstLeaseGrantReleasesWhatWaits(t *testing.T) {
	const lease = 10 * time.Minute
	_, witnessAddress := startTestWitness(t, lease)
	proxy, release := heldProxy(t, witnessAddress)
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", proxy, lease)
	config.Mode = ModeAsync
	config.Shard.PulseInterval = time.Hour
	primary := startNode(t, config)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1))
	waitFor(t, "the write to be durable", func() bool { return primary.Log().Durable() >= 1 })
	if _, _, ok := primary.replies.get(1); ok {
		t.Fatal("a reply was released before the witness granted the lease")
	}
	release()
	primary.replies.wait(t, 1)
	if renewals := primary.Status().Lease.Renewals; renewals == 0 {
		t.Fatalf("%d renewals, want the first grant", renewals)
	}
}

// TestAcknowledgeRaisesOnly: an acknowledgement raises the acknowledged op and wakes the
// shard; one at or below it changes nothing and wakes nobody. The wait clock runs while
// anything sent (as the caller saw it, or as the session has sent since) is not
// acknowledged, restarting at each advance, and stops once everything is.
func TestAcknowledgeRaisesOnly(t *testing.T) {
	p := &Primary{ackNotify: make(chan struct{}, 1)}
	session := &primarySession{}
	p.current.Store(session)
	session.sentOp.Store(5)
	for _, c := range []struct {
		name    string
		op      uint64
		sent    uint64
		acked   uint64
		signal  bool
		waiting bool
	}{
		{"advance, more sent", 2, 5, 2, true, true},
		{"same op again", 2, 5, 2, false, true},
		{"lower op", 1, 5, 2, false, true},
		{"all the caller saw, not all the session sent", 4, 4, 4, true, true},
		{"everything sent", 5, 5, 5, true, false},
	} {
		p.waitingSince.Store(1) // A mark: an advance stores now or 0.
		p.acknowledge(c.op, c.sent)
		signalled := len(p.ackNotify) == 1
		if signalled {
			<-p.ackNotify
		}
		waiting := p.waitingSince.Load()
		if p.acked.Load() != c.acked || signalled != c.signal || (waiting != 0) != c.waiting ||
			(!c.signal && waiting != 1) || (c.signal && waiting == 1) {
			t.Fatalf("%s: acknowledged %d, signalled %v, wait clock %d; want %d, %v, waiting %v",
				c.name, p.acked.Load(), signalled, waiting, c.acked, c.signal, c.waiting)
		}
	}
}

// TestStandbyQuietSinceBounds: a primary counts its standby as quiet since it left (none
// attached), since it was last heard once that is more than standbySilenceMax ago, or
// since entries started waiting once they have waited more than standbySilenceMax; at
// exactly standbySilenceMax it is not quiet yet.
func TestStandbyQuietSinceBounds(t *testing.T) {
	const at = int64(1_000_000_000_000)
	silence := int64(standbySilenceMax)
	p := &Primary{}
	p.goneSince.Store(42)
	if quiet := p.standbyQuietSince(at); quiet != 42 {
		t.Fatalf("no standby: quiet since %d, want since it left (42)", quiet)
	}
	p.current.Store(&primarySession{})
	for _, c := range []struct {
		name             string
		contact, waiting int64
		quiet            int64
	}{
		{"heard, nothing waits", at, 0, 0},
		{"heard exactly the bound ago", at - silence, 0, 0},
		{"heard just past the bound", at - silence - 1, 0, at - silence - 1},
		{"waiting exactly the bound", at, at - silence, 0},
		{"waiting just past the bound", at, at - silence - 1, at - silence - 1},
	} {
		p.stats.lastContactNs.Store(c.contact)
		p.waitingSince.Store(c.waiting)
		if quiet := p.standbyQuietSince(at); quiet != c.quiet {
			t.Fatalf("%s: quiet since %d, want %d", c.name, quiet, c.quiet)
		}
	}
}

// TestSendEntryStartsTheWaitClock: sending an entry when everything sent before was
// acknowledged starts the wait clock now; sending one while others still wait keeps the
// clock where it was (the standby has been not acknowledging since then).
func TestSendEntryStartsTheWaitClock(t *testing.T) {
	p := &Primary{config: PrimaryConfig{Shard: newTestShard(t)}}
	var sent bytes.Buffer
	session := &primarySession{writer: bufio.NewWriter(&sent)}
	session.sentOp.Store(5)
	p.acked.Store(5)
	if err := p.sendEntry(session, []byte("entry"), 6, 6); err != nil {
		t.Fatal(err)
	}
	started := p.waitingSince.Load()
	if started == 0 {
		t.Fatal("an entry sent with nothing waiting did not start the wait clock")
	}
	p.waitingSince.Store(1) // Op 6 waits since then.
	if err := p.sendEntry(session, []byte("entry"), 7, 7); err != nil {
		t.Fatal(err)
	}
	if waiting := p.waitingSince.Load(); waiting != 1 {
		t.Fatalf("an entry sent while op 6 waits moved the wait clock to %d", waiting)
	}
}

// TestHeardWithin: a standby group counts its primary as heard from only while its link
// is up and brought a frame within the window.
func TestHeardWithin(t *testing.T) {
	now := time.Now().UnixNano()
	for _, c := range []struct {
		name      string
		connected bool
		heard     int64
		want      bool
	}{
		{"connected, heard now", true, now, true},
		{"not connected", false, now, false},
		{"connected, never heard", true, 0, false},
		{"connected, heard long ago", true, now - int64(time.Hour), false},
	} {
		g := &Group{}
		g.standby.connected.Store(c.connected)
		g.standby.lastHeard.Store(c.heard)
		if got := g.heardWithin(time.Minute); got != c.want {
			t.Fatalf("%s: heard within a minute %v, want %v", c.name, got, c.want)
		}
	}
}

// witnessStep is one request to Witness.decide, after moving its clock, and the answer
// expected.
type witnessStep struct {
	name    string
	advance time.Duration
	kind    byte
	node    string
	epoch   uint64
	granted bool
	holder  string
	holderE uint64
	wait    time.Duration
}

// TestWitnessDecisions: the lease rules, step by step on a manual clock. A renewal is
// granted to the holder, or to anyone while there is no holder yet, at the witness's
// epoch or a newer one; an acquisition only once the lease is not live (it expires at exactly
// its end) and the restart wait is over (strictly after it), raising the epoch; a refusal
// says who holds the lease and how long to wait.
func TestWitnessDecisions(t *testing.T) {
	const lease = witnessStepsLease
	runWitnessSteps(t, lease, []witnessStep{ // A restarted witness: one lease before any acquisition.
		{"acquire during the restart wait", 0, leaseAcquire, "b", 1, false, "", 0, lease},
		{"acquire at its end", lease, leaseAcquire, "b", 1, false, "", 0, 0},
		{"acquire just after", 1, leaseAcquire, "b", 1, true, "b", 2, lease},
	})
	runWitnessSteps(t, -time.Second, []witnessStep{
		{"renew a lease nobody holds", 0, leaseRenew, "a", 1, true, "a", 1, lease},
		{"the holder renews at its epoch", 0, leaseRenew, "a", 1, true, "a", 1, lease},
		{"renew at an older epoch", 0, leaseRenew, "a", 0, false, "a", 1, lease},
		{"renew another's live lease", 0, leaseRenew, "b", 1, false, "a", 1, lease},
		{"acquire a live lease", 0, leaseAcquire, "b", 1, false, "a", 1, lease},
		{"acquire at its end", lease, leaseAcquire, "b", 1, true, "b", 2, lease},
		{"renew the old lease at its epoch", 0, leaseRenew, "a", 1, false, "b", 2, lease},
		{"renew another's live lease at its epoch", 0, leaseRenew, "a", 2, false, "b", 2, lease},
		{"another node cannot take it by renewal once expired", lease, leaseRenew, "a", 2, false, "b", 2, 0},
		{"a refusal past the lease's end waits 0, not less", 1, leaseRenew, "a", 2, false, "b", 2, 0},
		{"only by an acquisition, at a new epoch", 0, leaseAcquire, "a", 2, true, "a", 3, lease},
	})
}

// witnessStepsLease is the lease of runWitnessSteps' witness.
const witnessStepsLease = 10 * time.Second

// runWitnessSteps asks a witness of witnessStepsLease on a manual clock (started
// acquireAfter before its first acquisition may be granted) for each step's lease, after
// advancing the clock by the step's advance, and checks its answer.
func runWitnessSteps(t *testing.T, acquireAfter time.Duration, steps []witnessStep) {
	t.Helper()
	start := time.Unix(1_000_000, 0)
	now := start
	w := &Witness{config: WitnessConfig{LeaseDuration: witnessStepsLease, Logger: testLogger},
		acquireAfter: start.Add(acquireAfter), now: func() time.Time { return now }}
	for _, c := range steps {
		now = now.Add(c.advance)
		granted, holder, epoch, wait := w.decide(c.kind, c.node, c.epoch)
		if granted != c.granted || holder != c.holder || epoch != c.holderE || wait != c.wait {
			t.Fatalf("%s: granted %v to %q at epoch %d, wait %v; want %v, %q, %d, %v",
				c.name, granted, holder, epoch, wait, c.granted, c.holder, c.holderE, c.wait)
		}
	}
}

// TestHelloWithAnotherMapIsRefused: a primary refuses a standby whose map differs in its
// shard count alone, or in its checksum alone, as a map mismatch.
func TestHelloWithAnotherMapIsRefused(t *testing.T) {
	address := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), address, ""))
	defer primary.Close()
	for _, h := range []hello{
		{shards: 2, mapChecksum: primary.mapChecksum()},
		{shards: 1, mapChecksum: primary.mapChecksum() + 1},
	} {
		answer := helloFrom(t, address, h)
		if answer.kind != frameRefused || len(answer.body) == 0 || answer.body[0] != refusedShardMap {
			t.Fatalf("hello with %d shards, checksum %08x: answer type %d %q", h.shards,
				h.mapChecksum, answer.kind, answer.body)
		}
	}
}

// TestUnexpectedFirstFrameIsDropped: a connection to the gate that starts with anything
// but a fence or a hello is closed without an answer, and logged.
func TestUnexpectedFirstFrameIsDropped(t *testing.T) {
	messages := &recordingHandler{}
	address := freeAddress(t)
	config := nodeConfig(t.TempDir(), address, "")
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	conn, reader, _ := dialGate(t, address)
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameAck, 1, encodeUint64s(1)); err != nil || writer.Flush() != nil {
		t.Fatal(err)
	}
	if f, err := reader.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after an acknowledgement as the first frame: %+v (%v), want the connection closed", f, err)
	}
	waitFor(t, "the log line", func() bool { return messages.logged("replication: unexpected first frame") })
}

// TestStandbyWithAFailedLogStops: a standby whose own log fails while it streams (a dead
// disk) stops following and says so (Node.Err): reconnecting cannot cure it, and it must
// not be promoted automatically with a log that lost entries.
func TestStandbyWithAFailedLogStops(t *testing.T) {
	primary, standby := startSyncPair(t, t.TempDir(), t.TempDir())
	defer primary.Close()
	defer standby.Close()
	standby.Log().Close() // Every later append fails: the standby's log has failed.
	primary.submit(t, 1, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	waitFor(t, "the standby to stop", func() bool { return standby.Err() != nil })
	if err := standby.Err(); !strings.Contains(err.Error(), "the local log failed") {
		t.Fatalf("stopped with %v, want the local log's failure", err)
	}
}

// TestHelloPointBound: a hello may carry up to recentChainsMax points, and no more, even
// when its length matches the count it gives.
func TestHelloPointBound(t *testing.T) {
	for _, c := range []struct {
		count int
		ok    bool
	}{{recentChainsMax, true}, {recentChainsMax + 1, false}} {
		h := hello{lastOp: 9, points: make([]wal.ChainPoint, c.count)}
		decoded, err := decodeHello(h.encodePayload())
		if (err == nil) != c.ok || (c.ok && len(decoded.points) != c.count) {
			t.Fatalf("%d points: %d decoded (%v), want allowed %v", c.count, len(decoded.points),
				err, c.ok)
		}
	}
}

// TestSnapshotReceivedChunkByChunk: the chunks of a snapshot transfer are written in turn,
// each at the offset the ones before it end at, and the transfer ends with the chunk
// marked last, which may be empty (a chunk is its 16-byte header at least).
func TestSnapshotReceivedChunkByChunk(t *testing.T) {
	chunk := func(offset uint64, last bool, data string) []byte {
		b := append(encodeUint64s(offset), make([]byte, 8)...)
		if last {
			b[8] = 1
		}
		return append(b, data...)
	}
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		w := bufio.NewWriter(server)
		writeFrame(w, frameSnapshotChunk, 1, chunk(0, false, "abc"))
		writeFrame(w, frameSnapshotChunk, 1, chunk(3, false, "de"))
		writeFrame(w, frameSnapshotChunk, 1, chunk(5, true, ""))
		writeFrame(w, frameEntry, 1, []byte("after the snapshot"))
		w.Flush()
		server.Close()
	}()
	link := &Link{conn: client, reader: newFrameReader(client), Welcome: welcome{op: 5}}
	path, err := link.ReceiveSnapshot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if content, err := os.ReadFile(path); err != nil || string(content) != "abcde" ||
		filepath.Base(path) != "snapshot-00000000000000000005.snap" {
		t.Fatalf("received %s holding %q (%v)", path, content, err)
	}
	if f, err := link.reader.read(); err != nil || f.kind != frameEntry {
		t.Fatalf("the frame after the snapshot: %+v (%v)", f, err)
	}
}

// TestFenceWithoutAnAddress: a correctly signed fence that names no new primary (its
// body is the signature alone) still fences.
func TestFenceWithoutAnAddress(t *testing.T) {
	address := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), address, ""))
	defer primary.Close()
	sendFence(t, address, 2, "")
	if role := primary.Role(); role != shard.RoleFenced {
		t.Fatalf("after a fence at epoch 2 without an address: %s", role)
	}
}

// TestPromotionNeedsTheWitness: a standby configured with a witness it cannot reach is
// not promoted: the error names the witness, and the node stays a standby at its epoch.
func TestPromotionNeedsTheWitness(t *testing.T) {
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, ""))
	defer primary.Close()
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		freeAddress(t), time.Hour) // Nobody listens there; the watch never asks.
	standby := startNode(t, config)
	defer standby.Close()
	epoch, err := standby.Promote()
	if err == nil || !strings.HasPrefix(err.Error(), "replication: witness: ") ||
		!errors.Is(err, syscall.ECONNREFUSED) || epoch != 0 {
		t.Fatalf("promotion without the witness: epoch %d, %v", epoch, err)
	}
	if role := standby.Role(); role != shard.RoleStandby || standby.Epoch() != 1 {
		t.Fatalf("after the refusal: %s at epoch %d", role, standby.Epoch())
	}
}

// TestDigestThatDiffersOnTheStreamStopsTheStandby: when the standby's own digest at an
// op is known first and the primary's arrives on the stream and differs, the stream ends
// with ErrDigestMismatch and the standby stops following with it (the other order, the
// primary's digest first, is TestStandbyStopsOnADigestThatDiffers's usual path: which one
// a node pair takes depends on timing).
func TestDigestThatDiffersOnTheStreamStopsTheStandby(t *testing.T) {
	address := scriptedPeer(t, func(w *bufio.Writer, r *frameReader) {
		welcomeWith(welcome{plan: planStream, address: "p:1"}, false)(w, r)
		writeFrame(w, frameDigest, 1, append(encodeUint64s(5), bytes.Repeat([]byte{2}, 32)...))
		w.Flush()
		for { // Until the standby hangs up.
			if _, err := r.read(); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	node, err := OpenNode(ctx, nodeConfig(t.TempDir(), "", address))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	node.groups[0].digests.standby(5, [32]byte{1}) // The standby's own snapshot at op 5.
	node.Start([]shard.Outputs{shard.RepliesOnly(newCollector())})
	waitFor(t, "the standby to stop", func() bool { return node.Err() != nil })
	if err := node.Err(); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("stopped with %v, want ErrDigestMismatch", err)
	}
}

// TestReleaseConditions: a primary releases on local durability (Acknowledged is
// math.MaxUint64) only in async mode or degraded sync mode, and then only while its
// witness lease holds (or it has no witness) and it is still the primary; otherwise only
// what the standby acknowledged. It answers reads only with the lease and as the
// primary. (Degraded's loss window: TestDegradedClearsWhenAcknowledgedReachesTheLossWindow.)
func TestReleaseConditions(t *testing.T) {
	valid, expired := &leaseClock{}, &leaseClock{}
	valid.set(time.Now().Add(time.Hour))
	for _, c := range []struct {
		name     string
		mode     Mode
		degraded bool
		lease    *leaseClock
		fenced   bool
		released uint64
		reads    bool
	}{
		{"sync", ModeSync, false, valid, false, 4, true},
		{"async", ModeAsync, false, valid, false, math.MaxUint64, true},
		{"sync degraded", ModeSync, true, valid, false, math.MaxUint64, true},
		{"async, no witness", ModeAsync, false, nil, false, math.MaxUint64, true},
		{"async, lease expired", ModeAsync, false, expired, false, 4, false},
		{"sync degraded, lease expired", ModeSync, true, expired, false, 4, false},
		{"async, fenced", ModeAsync, false, valid, true, 4, false},
	} {
		sh := newTestShard(t)
		if c.fenced {
			sh.Fence(2, "elsewhere:1")
		}
		p := &Primary{config: PrimaryConfig{Mode: c.mode, Shard: sh, Lease: c.lease}}
		p.degraded.Store(c.degraded)
		p.acked.Store(4)
		if got, reads := p.Acknowledged(), p.ReadsAllowed(); got != c.released || reads != c.reads {
			t.Fatalf("%s: releases up to %d, reads %v; want %d, %v", c.name, got, reads,
				c.released, c.reads)
		}
	}
}

// TestPlanForEachStandby: the primary plans a standby's catch-up from the newest entry
// boundary both logs share (the first of the standby's points, newest first, whose chain
// matches): stream on from it when the standby has nothing after it (an empty standby
// from op 0), truncate the standby's entries after it otherwise; a standby that shares
// no boundary, with no snapshot to bridge it, has diverged. Every welcome carries the
// chain at its op and the primary's client address.
func TestPlanForEachStandby(t *testing.T) {
	config := nodeConfig(t.TempDir(), freeAddress(t), "")
	config.Mode = ModeAsync // Replies need no standby: one entry after the other.
	primary := startNode(t, config)
	defer primary.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1))
	primary.replies.wait(t, 1)
	primary.submit(t, 2, 2, model.OperationCreateAccounts, accounts(2))
	primary.replies.wait(t, 2)
	log := primary.Log()
	points := log.RecentChains(2) // Newest first.
	if len(points) != 2 || points[0].LastOp != 2 {
		t.Fatalf("recent chains %+v, want ops 2 and 1", points)
	}
	other := wal.ChainPoint{LastOp: 2, Chain: [32]byte{9}} // Another history at op 2.
	for _, c := range []struct {
		name string
		h    hello
		plan plan
		op   uint64
	}{
		{"empty standby", hello{}, planStream, 0},
		{"standby at the primary's end", hello{lastOp: 2, points: points}, planStream, 2},
		{"standby behind", hello{lastOp: 1, points: points[1:]}, planStream, 1},
		{"standby with entries after the shared ones", hello{lastOp: 5, points: points}, planTruncate, 2},
		{"standby diverged after op 1", hello{lastOp: 2, points: []wal.ChainPoint{other, points[1]}}, planTruncate, 1},
	} {
		w, err := primary.primary0().plan(&c.h)
		chain, _ := log.ChainAt(c.op)
		if err != nil || w.plan != c.plan || w.op != c.op || w.chain != chain ||
			w.address != primary.config.ClientAddress {
			t.Fatalf("%s: %+v (%v), want %s at op %d", c.name, w, err, c.plan, c.op)
		}
	}
	if w, err := primary.primary0().plan(&hello{lastOp: 2, points: []wal.ChainPoint{other}}); !errors.Is(err, ErrDiverged) {
		t.Fatalf("a standby sharing nothing: %+v (%v), want ErrDiverged", w, err)
	}
}

// TestStreamSendsHeartbeatsAndDigestsUntilFenced: the primary's sender, driven directly
// on one end of a pipe, sends heartbeats with the log's last and durable ops at its
// interval and the digests handed to it, and ends the session once the shard is fenced
// (so that the standby sees its primary gone), or once the Primary closes.
func TestStreamSendsHeartbeatsAndDigestsUntilFenced(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	for _, fence := range []bool{true, false} {
		sh := newTestShard(t)
		p := StartPrimary(PrimaryConfig{Log: log, Shard: sh, HeartbeatInterval: 5 * time.Millisecond,
			Logger: testLogger})
		client, server := net.Pipe()
		session := &primarySession{conn: server, writer: bufio.NewWriter(server),
			wake: make(chan struct{}, 1), digests: make(chan [40]byte, 4)}
		p.current.Store(session)
		ended := make(chan error, 1)
		go func() { ended <- p.stream(session, 0) }()
		frames := make(chan frame, 64)
		go func() {
			defer close(frames)
			reader := newFrameReader(client)
			for {
				f, err := reader.read()
				if err != nil {
					return
				}
				f.body = append([]byte(nil), f.body...)
				frames <- f
			}
		}()
		next := func(kind frameType) frame {
			for f := range frames {
				if f.kind == kind {
					return f
				}
			}
			t.Fatalf("the stream ended before a frame of type %d", kind)
			return frame{}
		}
		if f := next(frameHeartbeat); f.epoch != 1 || !bytes.Equal(f.body, encodeUint64s(0, 0)) {
			t.Fatalf("heartbeat at epoch %d: %v, want epoch 1 with ops 0 and 0", f.epoch, f.body)
		}
		p.SendDigest(3, [32]byte{3})
		if f := next(frameDigest); binary.LittleEndian.Uint64(f.body) != 3 || f.body[8] != 3 {
			t.Fatalf("digest %x, want op 3's", f.body)
		}
		want := errSessionClosed
		if fence {
			sh.Fence(2, "elsewhere:1")
			want = errFenced
		} else {
			p.current.Store(nil) // So that Close leaves the pipe open: the end is Close's alone.
			p.Close()
		}
		go func() {
			for range frames { // Whatever comes before the end.
			}
		}()
		if err := <-ended; !errors.Is(err, want) {
			t.Fatalf("fenced %v: the stream ended with %v, want %v", fence, err, want)
		}
		client.Close()
		p.Close()
	}
}

// The tests below close the real survivors of the fourth round's sample (seed 20261211),
// written after it was judged.

// deadlineConn records the deadlines set on a connection, and signals each Write as it
// begins.
type deadlineConn struct {
	net.Conn
	mutex     sync.Mutex
	deadlines []time.Time
	writing   chan struct{} // Capacity 1.
}

func (c *deadlineConn) SetDeadline(at time.Time) error {
	c.mutex.Lock()
	c.deadlines = append(c.deadlines, at)
	c.mutex.Unlock()
	return c.Conn.SetDeadline(at)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	select {
	case c.writing <- struct{}{}:
	default:
	}
	return c.Conn.Write(b)
}

// TestHandshakeLeavesNoDeadline: the handshake's deadline is lifted once it is over: the
// stream sets its own read deadlines, and a write deadline left behind would fail the
// standby's acknowledgements handshakeTimeout after it connected, breaking the link (and
// stalling a sync primary) every few seconds.
func TestHandshakeLeavesNoDeadline(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		writer := bufio.NewWriter(server)
		welcomeWith(welcome{plan: planStream, address: "p:1"}, false)(writer, newFrameReader(server))
		writer.Flush()
	}()
	conn := &deadlineConn{Conn: client, writing: make(chan struct{}, 1)}
	link := &Link{config: StandbyConfig{Key: testKey, Log: log, Logger: testLogger}, conn: conn,
		reader: newFrameReader(conn), writer: bufio.NewWriter(conn)}
	if err := link.handshake(1); err != nil {
		t.Fatal(err)
	}
	conn.mutex.Lock()
	defer conn.mutex.Unlock()
	if n := len(conn.deadlines); n < 2 || conn.deadlines[0].IsZero() || !conn.deadlines[n-1].IsZero() {
		t.Fatalf("deadlines set %v: want the handshake's, then none", conn.deadlines)
	}
}

// TestCloseEndsASessionBlockedOnAStandby: a sender blocked writing to a standby that
// reads nothing (hung, its buffers full) ends when the Primary closes: Close closes the
// session's connection. Otherwise the sender would wait for ever, and the node's Close
// with it (it waits for every gate connection).
func TestCloseEndsASessionBlockedOnAStandby(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := StartPrimary(PrimaryConfig{Log: log, Shard: newTestShard(t),
		HeartbeatInterval: time.Millisecond, Logger: testLogger})
	client, server := net.Pipe() // Nobody reads client: every write blocks.
	defer client.Close()
	conn := &deadlineConn{Conn: server, writing: make(chan struct{}, 1)}
	session := &primarySession{conn: conn, writer: bufio.NewWriter(conn),
		wake: make(chan struct{}, 1), digests: make(chan [40]byte, 1)}
	p.current.Store(session)
	ended := make(chan error, 1)
	go func() { ended <- p.stream(session, 0) }()
	<-conn.writing // The first heartbeat's write: blocked.
	p.Close()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the stream ended without an error")
		}
	case <-time.After(waitMax):
		t.Fatal("Close left the sender blocked on a standby that reads nothing")
	}
}

// TestStandbyHangsUpOnAResyncPlan: a running standby that reconnects and is asked for a
// resync stops, and closes that connection (the primary would otherwise keep a session
// with a standby that will never read, until its silence timeout).
func TestStandbyHangsUpOnAResyncPlan(t *testing.T) {
	hungUp := make(chan error, 1)
	address := scriptedPeer(t,
		welcomeWith(welcome{plan: planStream, address: "p:1"}, false), // Then drops the stream.
		func(w *bufio.Writer, r *frameReader) {
			welcomeWith(welcome{plan: planSnapshot, address: "p:1"}, false)(w, r)
			w.Flush()
			for {
				if _, err := r.read(); err != nil {
					hungUp <- err
					return
				}
			}
		})
	standby := startNode(t, nodeConfig(t.TempDir(), freeAddress(t), address))
	defer standby.Close()
	waitFor(t, "the standby to stop", func() bool { return standby.Err() != nil })
	if err := <-hungUp; !errors.Is(err, io.EOF) {
		t.Fatalf("the connection of the resync plan ended with %v, want the standby's hang-up (EOF)", err)
	}
}

// TestWitnessRefusingTheStandbySaysFailoverIsImpossible: a standby whose witness refuses
// its certificate (another CA) can never be promoted automatically; the failover watch
// says so loudly, not only in a debug line, since nothing else tells the operator.
func TestWitnessRefusingTheStandbySaysFailoverIsImpossible(t *testing.T) {
	authority, stranger := testcert.NewAuthority(t, "sequent test CA"), testcert.NewAuthority(t, "other CA")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	witnessTLS := NewTLS(authority.Issue(t), authority.Pool())
	witnessTLS.Server.ClientCAs = stranger.Pool() // Trusts no certificate of the pair.
	witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey, TLS: witnessTLS,
		Logger: testLogger})
	defer witness.Close()
	primaryAddress := freeAddress(t)
	primaryConfig := nodeConfig(t.TempDir(), primaryAddress, "")
	primaryConfig.TLS = NewTLS(authority.Issue(t), authority.Pool())
	primary := startNode(t, primaryConfig)
	defer primary.Close()
	messages := &recordingHandler{}
	// A lease far shorter than the primary's heartbeat interval (it has no witness): the
	// watch soon takes the primary for silent and asks the witness for the lease.
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		listener.Addr().String(), 100*time.Millisecond)
	config.TLS, config.Logger = NewTLS(authority.Issue(t), authority.Pool()), slog.New(messages)
	standby := startNode(t, config)
	defer standby.Close()
	waitFor(t, "the watch's refusal notice", func() bool {
		return messages.logged("replication: the witness refuses this node: automatic failover is impossible")
	})
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("a standby the witness refuses is %s", role)
	}
}
