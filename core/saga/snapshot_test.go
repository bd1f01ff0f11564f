package saga

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// Shard 1 of 3 in the snapshot tests: decisions come from shards 0 and 2.
const snapshotSelf = 1

// snapshotDecision is a decision shard snapshotSelf took for a saga of debit shard from.
func snapshotDecision(from uint16, sequence uint64, transfer model.Uint128) Decision {
	return Decision{Sequence: sequence, From: snapshotSelf, To: from, Status: model.StatusOK,
		Amount: filled(sequence), Credit: filledBalance(sequence + 1),
		Timestamp: 1000 + sequence, Transfer: transfer}
}

// snapshotBook holds a running saga, two final ones (credited; refused, with a status)
// and decisions of both other shards: one above a watermark that is not a page
// boundary, one without a transfer id (an old record), one at the top of the window's span.
func snapshotBook() (*Book, *shardmap.Map) {
	placement := shardmap.Hashed(3)
	b := New(placement, snapshotSelf)
	running := filledTransfer(1)
	running.ID = model.U128(101)
	b.push(record{original: running, reserved: filled(2), client: 0x0102030405060708,
		credit: 2, phase: PhaseRunning})
	credited := filledTransfer(3)
	credited.ID = model.U128(102)
	b.push(record{original: credited, reserved: filled(4), moved: filled(3), client: 9,
		credit: 0, phase: PhaseFinal, result: model.TransferResult{
			EventResult:  model.EventResult{Timestamp: 0x1112131415161718, Status: model.StatusOK},
			DebitAccount: filledBalance(5), CreditAccount: filledBalance(9)}})
	refused := filledTransfer(4)
	refused.ID = model.U128(103)
	b.push(record{original: refused, reserved: filled(5), client: 10, credit: 2,
		phase: PhaseFinal, result: model.TransferResult{
			EventResult:  model.EventResult{Timestamp: 0x2122232425262728, Status: model.StatusExceedsCredits},
			DebitAccount: filledBalance(13)}})
	b.decided[0].forget(300)
	for _, d := range []Decision{snapshotDecision(0, 300, model.U128(7)),
		snapshotDecision(0, 301, model.Uint128{}),
		snapshotDecision(0, 256+WindowSpanMax-1, model.U128(8))} {
		*b.decided[0].add(d.Sequence) = d
	}
	*b.decided[2].add(1) = snapshotDecision(2, 1, model.U128(9))
	return b, placement
}

func decisionsOf(w *window) []Decision {
	var all []Decision
	w.each(func(d *Decision) { all = append(all, *d) })
	return all
}

// A book's snapshot section reads back as the same book: every saga record with its
// final result (status, timestamp, balances), the running sagas, each debit shard's
// watermark and decisions (transfer id, zero or not); and it encodes to the same bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	b, placement := snapshotBook()
	section := b.AppendSnapshot([]byte("prefix"))[len("prefix"):]
	read, err := ReadSnapshot(bytes.NewReader(section), placement, snapshotSelf)
	if err != nil {
		t.Fatal(err)
	}
	if read.count != b.count {
		t.Fatalf("%d sagas read, %d written", read.count, b.count)
	}
	for sequence := uint64(1); sequence <= b.count; sequence++ {
		if *read.at(sequence) != *b.at(sequence) {
			t.Errorf("saga %d: %+v became %+v", sequence, *b.at(sequence), *read.at(sequence))
		}
	}
	if !slices.Equal(read.running, []uint64{1}) || read.runs != 1 {
		t.Errorf("running %v (%d), want [1]", read.running, read.runs)
	}
	for from := range b.decided {
		want, got := &b.decided[from], &read.decided[from]
		if got.base != want.base || got.first != want.first || got.count != want.count ||
			!slices.Equal(decisionsOf(got), decisionsOf(want)) {
			t.Errorf("decisions of shard %d: base %d first %d %v, want base %d first %d %v", from,
				got.base, got.first, decisionsOf(got), want.base, want.first, decisionsOf(want))
		}
	}
	if read.Decisions() != 4 {
		t.Errorf("%d decisions kept, want 4", read.Decisions())
	}
	if again := read.AppendSnapshot(nil); !bytes.Equal(again, section) {
		t.Fatal("the section read back encodes differently")
	}
}

// Offsets in snapshotBook's section.
const (
	recordsAt   = snapshotHeaderSize
	decisionsAt = recordsAt + 3*snapshotRecordSize // Shard 0's watermark and count.
)

// block encodes one debit shard's part of the decisions: watermark, count, records.
func block(base, count uint64, decisions ...Decision) []byte {
	out := binary.LittleEndian.AppendUint64(nil, base)
	out = binary.LittleEndian.AppendUint64(out, count)
	for i := range decisions {
		var encoded [model.SagaDecisionSize]byte
		decisions[i].Encode(encoded[:])
		out = append(out, encoded[:]...)
	}
	return out
}

// decisionSection is a section without sagas whose decision blocks are the given ones
// (shards 0, 1 = self, 2).
func decisionSection(blocks ...[]byte) []byte {
	b := New(shardmap.Hashed(3), snapshotSelf)
	return append(b.AppendSnapshot(nil)[:snapshotHeaderSize], bytes.Join(blocks, nil)...)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// Every malformed section is refused with ErrSnapshotInvalid: a section of another shard
// or map, impossible counts, malformed saga records, and decisions that are malformed,
// not this shard's, out of order, repeated or outside the window of their watermark.
func TestSnapshotRefusesMalformedSections(t *testing.T) {
	good, placement := snapshotBook()
	section := good.AppendSnapshot(nil)
	edit := func(at int, value []byte) []byte {
		out := bytes.Clone(section)
		copy(out[at:], value)
		return out
	}
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	d := func(from uint16, sequence uint64) Decision { return snapshotDecision(from, sequence, model.U128(1)) }
	empty := block(0, 0)
	reservedByte := d(0, 300)
	var reservedEncoded [model.SagaDecisionSize]byte
	reservedByte.Encode(reservedEncoded[:])
	reservedEncoded[127] = 1
	systemID := model.Uint128{Hi: 1 << 63}
	var systemIDBytes [16]byte
	systemID.PutLE(systemIDBytes[:])

	for _, c := range []struct {
		name    string
		section []byte
		self    uint16
		ok      bool
	}{
		{"the section as written", section, snapshotSelf, true},
		{"decisions at the watermark and the top of its span",
			decisionSection(block(300, 2, d(0, 300), d(0, 256+WindowSpanMax-1)), empty, empty), snapshotSelf, true},
		{"another shard's section", section, 2, false},
		{"bad magic", edit(0, []byte("SQSAGAS2")), snapshotSelf, false},
		{"another map's checksum", edit(12, []byte{section[12] ^ 1}), snapshotSelf, false},
		{"another shard count", edit(10, u16(4)), snapshotSelf, false},
		{"reserved header bytes", edit(24, []byte{1}), snapshotSelf, false},
		{"more sagas than SagasMax", edit(16, u64(SagasMax+1)), snapshotSelf, false},
		{"a saga record cut short", section[:recordsAt+snapshotRecordSize+10], snapshotSelf, false},
		{"reserved saga bytes after the phase", edit(recordsAt+163, []byte{1}), snapshotSelf, false},
		{"reserved saga bytes after the status", edit(recordsAt+172, []byte{1}), snapshotSelf, false},
		{"phase unknown", edit(recordsAt+162, []byte{byte(PhaseUnknown)}), snapshotSelf, false},
		{"phase 3", edit(recordsAt+162, []byte{3}), snapshotSelf, false},
		{"moved more than reserved", edit(recordsAt+144, bytes.Repeat([]byte{0xff}, 16)), snapshotSelf, false},
		{"a zero transfer id", edit(recordsAt, make([]byte, 16)), snapshotSelf, false},
		{"a system transfer id", edit(recordsAt, systemIDBytes[:]), snapshotSelf, false},
		{"a saga credited on its own shard", edit(recordsAt+160, u16(snapshotSelf)), snapshotSelf, false},
		{"a saga credited on no shard", edit(recordsAt+160, u16(3)), snapshotSelf, false},
		{"decision blocks missing", section[:decisionsAt], snapshotSelf, false},
		{"fewer decisions than counted", section[:len(section)-1], snapshotSelf, false},
		{"more decisions than SagasMax",
			decisionSection(block(0, SagasMax+1, d(0, 1)), empty, empty), snapshotSelf, false},
		{"decisions on this shard's own block",
			decisionSection(empty, block(0, 1, d(1, 1)), empty), snapshotSelf, false},
		{"a watermark on this shard's own block",
			decisionSection(empty, block(5, 0), empty), snapshotSelf, false},
		{"a decision below the watermark",
			decisionSection(block(300, 1, d(0, 299)), empty, empty), snapshotSelf, false},
		{"a decision beyond the window's span",
			decisionSection(block(300, 1, d(0, 256+WindowSpanMax)), empty, empty), snapshotSelf, false},
		{"a decision of saga 0", decisionSection(block(0, 1, d(0, 0)), empty, empty), snapshotSelf, false},
		{"a decision twice",
			decisionSection(block(0, 2, d(0, 4), d(0, 4)), empty, empty), snapshotSelf, false},
		{"decisions out of order",
			decisionSection(block(0, 2, d(0, 5), d(0, 4)), empty, empty), snapshotSelf, false},
		{"a decision another shard took",
			decisionSection(block(0, 1, Decision{Sequence: 1, From: 2, To: 0}), empty, empty), snapshotSelf, false},
		{"a decision for another debit shard",
			decisionSection(block(0, 1, d(2, 1)), empty, empty), snapshotSelf, false},
		{"a decision with a reserved byte",
			decisionSection(append(block(300, 1), reservedEncoded[:]...), empty, empty), snapshotSelf, false},
	} {
		reader := &countingReader{r: bytes.NewReader(c.section)}
		_, err := ReadSnapshot(reader, placement, c.self)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrSnapshotInvalid) {
			t.Errorf("%s: error %v, want ErrSnapshotInvalid", c.name, err)
		}
		// A count above the maximum is refused as such, before any record is read.
		if c.name == "more decisions than SagasMax" && reader.read != snapshotHeaderSize+16 {
			t.Errorf("%s: %d bytes read before refusing, want %d", c.name, reader.read, snapshotHeaderSize+16)
		}
	}
}

// A machine restored from an old snapshot (decisions without a transfer id) still lets
// those decisions finish whichever saga holds their sequence.
func TestSnapshotKeepsOldDecisionsMatchingAny(t *testing.T) {
	old := snapshotDecision(0, 1, model.Uint128{})
	section := decisionSection(block(0, 1, old), block(0, 0), block(0, 0))
	b, err := ReadSnapshot(bytes.NewReader(section), shardmap.Hashed(3), snapshotSelf)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := b.decided[0].find(1)
	if !ok || *got != old || !got.Matches(model.U128(12345)) {
		t.Fatalf("old decision read as %+v (found %v)", got, ok)
	}
}
