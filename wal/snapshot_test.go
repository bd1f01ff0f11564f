package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// stateBytes is a snapshot state of n pseudo-random but compressible bytes.
type stateBytes []byte

func (s stateBytes) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s)
	return int64(n), err
}

func makeState(seed uint64, n int) stateBytes {
	return stateBytes(transfersBody(newRand(seed), seed, n/128))
}

// readSnapshot reads a snapshot's whole state, returning the reader's error.
func readSnapshot(t *testing.T, path string) (SnapshotMeta, []byte, error) {
	t.Helper()
	meta, reader, err := OpenSnapshot(path)
	if err != nil {
		return meta, nil, err
	}
	defer reader.Close()
	state, err := io.ReadAll(reader)
	return meta, state, err
}

// TestSnapshotRoundTrip writes snapshots and reads them back: same meta, same state
// bytes, listed newest first, compressed.
func TestSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	states := map[uint64]stateBytes{}
	for _, op := range []uint64{100, 300, 200} {
		states[op] = makeState(op, 3<<20)
		meta := SnapshotMeta{Op: op, Epoch: 2, Timestamp: op * 10, Digest: [32]byte{byte(op)},
			Chain: [32]byte{1, byte(op)}}
		info, err := WriteSnapshot(dir, meta, states[op])
		if err != nil {
			t.Fatal(err)
		}
		if info.StoredBytes*2 > info.RawBytes {
			t.Fatalf("snapshot not compressed: %d stored for %d raw", info.StoredBytes, info.RawBytes)
		}
	}
	infos, err := ListSnapshots(dir)
	if err != nil || len(infos) != 3 {
		t.Fatalf("listed %d snapshots (%v)", len(infos), err)
	}
	for i, op := range []uint64{300, 200, 100} {
		if infos[i].Meta.Op != op || infos[i].Err != nil {
			t.Fatalf("listing %d: op %d err %v, want op %d", i, infos[i].Meta.Op, infos[i].Err, op)
		}
		meta, state, err := readSnapshot(t, infos[i].Path)
		if err != nil || meta != infos[i].Meta || !bytes.Equal(state, states[op]) {
			t.Fatalf("snapshot %d read back differs (%v)", op, err)
		}
	}
	if err := PruneSnapshots(dir, 2); err != nil {
		t.Fatal(err)
	}
	if infos, _ = ListSnapshots(dir); len(infos) != 2 || infos[1].Meta.Op != 200 {
		t.Fatalf("after pruning to 2: %d left", len(infos))
	}
}

// TestSnapshotDamageFallsBack damages the newest snapshot's header and the next one's
// body: the header damage shows in ListSnapshots, the body damage as an
// ErrSnapshotCorrupt from the reader, and the oldest snapshot still reads, which is what
// a caller falling back needs.
func TestSnapshotDamageFallsBack(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []uint64{10, 20, 30} {
		if _, err := WriteSnapshot(dir, SnapshotMeta{Op: op}, makeState(op, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	path := func(op uint64) string { return filepath.Join(dir, snapshotName(op)) }
	flipByte(t, path(30), snapshotOffsetEpoch)
	stat, err := os.Stat(path(20))
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, path(20), stat.Size()-100)
	infos, err := ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || !errors.Is(infos[0].Err, ErrSnapshotCorrupt) || infos[1].Err != nil {
		t.Fatalf("listing: %d snapshots, newest error %v", len(infos), infos[0].Err)
	}
	if _, _, err := OpenSnapshot(path(30)); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("open of a damaged header: %v", err)
	}
	if _, _, err := readSnapshot(t, path(20)); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("read of a damaged body: %v", err)
	}
	_, state, err := readSnapshot(t, path(10))
	if err != nil || !bytes.Equal(state, makeState(10, 1<<20)) {
		t.Fatalf("fallback snapshot: %v", err)
	}
	// A truncated file is refused by its header's length.
	if err := os.Truncate(path(10), stat.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenSnapshot(path(10)); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("open of a truncated snapshot: %v", err)
	}
}

// blockingState writes half its bytes, then waits for the test, then fails or finishes.
type blockingState struct {
	state   stateBytes
	reached chan struct{}
	resume  chan error
}

func (b *blockingState) WriteTo(w io.Writer) (int64, error) {
	half := len(b.state) / 2
	n, err := w.Write(b.state[:half])
	if err != nil {
		return int64(n), err
	}
	close(b.reached)
	if err := <-b.resume; err != nil {
		return int64(n), err
	}
	m, err := w.Write(b.state[half:])
	return int64(n + m), err
}

// TestSnapshotAtomic checks that a snapshot being written is invisible (ListSnapshots
// shows only complete files) and that a failed write leaves nothing behind.
func TestSnapshotAtomic(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteSnapshot(dir, SnapshotMeta{Op: 1}, makeState(1, 1<<20)); err != nil {
		t.Fatal(err)
	}
	for _, failure := range []error{nil, errors.New("state encoding failed")} {
		state := &blockingState{state: makeState(2, 4<<20), reached: make(chan struct{}),
			resume: make(chan error)}
		done := make(chan error, 1)
		go func() {
			_, err := WriteSnapshot(dir, SnapshotMeta{Op: 2}, state)
			done <- err
		}()
		<-state.reached
		infos, err := ListSnapshots(dir)
		if err != nil || len(infos) != 1 || infos[0].Meta.Op != 1 {
			t.Fatalf("a partial snapshot is visible: %d listed (%v)", len(infos), err)
		}
		state.resume <- failure
		err = <-done
		if failure != nil {
			if !errors.Is(err, failure) {
				t.Fatalf("failed write returned %v", err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("failed write left %d files", len(entries))
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if infos, _ = ListSnapshots(dir); len(infos) != 2 {
			t.Fatalf("completed snapshot not listed: %d", len(infos))
		}
		if err := os.Remove(filepath.Join(dir, snapshotName(2))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPruneSnapshotsHolding keeps, besides the newest snapshots, the newest one at or
// before a consumer's held op (the state a catching-up consumer rebuilds from), and only
// that one.
func TestPruneSnapshotsHolding(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []uint64{10, 20, 30, 40} {
		if _, err := WriteSnapshot(dir, SnapshotMeta{Op: op}, makeState(op, 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := PruneSnapshotsHolding(dir, 1, 25); err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Meta.Op != 40 || infos[1].Meta.Op != 20 {
		t.Fatalf("kept %+v, want the snapshots at ops 40 and 20", infos)
	}
	if err := PruneSnapshotsHolding(dir, 1, 0); err != nil {
		t.Fatal(err)
	}
	if infos, _ = ListSnapshots(dir); len(infos) != 1 {
		t.Fatalf("without a hold %d snapshots are kept", len(infos))
	}
}

// TestSnapshotOfAnotherFormatVersionIsRefused: a snapshot written by another format
// version (its header otherwise sound, checksum included) is listed with ErrVersion and
// not opened, never read as this version's; a sound one is listed with the sizes it was
// written with.
func TestSnapshotOfAnotherFormatVersionIsRefused(t *testing.T) {
	dir := t.TempDir()
	written, err := WriteSnapshot(dir, SnapshotMeta{Op: 7, Epoch: 1}, makeState(7, 4<<10))
	if err != nil {
		t.Fatal(err)
	}
	infos, err := ListSnapshots(dir)
	if err != nil || len(infos) != 1 || infos[0].Err != nil ||
		infos[0].RawBytes != written.RawBytes || infos[0].StoredBytes != written.StoredBytes {
		t.Fatalf("listed %+v (%v), want the snapshot as written: %+v", infos, err, written)
	}
	b, err := os.ReadFile(written.Path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[snapshotOffsetVersion:], formatVersion+1)
	putHeaderCRC(b[:snapshotHeaderSize], snapshotOffsetHeaderCRC)
	if err := os.WriteFile(written.Path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if infos, err = ListSnapshots(dir); err != nil || len(infos) != 1 ||
		!errors.Is(infos[0].Err, ErrVersion) {
		t.Fatalf("listed %+v (%v), want ErrVersion", infos, err)
	}
	if _, state, err := OpenSnapshot(written.Path); !errors.Is(err, ErrVersion) {
		if state != nil {
			state.Close()
		}
		t.Fatalf("opened: %v, want ErrVersion", err)
	}
}

// TestPruneKeepsASnapshotItCannotRead: the header of the snapshot at op 20 cannot be read
// while the prune runs (out of file descriptors: a moment later it reads again), and a
// consumer holds op 25. The prune cannot tell that snapshot from a damaged one, so it must
// keep it: it may be the one the hold needs (a consumer rebuilding from op 20 on). It was
// deleted as damaged, and the older one kept for the hold in its place.
func TestPruneKeepsASnapshotItCannotRead(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []uint64{10, 20, 30, 40} {
		if _, err := WriteSnapshot(dir, SnapshotMeta{Op: op}, makeState(op, 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	unreadable := filepath.Join(dir, snapshotName(20))
	injectFault(t, &testHookReadSnapshotHeader, unreadable, syscall.EMFILE, nil)
	if err := PruneSnapshotsHolding(dir, 1, 25); err != nil {
		t.Fatal(err)
	}
	testHookReadSnapshotHeader.Store(nil)
	infos, err := ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ops []uint64
	for _, info := range infos {
		ops = append(ops, info.Meta.Op)
	}
	if !slices.Contains(ops, 20) || !slices.Contains(ops, 40) {
		t.Fatalf("kept the snapshots at ops %v, want 40 and the unreadable one at 20", ops)
	}
}
