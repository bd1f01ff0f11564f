package netio_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// gateBackend holds the event loop inside Submit for every request of clientReader until
// the test lets it go: the loop then runs no task, so that what a Deliver call lends it
// waits in its queue while the test changes the connections around it.
type gateBackend struct {
	*fakeshard.Backend
	entered chan struct{} // One receive per gated Submit, once the loop is held in it.
	release chan struct{} // One send lets one gated Submit go on.
}

func (b *gateBackend) Submit(request *backend.Request) model.Status {
	if request.Client == clientReader {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Backend.Submit(request)
}

// newGatedHarness is a server of one event loop in front of a gated fake shard.
func newGatedHarness(t *testing.T) (*harness, *gateBackend) {
	var gate *gateBackend
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 1 },
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			gate = &gateBackend{Backend: fake, entered: make(chan struct{}),
				release: make(chan struct{})}
			return gate
		}})
	return h, gate
}

// TestDeliverCarrierClosedBeforeItsTaskRuns: the connection whose AsyncWrite carries a
// Deliver call's loop task (the first of the call on its loop) closes after the call and
// before the loop runs the task; the other connection of the same call still gets its
// reply. Method: one event loop, held inside a third connection's Submit (gateBackend)
// while the fake shard answers the carrier's and the other's requests in one Deliver
// call (the loop-task count rises by one); the carrier's client then closes, and the
// loop, let go, handles that close before its task queue (gnet polls events first),
// so the carrier's task finds it closed. Checked: with the callback returning at once
// when the carrier's write failed, the other connection gets no reply (its first frame
// is the silence_timeout error frame, 15 s later).
func TestDeliverCarrierClosedBeforeItsTaskRuns(t *testing.T) {
	h, gate := newGatedHarness(t)
	carrier := dialRaw(t, h.server.Address())
	carrier.login(clientAll, 1, secretOne, 100)
	other := dialRaw(t, h.server.Address())
	other.login(clientAll, 1, secretOne, 101)
	holder := dialRaw(t, h.server.Address())
	holder.login(clientReader, 1, secretReader, 102)
	h.backend.Pause()
	carrier.write(requestFrame(100, 1, model.OperationLookupAccounts, encodeIDs(1)))
	waitFor(t, "the carrier's request submitted", func() bool { return h.backend.Submitted() == 1 })
	other.write(requestFrame(101, 1, model.OperationLookupAccounts, encodeIDs(1)))
	waitFor(t, "the other request submitted", func() bool { return h.backend.Submitted() == 2 })
	holder.write(requestFrame(102, 1, model.OperationLookupAccounts, encodeIDs(1)))
	<-gate.entered // The loop is held.
	before := h.server.LoopTasks()
	h.backend.Resume()
	waitFor(t, "the Deliver call's loop task", func() bool {
		return h.server.LoopTasks() == before+1
	})
	if err := carrier.conn.Close(); err != nil {
		t.Fatal(err)
	}
	gate.release <- struct{}{}
	reply := other.next()
	if reply.Kind != wire.KindReply || reply.Session != 101 || reply.Number != 1 ||
		model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("other connection: %s session %d number %d status %d", reply.Kind,
			reply.Session, reply.Number, reply.Status)
	}
	if reply := holder.next(); reply.Session != 102 || reply.Number != 1 {
		t.Fatalf("holder: reply session %d number %d", reply.Session, reply.Number)
	}
}

// openDescriptors counts this process's open file descriptors (the listing's own
// descriptor included, the same in every count).
func openDescriptors(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// TestDeliverCarriedReplyNotToReusedDescriptor: a connection whose reply is carried by
// another connection's loop task closes before the task runs, and a new connection takes
// its file descriptor meanwhile; the carried reply must not reach the new connection,
// whose first frame is its challenge. Method: one event loop held inside Submit
// (gateBackend) while one Deliver call answers the carrier and the closing connection;
// the closing one then sends garbage, and a second held connection sends a request
// behind it, so that the loop, let go, closes the first (freeing its descriptor) and is
// held again. A new connection is then dialled: a spare descriptor opened before every
// connection of the test is closed first, so that the dialling side takes it and the
// server's accept takes the freed one. Checked: without the connection-table check in
// loopDelivery.afterWrite the new connection's first frame is the closed one's reply.
func TestDeliverCarriedReplyNotToReusedDescriptor(t *testing.T) {
	spare, err := os.Open(os.DevNull) // Below every descriptor of the connections.
	if err != nil {
		t.Fatal(err)
	}
	h, gate := newGatedHarness(t)
	carrier := dialRaw(t, h.server.Address())
	carrier.login(clientAll, 1, secretOne, 200)
	closing := dialRaw(t, h.server.Address())
	closing.login(clientAll, 1, secretOne, 201)
	holders := [2]*rawConn{}
	for i := range holders {
		holders[i] = dialRaw(t, h.server.Address())
		holders[i].login(clientReader, 1, secretReader, uint64(202+i))
	}
	h.backend.Pause()
	carrier.write(requestFrame(200, 1, model.OperationLookupAccounts, encodeIDs(1)))
	waitFor(t, "the carrier's request submitted", func() bool { return h.backend.Submitted() == 1 })
	closing.write(requestFrame(201, 1, model.OperationLookupAccounts, encodeIDs(1)))
	waitFor(t, "the other request submitted", func() bool { return h.backend.Submitted() == 2 })
	holders[0].write(requestFrame(202, 1, model.OperationLookupAccounts, encodeIDs(1)))
	<-gate.entered // The loop is held.
	before := h.server.LoopTasks()
	h.backend.Resume()
	waitFor(t, "the Deliver call's loop task", func() bool {
		return h.server.LoopTasks() == before+1
	})
	closing.write(bytes.Repeat([]byte{0xff}, wire.HeaderSize)) // A bad header: closed.
	holders[1].write(requestFrame(203, 1, model.OperationLookupAccounts, encodeIDs(1)))
	gate.release <- struct{}{}
	<-gate.entered // Held again, behind the close.
	closing.expectError(wire.ErrorBadMagic)
	held := openDescriptors(t)
	if err := spare.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := netDial(h.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close() })
	// Accepted when both ends are open (at least: a descriptor opened elsewhere meanwhile
	// only weakens the check, the new connection may then take another descriptor).
	waitFor(t, "the new connection accepted", func() bool { return openDescriptors(t) >= held+1 })
	gate.release <- struct{}{}
	fresh := &rawConn{t: t, conn: next}
	if frame := fresh.next(); frame.Kind != wire.KindChallenge {
		t.Fatalf("new connection's first frame: %s session %d number %d, want challenge",
			frame.Kind, frame.Session, frame.Number)
	}
	if reply := carrier.next(); reply.Session != 200 || reply.Number != 1 {
		t.Fatalf("carrier: reply session %d number %d", reply.Session, reply.Number)
	}
}

// TestRequestStampedByTheReadThatCompletedIt: a request frame that arrives in two
// writes is stamped (backend.Request.Received) by the read that brought its last bytes,
// not by an earlier read that held only its start: its receipt is when it could be
// handled. Method: the frame's first half, a pause (only to make the server read it
// apart; nothing is timed), the test's clock reading, then the second half; the stamp
// must not be before that reading. A frame read whole in one read passes too. Checked:
// with the stamp kept from the read that left a partial frame, it fails.
func TestRequestStampedByTheReadThatCompletedIt(t *testing.T) {
	var recorder *stampRecorder
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		recorder = &stampRecorder{Backend: fake}
		return recorder
	}})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	frame := requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1, 2, 3, 4))
	half := len(frame) / 2
	r.write(frame[:half])
	time.Sleep(20 * time.Millisecond) // Arrangement only: the server reads the half alone.
	beforeLastBytes := time.Now()
	r.write(frame[half:])
	if reply := r.next(); reply.Number != 1 {
		t.Fatalf("reply number %d, want 1", reply.Number)
	}
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	if len(recorder.received) != 1 {
		t.Fatalf("%d requests submitted, want 1", len(recorder.received))
	}
	if stamp := recorder.received[0]; stamp.Before(beforeLastBytes) {
		t.Fatalf("stamped %v, before its last bytes were sent (%v)", stamp, beforeLastBytes)
	}
}
