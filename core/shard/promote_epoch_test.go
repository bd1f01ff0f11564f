package shard

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// holdPromotion starts s.Promote(epoch) on a goroutine and returns once the promotion has
// switched the shard to primary, with the promotion held there (testHookPromoteSwitched)
// until resume is called, which returns Promote's error.
func holdPromotion(t *testing.T, s *Shard, epoch uint64) (resume func() error) {
	t.Helper()
	switched, release := make(chan struct{}), make(chan struct{})
	hook := func() {
		close(switched)
		<-release
	}
	testHookPromoteSwitched.Store(&hook)
	promoted := make(chan error, 1)
	go func() { promoted <- s.Promote(epoch) }()
	resumed := false
	resume = func() error {
		if !resumed {
			resumed = true
			close(release)
		}
		select {
		case err := <-promoted:
			return err
		case <-time.After(waitMax):
			t.Fatalf("Promote did not return within %v", waitMax)
			return nil
		}
	}
	t.Cleanup(func() {
		testHookPromoteSwitched.Store(nil)
		if !resumed {
			resumed = true
			close(release)
		}
	})
	select {
	case <-switched:
	case <-time.After(waitMax):
		t.Fatalf("Promote did not switch the role within %v", waitMax)
	}
	return resume
}

// TestWriteRightAfterPromotionCarriesTheNewEpoch: a write admitted as soon as a promoted
// shard says it is the primary is logged with the promotion's epoch. Promote used to
// switch the role and only then store the epoch; a write admitted and sequenced in
// between (by the sequencer goroutine, or by an event loop's inline turn) was logged
// with the old epoch, at an op where the deposed primary of that epoch may have logged
// a different entry: two entries with the same (op, epoch), which replication's
// divergence checks and change capture cannot tell apart. The promotion is held right
// after the switch while the write goes through.
func TestWriteRightAfterPromotionCarriesTheNewEpoch(t *testing.T) {
	for _, path := range []string{"sequencer", "inline turn"} {
		t.Run(path, func(t *testing.T) {
			log := wal.NewMemoryLog()
			standby, replier := startShard(t, Config{Epoch: 1, Role: RoleStandby}, log)
			resume := holdPromotion(t, standby, 2)
			request := &backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
				Operation: model.OperationCreateAccounts, Body: accountsBody(1)}
			var status model.Status
			if path == "sequencer" {
				status = standby.Submit(request)
			} else {
				// Idle, the shard leaves the turn to the loop (TurnInline): the path where
				// the write is sequenced right after Submit, on the submitter's goroutine.
				waitUntil(t, "the sequencer to wait", standby.idle.Load)
				status = standby.SubmitDeferred(request)
				standby.TurnInline()
			}
			if status != model.StatusOK {
				t.Fatalf("write on a shard switched to primary: %s", status)
			}
			replier.waitFor(t, 1) // Logged, applied and durable, the promotion still held.
			if err := resume(); err != nil {
				t.Fatal(err)
			}
			entries := 0
			if err := log.Read(0, func(e *wal.Entry) error {
				entries++
				if e.Epoch != 2 {
					t.Errorf("entry at op %d logged with epoch %d after a promotion to 2",
						e.FirstOp, e.Epoch)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if entries == 0 {
				t.Fatal("the write is not in the log")
			}
		})
	}
}

// TestFenceDuringPromotion: a fence of the promotion's epoch that arrives while the
// promotion is under way either comes first (the promotion fails: the shard is fenced)
// or finds the new epoch (not newer: ignored). Promote used to store the epoch after the
// role, so such a fence in between fenced the shard and Promote still reported success:
// the node would serve as a primary whose shards refuse everything.
func TestFenceDuringPromotion(t *testing.T) {
	standby, _ := startShard(t, Config{Epoch: 1, Role: RoleStandby}, wal.NewMemoryLog())
	resume := holdPromotion(t, standby, 2)
	standby.Fence(2, "127.0.0.1:9999")
	err := resume()
	if role := standby.Role(); (err == nil) != (role == RolePrimary) {
		t.Fatalf("Promote returned %v and the shard is %s at epoch %d", err, role,
			standby.Epoch())
	}
}

// TestRoleWordHoldsEveryEpochUpToItsBound: the role and the epoch share one word; every
// role keeps every epoch up to epochMax, and a shard refuses to start at, or be
// promoted to, an epoch beyond it (it would overwrite the role).
func TestRoleWordHoldsEveryEpochUpToItsBound(t *testing.T) {
	for _, role := range []Role{RolePrimary, RoleStandby, RoleFenced} {
		for _, epoch := range []uint64{0, 1, epochMax} {
			if gotRole, gotEpoch := unpackRole(packRole(role, epoch)); gotRole != role ||
				gotEpoch != epoch {
				t.Errorf("%s at epoch %d reads back as %s at epoch %d", role, epoch, gotRole,
					gotEpoch)
			}
		}
	}
	if _, err := New(Config{Epoch: epochMax + 1}, core.New(testMachineConfig),
		wal.NewMemoryLog()); err == nil {
		t.Error("a shard started at an epoch above epochMax")
	}
	if _, err := New(Config{Role: RoleFenced + 1}, core.New(testMachineConfig),
		wal.NewMemoryLog()); err == nil {
		t.Error("a shard started with an unknown role")
	}
	standby, _ := startShard(t, Config{Epoch: 1, Role: RoleStandby}, wal.NewMemoryLog())
	if err := standby.Promote(epochMax + 1); err == nil {
		t.Error("a promotion to an epoch above epochMax succeeded")
	}
	if role, epoch := standby.roleAndEpoch(); role != RoleStandby || epoch != 1 {
		t.Errorf("after a refused promotion: %s at epoch %d", role, epoch)
	}
}
