package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"sync/atomic"
	"time"
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
// once, when the first signed answer arrives, and read at OpenNode. A marker that exists
// but does not verify counts as raised (refusing unsigned answers is the safe side: it
// can only cost an automatic failover through a witness that does not sign), logged at
// Error, so that a torn or altered file never lowers it. To lower it (a witness rolled
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
// raises it (a pinned standby goes on probing: probeWitness). A witness that does not announce probes (a build before session 39, or the
// bit cleared on the way) is not probed: the standby then raises the ratchet at its
// first signed answer, as before.
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
// goroutine, the failover watch, a promotion); mutex serializes the marker's write.
type witnessRatchet struct {
	path   string // The marker file ("": kept in memory only, tests and the drill).
	raised atomic.Bool
	// raisedNs is the Unix time in ns it was raised (0: not, or unknown: an unreadable
	// marker), for the status.
	raisedNs atomic.Int64
	mutex    sync.Mutex // Serializes raise's write of the marker.
	// storeFailed: the marker could not be written (said once at Error; the ratchet
	// stays raised in memory, and the write is tried again at the next signed answer).
	storeFailed atomic.Bool
}

// witnessRatchetState is the marker's content.
type witnessRatchetState struct {
	epoch    uint64 // The node's epoch when the ratchet was raised.
	raisedNs int64  // Unix ns when it was raised.
}

// writeWitnessRatchetDurably is wal.WriteFileDurably; a test replaces it to fail.
var writeWitnessRatchetDurably = writeFileDurably

var witnessRatchetTable = crc32.MakeTable(crc32.Castagnoli)

func encodeWitnessRatchet(state witnessRatchetState) []byte {
	record := make([]byte, witnessRatchetSize)
	copy(record[witnessRatchetOffsetMagic:], witnessRatchetMagic)
	binary.LittleEndian.PutUint32(record[witnessRatchetOffsetVersion:], witnessRatchetVersion)
	binary.LittleEndian.PutUint64(record[witnessRatchetOffsetEpoch:], state.epoch)
	binary.LittleEndian.PutUint64(record[witnessRatchetOffsetRaisedNs:],
		uint64(state.raisedNs))
	binary.LittleEndian.PutUint32(record[witnessRatchetOffsetCRC:],
		crc32.Checksum(record, witnessRatchetTable))
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
	stored := binary.LittleEndian.Uint32(record[witnessRatchetOffsetCRC:])
	zeroed := bytes.Clone(record)
	binary.LittleEndian.PutUint32(zeroed[witnessRatchetOffsetCRC:], 0)
	if computed := crc32.Checksum(zeroed, witnessRatchetTable); computed != stored {
		return witnessRatchetState{}, fmt.Errorf("checksum %08x, the record's is %08x",
			computed, stored)
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
// log) when it exists but cannot be read or verified, so that no damage lowers it.
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
	return ratchet, nil
}

// raise raises the ratchet after a signed answer: in memory at once, then the marker,
// durably, unless it is written already. It returns the marker's write error, if any
// (the ratchet stays raised in this process; the write is tried again at the next
// signed answer). It reports whether this call raised it.
func (r *witnessRatchet) raise(epoch uint64, now time.Time) (raisedNow bool, err error) {
	if r.raised.Load() && !r.storeFailed.Load() {
		return false, nil
	}
	r.mutex.Lock()
	defer r.mutex.Unlock()
	raisedNow = !r.raised.Swap(true)
	if raisedNow {
		r.raisedNs.Store(now.UnixNano())
	}
	if r.path == "" || (!raisedNow && !r.storeFailed.Load()) {
		return raisedNow, nil
	}
	record := encodeWitnessRatchet(witnessRatchetState{epoch: epoch,
		raisedNs: r.raisedNs.Load()})
	err = writeWitnessRatchetDurably(r.path, 0o644, func(file *os.File) error {
		_, err := file.Write(record)
		return err
	})
	r.storeFailed.Store(err != nil)
	return raisedNow, err
}
