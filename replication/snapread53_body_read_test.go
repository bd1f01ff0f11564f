package replication

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/wal"
)

// failingHalfWay reads its file up to limit bytes, then fails with err.
type failingHalfWay struct {
	file   io.Reader
	read   int64
	limit  int64
	err    error
	failed *atomic.Int64
}

func (r *failingHalfWay) Read(buffer []byte) (int, error) {
	if r.read >= r.limit {
		r.failed.Add(1)
		return 0, r.err
	}
	if left := r.limit - r.read; int64(len(buffer)) > left {
		buffer = buffer[:left]
	}
	n, err := r.file.Read(buffer)
	r.read += int64(n)
	return n, err
}

// twoSnapshotsPrimary starts a primary with two snapshots whose log is retired up to the
// older one: a standby from nothing needs one of them. It returns the primary, the older
// and newest snapshots' ops and the newest's path.
func twoSnapshotsPrimary(t *testing.T) (primary *testNode, olderOp, newestOp uint64,
	newestPath string) {
	t.Helper()
	config := retiringSnapshots(nodeConfig(t.TempDir(), freeAddress(t), ""), 2)
	written := reportSnapshots(&config)
	primary = startNode(t, config)
	t.Cleanup(func() { primary.Close() })
	writeSegmentsOfHistory(t, primary)
	older := snapshotNow(t, primary, written)
	primary.submit(t, 5000, 42, model.OperationCreateTransfers, transfer(9, 2, 1, 5))
	primary.replies.wait(t, 5000)
	newest := snapshotNow(t, primary, written)
	if primary.Log().FirstOp() <= 1 || primary.Log().FirstOp() > older.Meta.Op+1 {
		t.Fatalf("setup: the log (first op %d) is not retired up to the older snapshot "+
			"at op %d", primary.Log().FirstOp(), older.Meta.Op)
	}
	snapshots, err := wal.ListSnapshots(config.Groups[0].SnapshotDir)
	if err != nil || len(snapshots) != 2 || snapshots[0].Meta.Op != newest.Meta.Op {
		t.Fatalf("setup: snapshots %+v (%v)", snapshots, err)
	}
	return primary, older.Meta.Op, newest.Meta.Op, snapshots[0].Path
}

// failNewestBodyRead makes the primary's reads of the snapshot file at path fail half-way
// with err: every read when always, else only the first. It returns how many reads of
// that file failed.
func failNewestBodyRead(t *testing.T, path string, err error, always bool) *atomic.Int64 {
	t.Helper()
	stat, statErr := os.Stat(path)
	if statErr != nil {
		t.Fatal(statErr)
	}
	failed := new(atomic.Int64)
	var opened atomic.Int64
	hook := func(read string, file io.Reader) io.Reader {
		if read != path || (!always && opened.Add(1) > 1) {
			return file
		}
		return &failingHalfWay{file: file, limit: stat.Size() / 2, err: err, failed: failed}
	}
	testHookSnapshotFileRead.Store(&hook)
	t.Cleanup(func() { testHookSnapshotFileRead.Store(nil) })
	return failed
}

// startStandbyFrom starts a standby in dir from nothing off primary, at most twice (the
// first start over may fail with the send), and checks that it started from the snapshot
// at wantOp and caught up to the primary's state.
func startStandbyFrom(t *testing.T, primary *testNode, wantOp uint64) {
	t.Helper()
	want := primary.Node.shardDigest(t)
	dir := t.TempDir()
	var errs []error
	for attempt := 0; attempt < 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), startWaitMax)
		node, err := OpenNode(ctx, retiringSnapshots(nodeConfig(dir, "",
			primary.config.Listen), 2))
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		standby := &testNode{Node: node, replies: newCollector()}
		node.Start([]shard.Outputs{shard.RepliesOnly(standby.replies)})
		defer standby.Close()
		if got := node.Recovery().SnapshotOp; got != wantOp {
			t.Fatalf("the standby started from the snapshot at op %d, want op %d", got, wantOp)
		}
		waitFor(t, "the standby catching up", func() bool {
			return node.Log().Durable() >= primary.Log().LastOp()
		})
		if node.shardDigest(t) != want {
			t.Fatal("the standby's state is not the primary's")
		}
		return
	}
	t.Fatalf("the standby could not start from the snapshot at op %d in two attempts: %v",
		wantOp, errs)
}

// TestSnapshotBodyUnreadableWhileSentIsMarkedDamaged (snapread53, a session 52
// leftover): an I/O error in the middle of a snapshot's body while the primary sent it
// only failed that send. A bad sector (EIO) does not read next time either, so the
// primary offered the same snapshot at every attempt and the standby never started,
// although an older whole snapshot bridged its gap. The read failure is damage: the file
// is offered no more, and the next start over gets the older snapshot.
func TestSnapshotBodyUnreadableWhileSentIsMarkedDamaged(t *testing.T) {
	primary, olderOp, _, newestPath := twoSnapshotsPrimary(t)
	failed := failNewestBodyRead(t, newestPath,
		&os.PathError{Op: "read", Path: newestPath, Err: syscall.EIO}, true)

	startStandbyFrom(t, primary, olderOp)
	if failed.Load() < 1 {
		t.Fatal("setup: the newest snapshot's body was never read part way")
	}
	if !primary.primary0().sentDamaged(newestPath) {
		t.Fatal("a snapshot whose body does not read (EIO) is not marked damaged")
	}
}

// TestSnapshotBodyReadFailingWithoutDamageIsOfferedAgain (snapread53): a read of a
// snapshot's body that fails for another reason than a bad sector says nothing of its
// bytes: that send fails, the file is not marked damaged, and the next start over gets
// the same (newest) snapshot.
func TestSnapshotBodyReadFailingWithoutDamageIsOfferedAgain(t *testing.T) {
	for _, test := range []struct {
		name string
		err  error
	}{
		{"plain", errors.New("the read was interrupted")},
		{"out of memory", &os.PathError{Op: "read", Path: "snapshot", Err: syscall.ENOMEM}},
	} {
		t.Run(test.name, func(t *testing.T) {
			primary, _, newestOp, newestPath := twoSnapshotsPrimary(t)
			failed := failNewestBodyRead(t, newestPath, test.err, false)

			startStandbyFrom(t, primary, newestOp)
			if failed.Load() != 1 {
				t.Fatalf("setup: the newest snapshot's read failed %d times, want once",
					failed.Load())
			}
			if primary.primary0().sentDamaged(newestPath) {
				t.Fatalf("a snapshot whose read failed with %v is marked damaged", test.err)
			}
		})
	}
}
