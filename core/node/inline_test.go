package node

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node/router"
	"sequent/core/shardmap"
)

// submitDeferred queues a request as netio's event loop does (SubmitDeferred, then
// TurnInline once the round's frames are submitted) and waits for its one reply. Each
// request has its own connection, and its number is that id (client 1's session 1).
func submitDeferred(t *testing.T, node *Node, replies *clientReplies, connection uint64,
	operation model.Operation, body []byte) backend.Reply {
	t.Helper()
	if status := node.SubmitDeferred(&backend.Request{Connection: connection, Client: 1,
		Session: 1, Number: connection, Operation: operation, Body: body}); status != model.StatusOK {
		t.Fatalf("connection %d: %s: %s", connection, operation, status)
	}
	node.TurnInline()
	return replies.waitFor(t, connection)
}

// TestNodeSubmitDeferredOneShardAndSeveral: a node of one shard hands SubmitDeferred to
// its shard, whose idle turns then run on the caller (TurnInline), with the router's
// connection check kept; a node of several routes the request as Submit does (split,
// sagas), its TurnInline doing nothing, and says so (InlineTurns false: netio then takes
// the Submit path). Every request gets exactly one reply, ok.
func TestNodeSubmitDeferredOneShardAndSeveral(t *testing.T) {
	t.Run("one shard", func(t *testing.T) {
		parts, _ := freshParts(shardmap.Single())
		node := buildNode(t, shardmap.Single(), parts, Config{TickInterval: time.Millisecond})
		if !node.InlineTurns() {
			t.Fatal("a node of one shard says its inline turns are off")
		}
		replies := newClientReplies()
		node.Start(replies)
		t.Cleanup(func() { node.Close() })
		for _, connection := range []uint64{0, router.ClientConnectionLimit} {
			if status := node.SubmitDeferred(&backend.Request{Connection: connection,
				Client: 1, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
				Body: accountsBody(1)}); status != model.StatusInternalError {
				t.Fatalf("connection %d: %s, want internal_error (unroutable reply)", connection, status)
			}
		}
		// The sequencer is idle between requests except at its pulses: a loop's turn runs
		// within a few requests (bounded here so that a node that never hands the turn to
		// its caller fails instead of looping).
		const requestsMax = 200
		connection := uint64(1)
		for ; connection <= requestsMax && node.Shards()[0].Stats().InlineTurns == 0; connection++ {
			reply := submitDeferred(t, node, replies, connection, model.OperationCreateAccounts,
				accountsBody(connection))
			if reply.Status != model.StatusOK {
				t.Fatalf("connection %d: reply %s", connection, reply.Status)
			}
		}
		if turns := node.Shards()[0].Stats().InlineTurns; turns == 0 {
			t.Fatalf("no inline turn in %d requests", connection-1)
		}
	})
	t.Run("two shards", func(t *testing.T) {
		parts, _ := freshParts(twoShards)
		node := buildNode(t, twoShards, parts, Config{TickInterval: time.Millisecond})
		if node.InlineTurns() {
			t.Fatal("a node of two shards says it runs inline turns (netio would schedule " +
				"a TurnInline that does nothing after every read)")
		}
		replies := newClientReplies()
		node.Start(replies)
		t.Cleanup(func() { node.Close() })
		// Account 1 on shard 0, account 200 on shard 1: both requests are split.
		if reply := submitDeferred(t, node, replies, 1, model.OperationCreateAccounts,
			accountsBody(1, 200)); reply.Status != model.StatusOK {
			t.Fatalf("create accounts: %s", reply.Status)
		}
		reply := submitDeferred(t, node, replies, 2, model.OperationCreateTransfers,
			transfersBody([4]uint64{10, 1, 200, 5}))
		if reply.Status != model.StatusOK {
			t.Fatalf("transfer: %s", reply.Status)
		}
		for i, status := range statuses(reply.Body, model.EventResultSize) {
			if status != model.StatusOK {
				t.Fatalf("transfer event %d: %s", i, status)
			}
		}
		for index, s := range node.Shards() {
			if turns := s.Stats().InlineTurns; turns != 0 {
				t.Fatalf("shard %d ran %d inline turns in a node of two", index, turns)
			}
		}
	})
}
