package ledger

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"sequent/core/model"
)

// goldenReservedSnapshot holds the bytes the snapshot writer produced, before the
// capture copied the reserved totals whole (commit 4a7872f, which collected the non-zero
// totals on the sequencer), for the state reservedSnapshotState builds. The format did
// not change, so the bytes must not either.
const goldenReservedSnapshot = "testdata/snapshot-v3-reserved.golden"

// reservedSnapshotState builds a ledger whose reserved totals are non-zero on accounts 1
// and 3, zero on account 2 between them (reserved, then released whole) and zero
// everywhere else, with a fill paid from a reservation and a pending transfer.
func reservedSnapshotState(t *testing.T) (*fixture, model.Uint128) {
	f, escrow := reservationFixture(t)
	f.expect(model.StatusOK, pending(60, 1, 2, 7, 0))
	for _, event := range []model.Transfer{
		reservation(SystemReserve, 1, escrow, 10),
		reservation(SystemReserve, 2, escrow, 20),
		reservation(SystemReserve, 3, escrow, 40),
		reservation(SystemRelease, 2, escrow, 20),
		fromReservation(1, 3, escrow, 15),
	} {
		if got := f.system(event)[0]; got != model.StatusOK {
			t.Fatalf("%+v: %s", event, got)
		}
	}
	return f, escrow
}

func encodeView(t *testing.T, view *SnapshotView) []byte {
	t.Helper()
	var encoded bytes.Buffer
	if _, err := view.WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	return encoded.Bytes()
}

// TestSnapshotBytesMatchTheGolden: the capture copies the sparse table's entries and
// the writer sorts them by account; the file is byte for byte what the writer produced
// when the capture filtered a dense array of totals (and when it copied that array
// whole), its reserved section lists accounts 1 and 3 only, and it restores to the same
// state.
func TestSnapshotBytesMatchTheGolden(t *testing.T) {
	f, _ := reservedSnapshotState(t)
	encoded := encodeView(t, f.ledger.Snapshot())
	golden, err := os.ReadFile(goldenReservedSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encoded, golden) {
		t.Fatalf("snapshot bytes differ from %s (%d bytes, want %d)", goldenReservedSnapshot,
			len(encoded), len(golden))
	}
	section := encoded[len(encoded)-4-2*reservedRecordSize:]
	if count := binary.LittleEndian.Uint32(section); count != 2 {
		t.Fatalf("reserved section count %d, want 2", count)
	}
	for i, want := range []struct {
		account  uint32
		reserved model.Uint128
	}{{0, model.U128(10)}, {2, model.U128(25)}} {
		record := section[4+i*reservedRecordSize:]
		account, reserved := binary.LittleEndian.Uint32(record), model.Uint128LE(record[4:20])
		if account != want.account || reserved != want.reserved {
			t.Fatalf("reserved record %d: account %d total %s, want %d and %s", i, account,
				reserved, want.account, want.reserved)
		}
	}
	restored, err := Restore(Config{HashSeed: 1}, bytes.NewReader(encoded))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeView(t, restored.Snapshot()), encoded) {
		t.Fatal("the restored ledger encodes other bytes")
	}
}

// TestSnapshotViewKeepsItsReservedTotals: a view written after the sequencer changed the
// reserved totals writes them as they were at the capture, and a view that reuses a
// released buffer holding non-zero totals writes only the totals of its own moment.
func TestSnapshotViewKeepsItsReservedTotals(t *testing.T) {
	f, escrow := reservedSnapshotState(t)
	golden, err := os.ReadFile(goldenReservedSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	view := f.ledger.Snapshot()
	reservedBuffer := &view.reserved[0]
	for _, event := range []model.Transfer{
		reservation(SystemRelease, 1, escrow, 10),
		reservation(SystemRelease, 3, escrow, 25),
		reservation(SystemReserve, 2, escrow, 5),
	} {
		if got := f.system(event)[0]; got != model.StatusOK {
			t.Fatalf("%+v: %s", event, got)
		}
	}
	if !bytes.Equal(encodeView(t, view), golden) {
		t.Fatal("the view wrote the reserved totals of after its capture")
	}
	view.Release()

	next := f.ledger.Snapshot()
	if &next.reserved[0] != reservedBuffer {
		t.Fatal("the next capture did not reuse the released reserved-total buffer")
	}
	encoded := encodeView(t, next)
	section := encoded[len(encoded)-4-reservedRecordSize:]
	if count, account := binary.LittleEndian.Uint32(section),
		binary.LittleEndian.Uint32(section[4:]); count != 1 || account != 1 ||
		model.Uint128LE(section[8:24]) != model.U128(5) {
		t.Fatalf("reserved section % x, want only account index 1 with 5", section)
	}
	restored, err := Restore(Config{HashSeed: 1}, bytes.NewReader(encoded))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != f.ledger.Digest() || restored.Reserved(model.U128(1)) != (model.Uint128{}) {
		t.Fatal("restoring the reused view does not give the ledger's state")
	}
}
