package netio_test

// Session 35 (netio35): closes decided on one goroutine while another acts on the same
// connection. A slow consumer whose close another goroutine already claimed must still be
// aborted; a login timeout must be decided on the connection's event loop, in order with
// the login itself.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// requestParkingAdmission admits everything (Controls with no limits) but, once armed,
// parks the event loop in the next AdmitRequest for operation until release: the loop
// stops inside the connection's OnTraffic, and AsyncWrites to its connections queue up
// behind it.
type requestParkingAdmission struct {
	*netio.Controls
	operation model.Operation
	armed     atomic.Bool
	entered   chan struct{}
	release   chan struct{}
	once      sync.Once
}

func newRequestParkingAdmission(operation model.Operation) *requestParkingAdmission {
	return &requestParkingAdmission{Controls: netio.NewControls(netio.ControlsConfig{}),
		operation: operation, entered: make(chan struct{}), release: make(chan struct{})}
}

func (a *requestParkingAdmission) AdmitRequest(client *netio.Client,
	operation model.Operation, events int) model.Status {
	if operation == a.operation && a.armed.CompareAndSwap(true, false) {
		close(a.entered)
		<-a.release
	}
	return a.Controls.AdmitRequest(client, operation, events)
}

func (a *requestParkingAdmission) open() { a.once.Do(func() { close(a.release) }) }

// peerReceiveSlackBytes bounds what the kernel holds on the peer's side of a loopback
// connection whose receive buffer the test shrank to 8 KiB after the handshake (the
// window already advertised is not taken back): far more than that, so that the
// arithmetic below never counts on the kernel holding less than it can.
const peerReceiveSlackBytes = 1 << 20

// tcpSendBufferBytesMax reads the largest send buffer the kernel's autotuning gives a TCP
// socket (the third field of tcp_wmem): what the server's socket can hold for a peer
// that does not read, beyond gnet's buffer.
func tcpSendBufferBytesMax(t *testing.T) int {
	t.Helper()
	text, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		t.Skipf("needs Linux's tcp_wmem to size the test: %v", err)
	}
	fields := strings.Fields(string(text))
	if len(fields) != 3 {
		t.Fatalf("tcp_wmem %q: want three fields", text)
	}
	bytesMax, err := strconv.Atoi(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	return bytesMax
}

// tcpStateEstablished is the kernel's TCP_ESTABLISHED, as /proc/net/tcp prints it.
const tcpStateEstablished = 1

// serverSocket is the server's end of a loopback connection as /proc/net/tcp shows it.
type serverSocket struct {
	found       bool   // Still known to the kernel (an RST or a completed close removes it).
	state       uint64 // TCP state (1 established, 4 FIN_WAIT1, ...).
	inode       uint64 // 0 once no process holds the socket: closed, an orphan.
	unsentBytes uint64 // tx_queue: bytes sent and not yet acknowledged by the peer.
}

// serverSocketOf finds the server's end of peer (an IPv4 loopback connection to
// serverAddress) in /proc/net/tcp.
func serverSocketOf(t *testing.T, serverAddress string, peer net.Conn) serverSocket {
	t.Helper()
	_, serverPort, err := net.SplitHostPort(serverAddress)
	if err != nil {
		t.Fatal(err)
	}
	localPort := strconv.Itoa(peer.LocalAddr().(*net.TCPAddr).Port)
	file, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("needs Linux's /proc/net/tcp: %v", err)
	}
	defer file.Close()
	port := func(address string) string {
		_, hexPort, _ := strings.Cut(address, ":")
		value, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return ""
		}
		return strconv.FormatUint(value, 10)
	}
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid
		// timeout inode ...
		fields := strings.Fields(scanner.Text())
		if len(fields) < 10 || port(fields[1]) != serverPort || port(fields[2]) != localPort {
			continue
		}
		state, _ := strconv.ParseUint(fields[3], 16, 8)
		unsent, _, _ := strings.Cut(fields[4], ":")
		unsentBytes, _ := strconv.ParseUint(unsent, 16, 64)
		inode, _ := strconv.ParseUint(fields[9], 10, 64)
		return serverSocket{found: true, state: state, inode: inode, unsentBytes: unsentBytes}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return serverSocket{}
}

// TestSlowConsumerAbortedAfterAnotherCloseWon: P stops reading and its replies pass
// OutboundBytesMax in gnet's buffer, but another goroutine's close (a takeover by C on the
// other loop) claimed P's close first. P must still be aborted (linger 0: the kernel
// drops what P never read), not closed gracefully. Before the fix slowConsumer, losing
// the claim, did nothing, and the close that followed was graceful: the kernel kept the
// server's socket as an orphan in FIN_WAIT1 holding up to its send buffer (4 MiB by
// default) of replies for a peer that does not read, until its zero-window probes gave
// up (minutes).
//
// The order is forced: P's replies first fill the kernel's buffers and part of gnet's
// (below the bound); P's loop is then parked inside P's next request while the shard
// queues one bound's worth of replies to P; C takes P's session over meanwhile; when
// the loop resumes, those replies push gnet's buffer past the bound, after the takeover
// claimed the close.
func TestSlowConsumerAbortedAfterAnotherCloseWon(t *testing.T) {
	replyBytes := wire.HeaderSize + model.EventsPerRequestMax*model.AccountSize
	// More replies than the kernel can hold for a peer that does not read: gnet's buffer
	// then keeps some of them (never more than the bound, which is as many replies).
	replies := (tcpSendBufferBytesMax(t)+peerReceiveSlackBytes)/replyBytes + 1
	admission := newRequestParkingAdmission(model.OperationLookupTransfers)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		// gnet's round robin puts connections 1, 2, 3 on loops 0, 1, 0.
		c.EventLoops = 2
		c.Admission = admission
		c.OutboundBytesMax = replies * replyBytes
		// Only the takeover may close P. No connection sends anything for long spells,
		// and C logs in last (under -race, after the default 5 s).
		c.SilenceTimeout = 2 * slowReaderWaitLimit
		c.LoginTimeout = 2 * slowReaderWaitLimit
	}, backend: fakeshard.Config{BatchRequestsMax: 1}})
	// Registered after the harness, so it runs before the harness's shutdown.
	t.Cleanup(admission.open)
	const session, otherSession = 9, 10
	p := dialRaw(t, h.server.Address()) // Loop 0.
	c := dialRaw(t, h.server.Address()) // Loop 1.
	q := dialRaw(t, h.server.Address()) // Loop 0, with P.
	if err := p.conn.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	p.login(clientAll, 1, secretOne, session)
	q.login(clientAll, 1, secretOne, otherSession)
	ids := make([]uint64, model.EventsPerRequestMax)
	accounts := make([]model.Account, len(ids))
	for i := range ids {
		ids[i] = uint64(i + 1)
		accounts[i] = account(ids[i])
	}
	p.write(requestFrame(session, 1, model.OperationCreateAccounts, encodeAccounts(accounts...)))
	if frame := p.next(); frame.Kind != wire.KindReply || frame.Status != 0 {
		t.Fatalf("create_accounts: %s status %d", frame.Kind, frame.Status)
	}
	lookup := encodeIDs(ids...)
	number := uint64(1)
	burst := func() []byte {
		var frames []byte
		for range replies {
			number++
			frames = append(frames, requestFrame(session, number,
				model.OperationLookupAccounts, lookup)...)
		}
		return frames
	}
	// From here on P reads nothing.
	p.write(burst())
	delivered := uint64(1 + replies)
	waitForWithin(t, slowReaderWaitLimit, "P's first replies", func() bool {
		return h.server.Stats().RepliesSent >= delivered
	})
	// Q's reply is lent to loop 0 after P's (AsyncWrites run in order): once Q has it,
	// P's replies are in gnet's buffer or the kernel's.
	q.write(requestFrame(otherSession, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := q.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("Q: %s status %d", frame.Kind, frame.Status)
	}
	delivered++
	if stats := h.server.Stats(); stats.SlowConsumers != 0 {
		t.Fatalf("P cut before the second burst (%d replies of %d bytes): %+v", replies,
			replyBytes, stats)
	}
	admission.armed.Store(true)
	p.write(append(burst(), requestFrame(session, number+1, model.OperationLookupTransfers,
		encodeIDs(1))...))
	select {
	case <-admission.entered:
	case <-time.After(slowReaderWaitLimit): // A hang guard, not a timing assertion.
		t.Fatal("P's second burst never reached its last request")
	}
	delivered += uint64(replies)
	waitForWithin(t, slowReaderWaitLimit, "P's second replies lent to its parked loop",
		func() bool { return h.server.Stats().RepliesSent >= delivered })
	c.login(clientAll, 1, secretOne, session) // Claims P's close (session_taken_over).
	admission.open()
	var end serverSocket
	waitForWithin(t, slowReaderWaitLimit, "the server to close P", func() bool {
		end = serverSocketOf(t, h.server.Address(), p.conn)
		return !end.found || (end.state != tcpStateEstablished && end.inode == 0)
	})
	if end.found {
		t.Fatalf("P was closed gracefully: the kernel keeps its socket (state %d) with %d "+
			"unsent bytes for a peer that does not read", end.state, end.unsentBytes)
	}
	// The abort reached P as a reset, after what its own buffer held.
	_ = p.conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.Copy(io.Discard, p.conn); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("P's reads ended with %v, want a reset", err)
	}
	// C's takeover, not the slow consumer, claimed the close.
	if stats := h.server.Stats(); stats.SlowConsumers != 0 {
		t.Fatalf("slow consumers %d, want 0 (the takeover closed P first)",
			stats.SlowConsumers)
	}
}

// nextFrameKind returns the kind of r's next frame, heartbeats included, and the error
// code when it is an error frame.
func nextFrameKind(t *testing.T, r *rawConn) (wire.Kind, wire.ErrorCode) {
	t.Helper()
	frame, err := r.nextAny()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return frame.Kind, wire.ErrorCode(frame.Status)
}

// TestLoginCompletedBeforeTheTimeoutActsStays: the ticker finds A's login overdue and is
// parked (test hook) before it acts; A's login then completes on A's loop and takes
// session 9 over from P. The login timeout must not close A afterwards: A logged in
// before anything timed it out. Before the fix the ticker, resumed, closed A with
// login_timeout (the window session 34 left in handleLogin: the ticker read active false
// just before the login stored it), ending the session A had just taken over
// (SessionClosed, cancel-on-disconnect) although its client was alive.
func TestLoginCompletedBeforeTheTimeoutActsStays(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.LoginTimeout = 50 * time.Millisecond
		c.HeartbeatInterval = 50 * time.Millisecond // Ticks every 5 ms.
		c.SilenceTimeout = time.Hour                // P stays silent meanwhile.
	}})
	const session = 9
	holder := dialLoggedIn(t, h.server.Address(), session) // Not timed out itself.
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	// Set once P is logged in: A is the only connection whose login can be overdue.
	netio.SetTestHookLoginOverdue(t, func() {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
	})
	// Registered after the harness, so it runs before the harness's shutdown: a failing
	// run must not leave the ticker parked while the server waits for it.
	t.Cleanup(open)
	armed.Store(true)
	a := dialRaw(t, h.server.Address())
	select {
	case <-entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("the ticker never found A's login overdue")
	}
	a.login(clientAll, 1, secretOne, session) // With the ticker parked.
	open()
	holder.expectError(wire.ErrorSessionTakenOver)
	// The ticker's next heartbeat to A comes from a later tick than the one that found
	// the login overdue, so that tick has acted by then (and anything it lent A's loop
	// ran before the heartbeat's write).
	if kind, code := nextFrameKind(t, a); kind != wire.KindHeartbeat {
		t.Fatalf("A after its login: got %s (%s), want a heartbeat", kind, code)
	}
	a.write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := a.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("A: got %s (%s), want the reply to request 1", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
	if ends := h.backend.SessionEnds(); len(ends) != 0 {
		t.Fatalf("the backend saw sessions end: %+v", ends)
	}
	if stats := h.server.Stats(); stats.SilenceTimeouts != 0 || stats.LoginsAccepted != 2 {
		t.Fatalf("timeouts %d, logins accepted %d; want 0 and 2", stats.SilenceTimeouts,
			stats.LoginsAccepted)
	}
}
