package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"sequent/wal"
)

// The signed-replies ratchet (session 39). NodeConfig.WitnessUnsignedAllowed lets a node
// accept a witness's unsigned (v1) answers without TLS, for an upgrade done nodes first.
// Left on once the witness signs, it is a hole: whoever sits on the path clears the
// signing bit of the witness's challenge, the node falls back to v1, and the attacker
// answers it (a grant: split brain; a refusal: a fence). So a node that has once
// received a signed answer whose mac verified (v2 or v3) refuses unsigned ones without
// TLS from then on, whatever the flag says (ErrWitnessDowngrade). Nothing an attacker
// sends raises it (raising needs a mac only a holder of the key can produce) or lowers
// it (no answer does: only an operator removing the marker file).
//
// It survives restarts: a restart is something an attacker can wait for (or cause), and
// a ratchet held in memory only would give the downgrade back at every one. The marker is
// a small file next to the epoch file (NodeConfig.WitnessRatchetPath), written durably
// once, after the first signed answer, and read at OpenNode. It is written by a goroutine
// of its own (raise), the ratchet being raised in memory first: the lease goroutine must
// renew within its lease whatever the disk does, and a promotion asks the witness holding
// the node's mutex. A failed write is tried again at a signed answer, once a lease at
// most (a disk that keeps failing costs no more). A marker that exists but does not
// verify counts as raised (refusing unsigned answers is the safe side: it can only cost
// an automatic failover through a witness that does not sign), logged at Error, so that
// a torn or altered file never lowers it; the next signed answer rewrites it whole, so
// that the Error does not come back at every start. To lower it (a witness rolled
// back to a build before session 37, reached without TLS): stop the node, remove the
// file, start it with --witness-allow-unsigned; it rises again at the first signed
// answer. Over TLS, unsigned answers are authenticated by TLS and stay accepted: the
// ratchet guards only the flag's path.
//
// A primary raises it at its first renewal. A standby asks the witness for the lease
// only once its primary is lost, which is the very moment an attacker would strip the
// bit; so while its primary lives, a standby whose ratchet is down probes the witness
// (leaseProbe, witness.go: a signed request that changes nothing) at its failover watch's
// first tick and then every witnessProbeIntervalLeases leases until a signed answer
// raises it and its marker is stored (a pinned standby goes on probing: probeWitness). A witness that does not
// announce probes, or does not sign (an earlier build, or a bit cleared on the way), is
// not probed: the standby then raises the ratchet at its first signed answer, as before,
// and says so once at Warn (the one trace a cleared probe bit leaves: nothing is
// refused); a pinned standby still checks the id its challenge announces.
//
// Marker format, one fixed-size record, little-endian (never change these offsets: bump
// witnessRatchetVersion instead):
const (
	witnessRatchetOffsetMagic    = 0  // [8] witnessRatchetMagic
	witnessRatchetOffsetVersion  = 8  // u32 witnessRatchetVersion
	witnessRatchetOffsetCRC      = 12 // u32 CRC32C of the record with this field zero
	witnessRatchetOffsetEpoch    = 16 // u64 the node's epoch when it was raised
	witnessRatchetOffsetRaisedNs = 24 // i64 wall-clock ns (Unix) when it was raised
	witnessRatchetOffsetReserved = 32 // [8] zero
	witnessRatchetSize           = 40

	witnessRatchetMagic   = "SQWSIGND"
	witnessRatchetVersion = 1
)

// WitnessRatchetFileName is the marker's name in a node's data directory (serve puts it
// beside the epoch file).
const WitnessRatchetFileName = "witness-signed"

// ErrWitnessDowngrade refuses, without TLS, a witness that does not sign its answers (or
// whose signing bit was cleared on the way) after this node has received a signed one:
// the ratchet above, whether unsigned answers are allowed or not. It wraps
// ErrWitnessUnsigned (the node asks nothing, as if the witness were unreachable).
var ErrWitnessDowngrade = fmt.Errorf("%w; refused whatever --witness-allow-unsigned "+
	"says: this node has received signed answers before (the signed-replies ratchet: "+
	"an attacker on the path may have cleared the signing bit; if the witness was really "+
	"rolled back, stop the node and remove its %s file)", ErrWitnessUnsigned,
	WitnessRatchetFileName)

// witnessRatchet is a node's ratchet: raised (in memory, any goroutine reads it) and the
// marker file. raise is called by whichever goroutine asked the witness (the lease
// goroutine, the failover watch, a promotion holding the node's mutex); it never waits
// for the disk: the marker is written by a goroutine of its own (store), one at a time,
// which Node.Close waits for (writers).
type witnessRatchet struct {
	path   string // The marker file ("": kept in memory only, tests and the drill).
	raised atomic.Bool
	// raisedNs is the Unix time in ns it was raised (0: not, or unknown: an unreadable
	// marker, until it is rewritten), for the status.
	raisedNs atomic.Int64
	// stored: the marker on disk verifies (read so at start, or written by this process).
	// Read without the mutex by raise's fast path; written under it.
	stored atomic.Bool
	mutex  sync.Mutex // Guards writing and nextWriteAt.
	// writing: a store goroutine runs (at most one, so that writes never interleave).
	writing bool
	// nextWriteAt: after a failed write, no other is tried before it (one a lease), so
	// that a disk that keeps failing costs one attempt per lease, not one per answer.
	nextWriteAt time.Time
	writers     sync.WaitGroup // The store goroutine, waited for by Node.Close.
}

// witnessRatchetState is the marker's content.
type witnessRatchetState struct {
	epoch    uint64 // The node's epoch when the ratchet was raised.
	raisedNs int64  // Unix ns when it was raised.
}

// writeWitnessRatchetDurably is wal.WriteFileDurably; a test replaces it to fail.
var writeWitnessRatchetDurably = writeFileDurably

func encodeWitnessRatchet(state witnessRatchetState) []byte {
	record := make([]byte, witnessRatchetSize)
	copy(record[witnessRatchetOffsetMagic:], witnessRatchetMagic)
	binary.LittleEndian.PutUint32(record[witnessRatchetOffsetVersion:], witnessRatchetVersion)
	binary.LittleEndian.PutUint64(record[witnessRatchetOffsetEpoch:], state.epoch)
	binary.LittleEndian.PutUint64(record[witnessRatchetOffsetRaisedNs:],
		uint64(state.raisedNs))
	sealRecord(record, witnessRatchetOffsetCRC)
	return record
}

func decodeWitnessRatchet(record []byte) (witnessRatchetState, error) {
	if len(record) != witnessRatchetSize {
		return witnessRatchetState{}, fmt.Errorf("%d bytes, want %d", len(record),
			witnessRatchetSize)
	}
	if string(record[witnessRatchetOffsetMagic:witnessRatchetOffsetVersion]) !=
		witnessRatchetMagic {
		return witnessRatchetState{}, errors.New("bad magic")
	}
	if version := binary.LittleEndian.Uint32(record[witnessRatchetOffsetVersion:]); version !=
		witnessRatchetVersion {
		return witnessRatchetState{}, fmt.Errorf("version %d, this build reads %d", version,
			witnessRatchetVersion)
	}
	if err := checkRecordCRC(record, witnessRatchetOffsetCRC); err != nil {
		return witnessRatchetState{}, err
	}
	for _, b := range record[witnessRatchetOffsetReserved:] {
		if b != 0 {
			return witnessRatchetState{}, errors.New("reserved bytes set")
		}
	}
	return witnessRatchetState{epoch: binary.LittleEndian.Uint64(
		record[witnessRatchetOffsetEpoch:]), raisedNs: int64(binary.LittleEndian.Uint64(
		record[witnessRatchetOffsetRaisedNs:]))}, nil
}

// loadWitnessRatchet returns the ratchet kept at path: lowered when the file does not
// exist; raised when it verifies; raised too (and the error returned, for the caller to
// log) when it exists but cannot be read or verified, so that no damage lowers it: such
// a marker is not stored, and the next signed answer rewrites it (raise).
func loadWitnessRatchet(path string) (*witnessRatchet, error) {
	ratchet := &witnessRatchet{path: path}
	if path == "" {
		return ratchet, nil
	}
	record, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ratchet, nil
	}
	ratchet.raised.Store(true)
	if err != nil {
		return ratchet, fmt.Errorf("replication: witness ratchet %s: %w", path, err)
	}
	state, err := decodeWitnessRatchet(record)
	if err != nil {
		return ratchet, fmt.Errorf("replication: witness ratchet %s: %w", path, err)
	}
	ratchet.raisedNs.Store(state.raisedNs)
	ratchet.stored.Store(true)
	return ratchet, nil
}

// raise raises the ratchet after a signed answer: in memory at once, and, unless the
// marker is stored already (or a write runs, or the last one failed less than retryAfter
// ago), starts a goroutine that writes it durably and then calls stored with the
// write's error. The caller never waits for the disk: a renewal must not wait for an
// fsync past its lease, nor a promotion hold the node's mutex through one. A marker
// found damaged at start is rewritten so, at the first signed answer, with the time of
// that answer as the time it rose (the damaged one's is unknown). It reports whether
// this call raised the ratchet.
func (r *witnessRatchet) raise(epoch uint64, now time.Time, retryAfter time.Duration,
	stored func(error)) (raisedNow bool) {
	raisedNow = !r.raised.Swap(true)
	if raisedNow {
		r.raisedNs.Store(now.UnixNano())
	}
	if r.path == "" || r.stored.Load() {
		return raisedNow
	}
	r.mutex.Lock()
	defer r.mutex.Unlock()
	// stored again, under the mutex: a write that finished since the check above (its
	// goroutine clears writing under this mutex after store set stored) must not start a
	// second one, which, failing, would mark a good marker on disk as not stored.
	if r.writing || r.stored.Load() || now.Before(r.nextWriteAt) {
		return raisedNow
	}
	r.raisedNs.CompareAndSwap(0, now.UnixNano()) // A damaged marker's rewrite.
	record := encodeWitnessRatchet(witnessRatchetState{epoch: epoch,
		raisedNs: r.raisedNs.Load()})
	r.writing = true
	r.writers.Add(1)
	go func() {
		defer r.writers.Done()
		err := r.store(record)
		r.mutex.Lock()
		r.writing = false
		if err != nil {
			r.nextWriteAt = now.Add(retryAfter)
		}
		r.mutex.Unlock()
		stored(err)
	}()
	return raisedNow
}

// settled reports whether the ratchet is raised and its marker stored (or kept in memory
// only): no signed answer has anything left to do for it.
func (r *witnessRatchet) settled() bool {
	return r.raised.Load() && (r.path == "" || r.stored.Load())
}

// store writes record as the marker, durably, and marks it stored if that succeeded.
func (r *witnessRatchet) store(record []byte) error {
	err := writeWitnessRatchetDurably(r.path, wal.FileMode, func(file *os.File) error {
		_, err := file.Write(record)
		return err
	})
	r.stored.Store(err == nil)
	return err
}
