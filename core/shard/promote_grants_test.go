package shard

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// durableHookLog runs the function armed in beforeDurable (once) at the next Durable
// call: in a sequencer turn, that is after the grant table check and before the ring is
// taken (holdForGroupCommit).
type durableHookLog struct {
	Log
	beforeDurable atomic.Pointer[func()]
}

func (l *durableHookLog) Durable() uint64 {
	if hook := l.beforeDurable.Swap(nil); hook != nil {
		(*hook)()
	}
	return l.Log.Durable()
}

// TestFirstWriteAfterPromotionFollowsTheGrantTable: a new primary logs the grant table
// it was given (its keys file) before the first write it sequences, so that the write is
// decided by it. A promotion landing in a sequencer turn after the turn's grant check
// (made as a standby: nothing to log) and before it takes the ring used to let a write
// admitted meanwhile into the log ahead of the table, decided by the old primary's.
func TestFirstWriteAfterPromotionFollowsTheGrantTable(t *testing.T) {
	log := &durableHookLog{Log: wal.NewMemoryLog()}
	standby, replier := startShard(t, Config{Epoch: 1, Role: RoleStandby}, log)
	operatorGrants(t, standby, 7) // Not in force: the standby keeps it for its promotion.
	deadline := time.Now().Add(waitMax)
	for !standby.idle.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("the sequencer did not wait within %v", waitMax)
		}
		time.Sleep(time.Millisecond)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	hook := func() {
		close(reached)
		<-release
	}
	log.beforeDurable.Store(&hook)
	standby.wakeUp()
	select {
	case <-reached:
	case <-time.After(waitMax):
		close(release)
		t.Fatalf("no sequencer turn within %v", waitMax)
	}
	if err := standby.Promote(2); err != nil {
		close(release)
		t.Fatal(err)
	}
	status := standby.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	close(release)
	if status != model.StatusOK {
		t.Fatalf("write on the promoted shard: %s", status)
	}
	replier.waitFor(t, 1)
	var order []model.Operation
	if err := log.Log.(*wal.MemoryLog).Read(0, func(e *wal.Entry) error {
		for body := e.Body; len(body) > 0; {
			length := int(binary.LittleEndian.Uint32(body[28:]))
			var request core.Request
			if err := core.DecodeRequest(body[:core.RequestHeaderSize+length], &request); err != nil {
				t.Fatalf("entry at op %d: %v", e.FirstOp, err)
			}
			body = body[core.RequestHeaderSize+length:]
			order = append(order, request.Operation)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, operation := range order {
		if operation == model.OperationSetGrants {
			return
		}
		if operation == model.OperationCreateAccounts {
			t.Fatalf("the new primary logged a write before its grant table: %v", order)
		}
	}
	t.Fatalf("the grant table is not in the log: %v", order)
}
