package netio_test

import (
	"sync/atomic"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestDeliverRunsWhileConnectionsCloseAndSlotsAreReused: Deliver, which keeps a run's
// connection from one reply to the next, writes each reply to the connection it names
// and no other, in order, while connections close during the call and new ones take the
// closed ones' table slots. Each round opens connectionsPerRound connections in a table
// of connectionSlots (so every round reuses the slots of the round before), then delivers
// in one call runs of replies to each, each run followed by a run to the connection that
// held a slot in the round before (closed: every one of those must be dropped), while
// one of the round's connections closes. Every other connection then reads exactly its
// own run, in order, and next the answer to a request it sends after: a reply written to
// the wrong connection, or twice, or out of order, shows up on the way.
func TestDeliverRunsWhileConnectionsCloseAndSlotsAreReused(t *testing.T) {
	const connectionSlots, connectionsPerRound, rounds, runReplies = 4, 3, 30, 6
	recorder := newConnectionRecorder()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = connectionSlots
		c.EventLoops = 2
	}, wrap: func(fake *fakeshard.Backend) backend.Backend {
		recorder.Backend = fake
		return recorder
	}})
	var body [model.EventResultSize]byte
	var previous []uint64 // The connection ids of the round before, all closed.
	staleReplies := 0
	for round := range rounds {
		waitFor(t, "the round before's connections to leave the table", func() bool {
			return h.server.Stats().ConnectionsOpen == 0
		})
		raws := make([]*rawConn, connectionsPerRound)
		sessions := make([]uint64, connectionsPerRound)
		ids := make([]uint64, connectionsPerRound)
		for k := range raws {
			sessions[k] = uint64(1000*(round+1) + k)
			raws[k] = dialRaw(t, h.server.Address())
			raws[k].login(clientAll, 1, secretOne, sessions[k])
			raws[k].write(requestFrame(sessions[k], 1, model.OperationLookupAccounts,
				encodeIDs(1)))
			if frame := raws[k].next(); frame.Kind != wire.KindReply || frame.Number != 1 {
				t.Fatalf("round %d connection %d: %s %d, want the reply to request 1", round,
					k, frame.Kind, frame.Number)
			}
			ids[k] = recorder.of(sessions[k])
		}
		var replies []backend.Reply
		for k := range raws {
			for j := range runReplies {
				replies = append(replies, backend.Reply{Connection: ids[k], Client: clientAll,
					Session: sessions[k], Number: uint64(2 + j),
					Operation: model.OperationCreateTransfers, Status: model.StatusOK, Op: 1,
					Body: body[:]})
			}
			if previous == nil {
				continue
			}
			for j := range runReplies {
				replies = append(replies, backend.Reply{Connection: previous[k],
					Client: clientAll, Session: uint64(1000*round + k), Number: uint64(2 + j),
					Operation: model.OperationCreateTransfers, Status: model.StatusOK, Op: 1,
					Body: body[:]})
				staleReplies++
			}
		}
		closing := round % connectionsPerRound
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = raws[closing].conn.Close()
		}()
		h.server.Deliver(replies)
		<-closed
		for k, raw := range raws {
			if k == closing {
				continue
			}
			for j := range runReplies {
				frame := raw.next()
				if frame.Kind != wire.KindReply || frame.Session != sessions[k] ||
					frame.Number != uint64(2+j) {
					t.Fatalf("round %d connection %d (session %d), reply %d: %s session %d "+
						"number %d", round, k, sessions[k], j, frame.Kind, frame.Session,
						frame.Number)
				}
			}
			raw.write(requestFrame(sessions[k], 100, model.OperationLookupAccounts,
				encodeIDs(1)))
			if frame := raw.next(); frame.Kind != wire.KindReply ||
				frame.Session != sessions[k] || frame.Number != 100 {
				t.Fatalf("round %d connection %d (session %d): %s session %d number %d "+
					"after its run, want the reply to request 100", round, k, sessions[k],
					frame.Kind, frame.Session, frame.Number)
			}
		}
		for _, raw := range raws {
			_ = raw.conn.Close()
		}
		previous = ids
	}
	if dropped := h.server.Stats().RepliesDropped; dropped < uint64(staleReplies) {
		t.Fatalf("%d replies dropped, want at least the %d to closed connections", dropped,
			staleReplies)
	}
}

// TestDeliverRunToASessionTakenOverDuringTheCall: a run of replies to one connection
// while another connection takes its session over. The old connection gets a prefix of
// the run, in order, then the takeover's error frame as its last; the new one gets none
// of the run (it is addressed to the old connection), only the answer to its own
// request after. In even rounds the takeover is made inside the call, once the run is
// admitted and before it is lent to the loop (the test hook): the error frame is then
// queued ahead of the run, none of which may follow it. In odd rounds it races the call.
func TestDeliverRunToASessionTakenOverDuringTheCall(t *testing.T) {
	const rounds, runReplies = 20, 8
	recorder := newConnectionRecorder()
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 2 },
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			recorder.Backend = fake
			return recorder
		}})
	var takeOver atomic.Pointer[func()] // Run once by the next Deliver's hook.
	netio.SetTestHookDeliveryAdmitted(t, func() {
		if f := takeOver.Swap(nil); f != nil {
			(*f)()
		}
	})
	var body [model.EventResultSize]byte
	for round := range rounds {
		session := uint64(5000 + round)
		old := dialRaw(t, h.server.Address())
		old.login(clientAll, 1, secretOne, session)
		old.write(requestFrame(session, 1, model.OperationLookupAccounts, encodeIDs(1)))
		if frame := old.next(); frame.Kind != wire.KindReply || frame.Number != 1 {
			t.Fatalf("round %d: %s %d, want the reply to request 1", round, frame.Kind,
				frame.Number)
		}
		oldID := recorder.of(session)
		replies := make([]backend.Reply, runReplies)
		for j := range replies {
			replies[j] = backend.Reply{Connection: oldID, Client: clientAll, Session: session,
				Number: uint64(2 + j), Operation: model.OperationCreateTransfers,
				Status: model.StatusOK, Op: 1, Body: body[:]}
		}
		successor := dialRaw(t, h.server.Address())
		login := successor.loginFrame(clientAll, 1, secretOne, session, 0)
		if round%2 == 0 {
			// The login is answered after the loop has lent the old connection its
			// error frame (closeAsync, then the answer at the end of OnTraffic).
			hook := func() { successor.login(clientAll, 1, secretOne, session) }
			takeOver.Store(&hook)
			h.server.Deliver(replies)
			if takeOver.Load() != nil {
				t.Fatalf("round %d: the hook did not run", round)
			}
		} else {
			loggedIn := make(chan struct{})
			go func() {
				defer close(loggedIn)
				_, _ = successor.conn.Write(login)
			}()
			h.server.Deliver(replies)
			<-loggedIn
			if frame := successor.next(); frame.Kind != wire.KindLoginAccepted {
				t.Fatalf("round %d: the takeover's login got %s", round, frame.Kind)
			}
		}
		successor.write(requestFrame(session, 100, model.OperationLookupAccounts,
			encodeIDs(1)))
		if frame := successor.next(); frame.Kind != wire.KindReply || frame.Number != 100 {
			t.Fatalf("round %d: the new connection got %s number %d, want only the reply "+
				"to its request 100", round, frame.Kind, frame.Number)
		}
		for j := 0; ; j++ {
			frame := old.next()
			if frame.Kind == wire.KindError {
				if wire.ErrorCode(frame.Status) != wire.ErrorSessionTakenOver {
					t.Fatalf("round %d: old connection's error %s", round,
						wire.ErrorCode(frame.Status))
				}
				if round%2 == 0 && j != 0 {
					t.Fatalf("round %d: %d replies before the error frame queued ahead of "+
						"them", round, j)
				}
				break
			}
			if frame.Kind != wire.KindReply || frame.Number != uint64(2+j) || j >= runReplies {
				t.Fatalf("round %d: old connection's frame %d: %s number %d", round, j,
					frame.Kind, frame.Number)
			}
		}
		old.expectClosed()
		_ = successor.conn.Close()
	}
}
