package shard

import (
	"errors"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

// appendStoredHookLog runs beforeAppendStored (when set) as the standby's sequencer is
// about to append a replicated entry.
type appendStoredHookLog struct {
	Log
	beforeAppendStored func()
}

func (l *appendStoredHookLog) AppendStored(stored []byte) error {
	if l.beforeAppendStored != nil {
		l.beforeAppendStored()
	}
	return l.Log.AppendStored(stored)
}

// TestEntryInFlightAtPromotionDoesNotSetThePrimarysEpoch: Replicate checks the role when
// it is called, and the sequencer applies the entry later; a promotion in between (the
// entry still on its way to the sequencer, or being appended) used to leave the entry's
// epoch to raiseEpoch, which raised the new primary's epoch to it: a primary promoted to
// 2 that met an entry of epoch 3 went on writing under epoch 3, an epoch whose own
// primary writes other entries at the same ops. Now an entry that reaches the sequencer
// of a shard no longer a standby is refused (ErrNotStandby, not a failure), and one of
// a higher epoch met while being appended fences the new primary (a newer one exists).
func TestEntryInFlightAtPromotionDoesNotSetThePrimarysEpoch(t *testing.T) {
	for _, when := range []string{"before the sequencer takes it", "while it is appended"} {
		t.Run(when, func(t *testing.T) {
			primaryLog, standbyLog, shipped := replicatedLogs(t)
			primary, err := New(Config{Epoch: 3}, core.New(testMachineConfig), primaryLog)
			if err != nil {
				t.Fatal(err)
			}
			primaryReplies := newRecordingReplier()
			primary.Start(RepliesOnly(primaryReplies))
			defer primary.Close()
			primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
				Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
			primaryReplies.waitFor(t, 1)
			stored := <-shipped // Op 1, epoch 3.

			hooked := &appendStoredHookLog{Log: standbyLog}
			standby, _ := startShard(t, Config{Epoch: 1, Role: RoleStandby}, hooked)
			promote := func() {
				if err := standby.Promote(2); err != nil {
					t.Error(err)
				}
			}
			if when == "before the sequencer takes it" {
				promote()
			} else {
				hooked.beforeAppendStored = promote
			}
			// What Replicate sends once its role check has passed.
			entry := storedEntry{bytes: stored, done: make(chan error, 1)}
			standby.stored <- entry
			err = <-entry.done
			role, epoch := standby.roleAndEpoch()
			if role == RolePrimary && epoch != 2 {
				t.Fatalf("a primary promoted to epoch 2 is at epoch %d after a replicated "+
					"entry of epoch 3 (Replicate: %v)", epoch, err)
			}
			if when == "before the sequencer takes it" &&
				(!errors.Is(err, ErrNotStandby) || role != RolePrimary || standby.Err() != nil) {
				t.Fatalf("an entry for a shard promoted meanwhile: Replicate %v, %s at epoch "+
					"%d, failure %v", err, role, epoch, standby.Err())
			}
			if when == "while it is appended" && role != RoleFenced {
				t.Fatalf("a primary of epoch 2 that appended an entry of epoch 3 is %s at "+
					"epoch %d", role, epoch)
			}
		})
	}
}
