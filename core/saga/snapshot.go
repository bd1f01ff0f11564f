package saga

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// Snapshot section of a Book (part of the machine snapshot, after its report sequences):
//
//	header   magic "SQSAGAS1" (8) | self u16 | shards u16 | map checksum u32 |
//	         sagas u64 | reserved u64 (zero)                                  = 32 bytes
//	saga     client's transfer 128 | reserved u128 | moved u128 | credit shard u16 |
//	         phase u8 | 5 zero | final status u32 | 4 zero | final timestamp u64 |
//	         debit balances 64 | credit balances 64 | client u64              = 320 bytes
//	then, for each debit shard 0..shards-1:
//	         watermark u64 | decisions u64, then that many Decision records (128 bytes)
//
// Sagas and decisions appear in sequence order.
const (
	snapshotMagic      = "SQSAGAS1"
	snapshotHeaderSize = 32
	snapshotRecordSize = 320
)

// ErrSnapshotInvalid reports a saga section that cannot be loaded.
var ErrSnapshotInvalid = errors.New("saga: invalid snapshot section")

// AppendSnapshot appends the book's snapshot section to b.
func (b *Book) AppendSnapshot(out []byte) []byte {
	le := binary.LittleEndian
	var header [snapshotHeaderSize]byte
	copy(header[:], snapshotMagic)
	le.PutUint16(header[8:], b.self)
	le.PutUint16(header[10:], b.placement.Shards)
	le.PutUint32(header[12:], b.placement.Checksum())
	le.PutUint64(header[16:], b.count)
	out = append(out, header[:]...)
	var record [snapshotRecordSize]byte
	for sequence := uint64(1); sequence <= b.count; sequence++ {
		encodeRecord(record[:], b.at(sequence))
		out = append(out, record[:]...)
	}
	var decision [model.SagaDecisionSize]byte
	for from := range b.decided {
		w := &b.decided[from]
		out = le.AppendUint64(out, w.base)
		out = le.AppendUint64(out, uint64(w.count))
		w.each(func(d *Decision) {
			d.Encode(decision[:])
			out = append(out, decision[:]...)
		})
	}
	return out
}

func encodeRecord(b []byte, r *record) {
	le := binary.LittleEndian
	clear(b)
	r.original.Encode(b[0:])
	r.reserved.PutLE(b[128:])
	r.moved.PutLE(b[144:])
	le.PutUint16(b[160:], r.credit)
	b[162] = byte(r.phase)
	le.PutUint32(b[168:], uint32(r.result.Status))
	le.PutUint64(b[176:], r.result.Timestamp)
	r.result.DebitAccount.Encode(b[184:])
	r.result.CreditAccount.Encode(b[248:])
	le.PutUint64(b[312:], r.client)
}

func decodeRecord(b []byte, r *record) error {
	le := binary.LittleEndian
	r.original.Decode(b[0:])
	r.reserved = model.Uint128LE(b[128:])
	r.moved = model.Uint128LE(b[144:])
	r.credit = le.Uint16(b[160:])
	r.phase = Phase(b[162])
	r.result.Status = model.Status(le.Uint32(b[168:]))
	r.result.Timestamp = le.Uint64(b[176:])
	r.result.DebitAccount.Decode(b[184:])
	r.result.CreditAccount.Decode(b[248:])
	r.client = le.Uint64(b[312:])
	if !model.AllZero(b[163:168]) || !model.AllZero(b[172:176]) {
		return errors.New("reserved bytes")
	}
	if r.phase != PhaseRunning && r.phase != PhaseFinal {
		return fmt.Errorf("phase %d", r.phase)
	}
	// A saga gets its result and what it moved only as it turns final (Book.finished): a
	// running one with either is no record any build wrote, and restored it would show
	// its stale balances once it finished.
	if r.phase == PhaseRunning && (!model.AllZero(b[144:160]) || !model.AllZero(b[168:312])) {
		return errors.New("a running saga with a result or an amount moved")
	}
	if r.reserved.Less(r.moved) || r.original.ID.IsZero() || model.IsSystemID(r.original.ID) {
		return errors.New("inconsistent amounts or id")
	}
	return nil
}

// ReadSnapshot reads a book's section written by AppendSnapshot for shard self of
// placement. Call Index once the ledger is restored. The input is untrusted: anything malformed, or a section of another shard or
// map, is an error wrapping ErrSnapshotInvalid.
func ReadSnapshot(r io.Reader, placement *shardmap.Map, self uint16) (*Book, error) {
	bad := func(format string, args ...any) (*Book, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrSnapshotInvalid}, args...)...)
	}
	le := binary.LittleEndian
	var header [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return bad("header: %v", err)
	}
	if string(header[:8]) != snapshotMagic || le.Uint64(header[24:]) != 0 {
		return bad("bad header")
	}
	if le.Uint16(header[8:]) != self || le.Uint16(header[10:]) != placement.Shards ||
		le.Uint32(header[12:]) != placement.Checksum() {
		return bad("the snapshot is of shard %d of %d (map %08x); this is shard %d of %s",
			le.Uint16(header[8:]), le.Uint16(header[10:]), le.Uint32(header[12:]), self, placement)
	}
	count := le.Uint64(header[16:])
	if count > SagasMax {
		return bad("%d sagas", count)
	}
	b := New(placement, self)
	var encoded [snapshotRecordSize]byte
	for sequence := uint64(1); sequence <= count; sequence++ {
		if _, err := io.ReadFull(r, encoded[:]); err != nil {
			return bad("saga %d: %v", sequence, err)
		}
		var stored record
		if err := decodeRecord(encoded[:], &stored); err != nil {
			return bad("saga %d: %v", sequence, err)
		}
		if stored.credit == self || stored.credit >= placement.Shards {
			return bad("saga %d: credit shard %d", sequence, stored.credit)
		}
		b.push(stored) // Index, once the ledger is restored, finds each saga's step.
		if stored.phase == PhaseRunning {
			b.running = append(b.running, sequence)
			b.runs++
		}
	}
	for from := range b.decided {
		if err := b.readDecisions(r, uint16(from)); err != nil {
			return bad("decisions of shard %d: %v", from, err)
		}
	}
	return b, nil
}

func (b *Book) readDecisions(r io.Reader, from uint16) error {
	var counts [16]byte
	if _, err := io.ReadFull(r, counts[:]); err != nil {
		return err
	}
	w := &b.decided[from]
	w.base = binary.LittleEndian.Uint64(counts[0:])
	w.first = w.base - w.base%windowPage
	count := binary.LittleEndian.Uint64(counts[8:])
	if count > SagasMax || (from == b.self && (count != 0 || w.base != 0)) {
		return fmt.Errorf("%d decisions", count)
	}
	var record [model.SagaDecisionSize]byte
	previous := uint64(0)
	for i := uint64(0); i < count; i++ {
		if _, err := io.ReadFull(r, record[:]); err != nil {
			return err
		}
		var d Decision
		if !d.Decode(record[:]) || d.From != b.self || d.To != from ||
			!w.fits(d.Sequence) || d.Sequence <= previous {
			return fmt.Errorf("decision %d malformed or out of order", i)
		}
		previous = d.Sequence
		*w.add(d.Sequence) = d
	}
	return nil
}
