package netio_test

// Session 41 (errframe): PROTOCOL.md section 9, "the server closes the connection right
// after it". An error frame is the last frame of its connection: a client written from
// the document alone may take any frame after it for a protocol violation.

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestNothingAfterTheErrorFrame: a reply admitted for delivery just before another
// goroutine closes its connection must not be written after that close's error frame.
// FAILS at main without the fix in closeAfterWrite: the error frame's task asked gnet for
// the close as one more loop task, queued behind every write lent to the loop meanwhile,
// so a reply lent after the error frame (admitted while the connection was still
// active) was written after it, and so was a reply carried in another connection's task
// (the connection was still in the table).
//
// The order is forced: the fake shard delivers replies to B and A (both on loop 0) and
// is parked (test hook) once both are admitted; loop 0 is parked inside P's request
// (parking admission); T, on loop 1, takes B's session over, which queues B's error
// frame on loop 0; then the shard lends its replies, behind the error frame, and loop 0
// resumes. Run with B's reply as the carrier of loop 0's task and as carried by A's.
//
// The "behind" runs (session 41, errdrain) add B behind on its reading: megabytes of
// earlier replies wait in gnet's buffer when B's error frame is written, so the
// connection drains instead of closing at once and is still open when B's late reply
// comes. They FAIL without the draining check in outbound.writeLent: the late reply is
// written after the error frame.
func TestNothingAfterTheErrorFrame(t *testing.T) {
	for _, c := range []struct {
		name         string
		partnerFirst bool // A's reply comes first: its task carries B's.
		behind       bool // B has not read 16 MiB of earlier replies.
	}{{"carrier", false, false}, {"carried", true, false},
		{"carrier behind", false, true}, {"carried behind", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			testNothingAfterTheErrorFrame(t, c.partnerFirst, c.behind)
		})
	}
}

func testNothingAfterTheErrorFrame(t *testing.T, partnerFirst, behind bool) {
	admission := newRequestParkingAdmission(model.OperationLookupTransfers)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		// gnet's round robin puts connections 1, 2, 3, 4, 5 on loops 0, 1, 0, 1, 0.
		c.EventLoops = 2
		c.Admission = admission
		// Only the takeover may close B; T logs in late.
		c.SilenceTimeout = waitLimit
		c.LoginTimeout = waitLimit
		c.OutboundBytesMax = 64 << 20 // B's earlier replies stay within the bound.
		c.DrainTimeout = waitLimit    // A loaded machine may take seconds to read it all.
	}})
	var armed atomic.Bool
	entered, proceed := make(chan struct{}), make(chan struct{})
	var proceedOnce sync.Once
	resume := func() { proceedOnce.Do(func() { close(proceed) }) }
	netio.SetTestHookDeliveryAdmitted(t, func() {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-proceed
		}
	})
	// Registered after the harness, so they run before its shutdown: a failing run must
	// leave neither the shard nor the loop parked while the server waits for them.
	t.Cleanup(admission.open)
	t.Cleanup(resume)
	const sessionB, sessionA, sessionP, sessionQ = 7, 8, 9, 10
	var b *rawConn
	if behind {
		b = dialRawSmallReceiveBuffer(t, h.server.Address()) // Loop 0.
	} else {
		b = dialRaw(t, h.server.Address()) // Loop 0.
	}
	taker := dialRaw(t, h.server.Address()) // Loop 1.
	p := dialRaw(t, h.server.Address())     // Loop 0.
	q := dialRaw(t, h.server.Address())     // Loop 1.
	a := dialRaw(t, h.server.Address())     // Loop 0.
	b.login(clientAll, 1, secretOne, sessionB)
	a.login(clientAll, 1, secretOne, sessionA)
	p.login(clientAll, 1, secretOne, sessionP)
	bNumber := uint64(1) // The number of B's request whose reply is lent late.
	if behind {
		bNumber = fillUnread(t, h, q, sessionQ, b, sessionB) + 1
	}

	h.backend.Pause()
	submitted := h.backend.Submitted()
	first, second := b, a
	firstSession, secondSession := uint64(sessionB), uint64(sessionA)
	firstNumber, secondNumber := bNumber, uint64(1)
	if partnerFirst {
		first, second = a, b
		firstSession, secondSession = sessionA, sessionB
		firstNumber, secondNumber = 1, bNumber
	}
	first.write(requestFrame(firstSession, firstNumber, model.OperationLookupAccounts,
		encodeIDs(1)))
	waitFor(t, "the first request queued", func() bool {
		return h.backend.Submitted() == submitted+1
	})
	second.write(requestFrame(secondSession, secondNumber, model.OperationLookupAccounts,
		encodeIDs(1)))
	waitFor(t, "the second request queued", func() bool {
		return h.backend.Submitted() == submitted+2
	})

	armed.Store(true)
	h.backend.Resume() // One Deliver of both replies, parked once they are admitted.
	select {
	case <-entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("the shard never delivered the replies")
	}
	admission.armed.Store(true)
	p.write(requestFrame(sessionP, 1, model.OperationLookupTransfers, encodeIDs(1)))
	select {
	case <-admission.entered:
	case <-time.After(waitLimit): // A hang guard, not a timing assertion.
		t.Fatal("loop 0 never reached P's request")
	}
	// Answered once closeAsync(B) has queued B's error frame on the parked loop 0.
	taker.login(clientAll, 1, secretOne, sessionB)
	resume()
	// Taken by the shard goroutine once the parked Deliver has returned, so once its
	// replies are lent to loop 0, behind B's error frame.
	h.backend.Resume()
	admission.open()

	frame := b.next()
	for behind && frame.Kind == wire.KindReply && frame.Number < bNumber {
		frame = b.next() // One of the earlier replies, sent before the error frame.
	}
	if frame.Kind != wire.KindError ||
		wire.ErrorCode(frame.Status) != wire.ErrorSessionTakenOver {
		t.Fatalf("B: got %s number %d (%s), want the error frame session_taken_over",
			frame.Kind, frame.Number, wire.ErrorCode(frame.Status))
	}
	expectNothingMore(t, b)
	// The other connection of the same loop task still gets its reply.
	if frame := a.next(); frame.Kind != wire.KindReply || frame.Number != 1 ||
		frame.Session != sessionA {
		t.Fatalf("A: got %s number %d session %d, want the reply to request 1", frame.Kind,
			frame.Number, frame.Session)
	}
	if frame := p.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
		t.Fatalf("P: got %s number %d, want the reply to request 1", frame.Kind, frame.Number)
	}
}

// expectNothingMore reads r to its end and fails the test on any frame, a heartbeat
// included: r's last frame was an error frame.
func expectNothingMore(t *testing.T, r *rawConn) {
	t.Helper()
	frame, err := r.nextAny()
	if err == nil {
		t.Fatalf("a frame after the error frame: %s number %d session %d status %d",
			frame.Kind, frame.Number, frame.Session, frame.Status)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("after the error frame: %v, want the connection closed", err)
	}
}

// fillUnread has b, which does not read (a small receive buffer), pipeline lookups whose
// replies (16 MiB in all, 1 MiB each) outgrow what the kernel buffers on loopback, and
// returns once every reply is delivered to b's loop: most then wait in gnet's buffer.
// setup creates the accounts looked up; when it shares b's loop, its last round trip
// (a reply delivered after b's, through the same queue of loop tasks) makes sure that
// b's loop has written them all too. It returns the number of b's last request.
func fillUnread(t *testing.T, h *harness, setup *rawConn, setupSession uint64, b *rawConn,
	session uint64) uint64 {
	t.Helper()
	const lookups = 16
	ids := createLookupAccounts(t, setup, setupSession)
	sent := h.server.Stats().RepliesSent
	lookup := encodeIDs(ids...)
	for number := uint64(1); number <= lookups; number++ {
		b.write(requestFrame(session, number, model.OperationLookupAccounts, lookup))
	}
	waitFor(t, "the unread replies delivered", func() bool {
		return h.server.Stats().RepliesSent >= sent+lookups
	})
	setup.write(requestFrame(setupSession, 2, model.OperationLookupAccounts, encodeIDs(1)))
	if frame := setup.next(); frame.Kind != wire.KindReply || frame.Number != 2 {
		t.Fatalf("setup: %s number %d, want the reply to request 2", frame.Kind,
			frame.Number)
	}
	return lookups
}

// lookupAccountsCount accounts looked up whole make a reply of 1 MiB.
const lookupAccountsCount = 8000

// createLookupAccounts logs setup in on setupSession and creates lookupAccountsCount
// accounts with ids 1.. in its request 1, returning their ids.
func createLookupAccounts(t *testing.T, setup *rawConn, setupSession uint64) []uint64 {
	t.Helper()
	setup.login(clientAll, 1, secretOne, setupSession)
	created := make([]model.Account, lookupAccountsCount)
	ids := make([]uint64, lookupAccountsCount)
	for i := range created {
		created[i], ids[i] = account(uint64(i+1)), uint64(i+1)
	}
	setup.write(requestFrame(setupSession, 1, model.OperationCreateAccounts,
		encodeAccounts(created...)))
	if frame := setup.next(); frame.Kind != wire.KindReply ||
		model.Status(frame.Status) != model.StatusOK {
		t.Fatalf("create accounts: %s status %d", frame.Kind, frame.Status)
	}
	return ids
}
