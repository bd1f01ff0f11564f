package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
)

// TestDeliverOneLoopTask: one Deliver call with replies for many connections of one
// event loop hands that loop one task, and every connection still gets its own reply
// (each a different request number, read back on its own socket). Method: the fake
// shard is paused while each connection sends one request, so that on Resume all of
// them are answered by one Deliver call; the server's count of loop tasks must rise by
// one. With one AsyncWrite per connection it rose by the number of connections (each
// a chance to wake the loop through its eventfd once more).
func TestDeliverOneLoopTask(t *testing.T) {
	const connections = 8
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 1 }})
	raws := make([]*rawConn, connections)
	for i := range raws {
		raws[i] = dialRaw(t, h.server.Address())
		raws[i].login(clientAll, 1, secretOne, uint64(100+i))
	}
	h.backend.Pause()
	for i, r := range raws {
		r.write(requestFrame(uint64(100+i), uint64(1+i), model.OperationLookupAccounts,
			encodeIDs(1)))
	}
	waitFor(t, "every request in the fake shard's ring", func() bool {
		return h.backend.Submitted() == connections
	})
	before := h.server.LoopTasks()
	h.backend.Resume()
	for i, r := range raws {
		reply := r.next()
		if reply.Session != uint64(100+i) || reply.Number != uint64(1+i) ||
			model.Status(reply.Status) != model.StatusOK {
			t.Fatalf("connection %d: reply session %d number %d status %d", i,
				reply.Session, reply.Number, reply.Status)
		}
	}
	if tasks := h.server.LoopTasks() - before; tasks != 1 {
		t.Fatalf("%d loop tasks for one Deliver call to %d connections on one loop, want 1",
			tasks, connections)
	}
}
