package replication

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// ackCheckingReplier records, per connection, the replies' numbers in order, and every
// ok write whose op the standby's log had not made durable when its reply left: in sync
// mode a reply waits for the standby's acknowledgement, which the standby sends for its
// durable op, so there must be none.
type ackCheckingReplier struct {
	standbyLog atomic.Pointer[wal.Log]
	mutex      sync.Mutex
	numbers    map[uint64][]uint64
	early      []backend.Reply
}

func (r *ackCheckingReplier) Deliver(replies []backend.Reply) {
	standbyLog := r.standbyLog.Load()
	r.mutex.Lock()
	defer r.mutex.Unlock()
	for _, reply := range replies {
		r.numbers[reply.Connection] = append(r.numbers[reply.Connection], reply.Number)
		if standbyLog != nil && reply.Status == model.StatusOK && reply.Op > 0 &&
			standbyLog.Durable() < reply.Op {
			reply.Body = nil
			r.early = append(r.early, reply)
		}
	}
}

func (r *ackCheckingReplier) DeliverReports([]backend.Report) {}

func (r *ackCheckingReplier) answered(connection uint64) int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return len(r.numbers[connection])
}

// TestSyncStandbyGetsOrderStopEntries: connections pipeline a lookup and a create in turn
// on a sync pair, so that the primary's takes stop for order again and again and its
// entries are deferred and written in groups by the sequencer (session 47). Every reply
// leaves only once the standby made its op durable, each connection's replies come in
// request order, and the standby ends with the primary's state.
func TestSyncStandbyGetsOrderStopEntries(t *testing.T) {
	primaryDir, standbyDir := t.TempDir(), t.TempDir()
	primaryAddress := freeAddress(t)
	replier := &ackCheckingReplier{numbers: map[uint64][]uint64{}}
	ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
	defer cancel()
	primary, err := OpenNode(ctx, nodeConfig(primaryDir, primaryAddress, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	primary.Start([]shard.Outputs{shard.RepliesOnly(replier)})
	standby := startNode(t, nodeConfig(standbyDir, freeAddress(t), primaryAddress))
	defer standby.Close()
	replier.standbyLog.Store(standby.Log())
	const connections, perConnection = 6, 120
	var group sync.WaitGroup
	for c := range connections {
		group.Go(func() {
			connection := uint64(10 + c)
			for i := range perConnection {
				id := uint64(1000 + c*perConnection + i/2)
				request := backend.Request{Connection: connection, Client: 7,
					Session: connection, Number: uint64(i + 1),
					Operation: model.OperationLookupAccounts, Body: model.U128(id).Append(nil)}
				if i%2 == 1 {
					request.Operation, request.Body = model.OperationCreateAccounts, accounts(id)
				}
				for primary.Shard().Submit(&request) == model.StatusBusy {
					time.Sleep(time.Millisecond) // Paces the retry; not an assertion.
				}
			}
		})
	}
	group.Wait()
	for c := range connections {
		connection := uint64(10 + c)
		waitFor(t, "every reply", func() bool { return replier.answered(connection) >= perConnection })
	}
	replier.mutex.Lock()
	early := append([]backend.Reply(nil), replier.early...)
	for c := range connections {
		numbers := replier.numbers[uint64(10+c)]
		for i, number := range numbers {
			if number != uint64(i+1) {
				replier.mutex.Unlock()
				t.Fatalf("connection %d: reply %d answers request %d", 10+c, i+1, number)
			}
		}
		if len(numbers) != perConnection {
			replier.mutex.Unlock()
			t.Fatalf("connection %d: %d replies for %d requests", 10+c, len(numbers), perConnection)
		}
	}
	replier.mutex.Unlock()
	if len(early) > 0 {
		t.Fatalf("%d ok replies left before the standby made their op durable, first %+v",
			len(early), early[0])
	}
	waitFor(t, "the standby to catch up", func() bool {
		return standby.Log().Durable() >= primary.Log().LastOp()
	})
	if digestOf(t, standby.Node) != digestOf(t, primary) {
		t.Fatal("the standby's state differs from the primary's")
	}
	t.Logf("primary: %d entries, %d log groups", primary.Shard().Stats().Entries,
		primary.Log().Stats().Groups)
}
