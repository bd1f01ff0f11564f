package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"sequent/core/model"
	"sequent/wal"
)

// The witness state file holds what the witness must never forget across a restart: the
// highest epoch it granted or renewed and the holder's name at that epoch. Without it, a
// restarted witness starts at epoch 0 with no holder and grants a renewal to whichever
// node asks first, so a stale primary restarted on its old log (at an older epoch) could
// take the lease from the node that replaced it, which then fences itself. Since session
// 38 it also keeps the witness's identity (witness.go): generated once, so that the id
// the nodes pin (--witness-id) survives restarts without being configured.
//
// Since session 52 it also keeps whether the grantee of that epoch released it (a
// promotion that failed for good, given up before anything was written under it) and the
// epoch to fall back on then: the highest epoch below it whose grantee may have written
// (Witness.writtenEpoch), so that a restarted witness still tells the stale-node check
// the truth about a released grant.
//
// One fixed-size record, little-endian, written durably (temporary file, fsync, rename,
// directory fsync) before the witness answers any grant or release that changes it. Disk
// format: never change these offsets (bump witnessStateVersion instead). Version 1
// (before session 38) ends at witnessStateSizeVersion1, without the id; it is still read
// (an id is then generated and the file rewritten at start), never written. Version 2
// (sessions 38 to 51) ends at witnessStateSizeVersion2, without the release; it is still
// read (its grant counts as not released, and as the one written at: writtenBefore is
// its epoch, so a release changes nothing the check reads), never written.
const (
	witnessStateOffsetMagic        = 0   // [8] witnessStateMagic
	witnessStateOffsetVersion      = 8   // u32 witnessStateVersion
	witnessStateOffsetCRC          = 12  // u32 CRC32C of the record with this field zero
	witnessStateOffsetEpoch        = 16  // u64 highest epoch granted or renewed
	witnessStateOffsetHolderLength = 24  // u16 bytes of the holder's name
	witnessStateOffsetReserved     = 26  // [6] zero
	witnessStateOffsetHolder       = 32  // [NodeNameBytesMax] holder's name, zero-padded
	witnessStateOffsetIDLength     = 288 // u16 bytes of the witness's id (version 2)
	witnessStateOffsetIDReserved   = 290 // [6] zero (version 2)
	witnessStateOffsetID           = 296 // [WitnessIDBytesMax] the id, zero-padded (version 2)
	// u64 the highest epoch below epoch whose grantee may have written (version 3).
	witnessStateOffsetWrittenBefore = 360
	witnessStateOffsetReleased      = 368 // u8 1: epoch's grantee released it (version 3)
	witnessStateOffsetReleasedEnd   = 369 // [7] zero after it (version 3)
	witnessStateSizeVersion1        = witnessStateOffsetIDLength
	witnessStateSizeVersion2        = witnessStateOffsetID + WitnessIDBytesMax
	witnessStateSize                = witnessStateOffsetWrittenBefore + 16

	witnessStateMagic                = "SQWITNES"
	witnessStateVersion              = 3
	witnessStateVersionBeforeID      = 1
	witnessStateVersionBeforeRelease = 2

	// NodeNameBytesMax bounds the node name a witness with a state file can record,
	// and so a node's name at the witness (NodeConfig.NodeName; serve refuses a longer
	// --node-name at start). A name defaults to the node's client address: a host name of
	// up to 250 bytes with a 5-digit port fits, a longer one needs a shorter name. A
	// stateful witness refuses a grant to a longer name, which it could not persist.
	NodeNameBytesMax = 256
)

// witnessState is the state file's content.
type witnessState struct {
	epoch  uint64 // Highest epoch granted or renewed.
	holder string // The holder at epoch ("" before any grant).
	id     string // The witness's generated identity ("" only in a version 1 file).
	// released: epoch's grantee gave the grant up before it could write under it
	// (leaseRelease). False in a file of version 1 or 2.
	released bool
	// writtenBefore is the highest epoch below epoch whose grantee may have written:
	// what the stale-node check reads once epoch is released. Never above epoch; epoch
	// itself in a file of version 1 or 2 (nothing known below it).
	writtenBefore uint64
}

// writtenEpoch is the highest epoch whose grantee may have written, as far as the state
// knows: epoch, unless its grantee released it.
func (s witnessState) writtenEpoch() uint64 {
	if s.released {
		return s.writtenBefore
	}
	return s.epoch
}

// ErrWitnessState marks a witness state file that exists but cannot be read or verified:
// the witness refuses to start rather than start at epoch 0.
var ErrWitnessState = errors.New("replication: witness state file unusable")

// writeWitnessStateDurably is wal.WriteFileDurably; a test replaces it to fail a write.
var writeWitnessStateDurably = wal.WriteFileDurably

// encodeWitnessState returns the record for state, always of the current version.
func encodeWitnessState(state witnessState) ([]byte, error) {
	if len(state.holder) > NodeNameBytesMax {
		return nil, fmt.Errorf("replication: witness state: node name of %d bytes, at most %d "+
			"can be recorded", len(state.holder), NodeNameBytesMax)
	}
	if state.id != "" {
		if err := ValidateWitnessID(state.id); err != nil {
			return nil, err
		}
	}
	if state.writtenBefore > state.epoch {
		return nil, fmt.Errorf("replication: witness state: written before epoch %d above "+
			"epoch %d", state.writtenBefore, state.epoch)
	}
	if state.released && state.holder == "" {
		// Only the holder releases a grant (Witness.decideLocked).
		return nil, errors.New("replication: witness state: a grant released without a holder")
	}
	record := make([]byte, witnessStateSize)
	copy(record[witnessStateOffsetMagic:], witnessStateMagic)
	binary.LittleEndian.PutUint32(record[witnessStateOffsetVersion:], witnessStateVersion)
	binary.LittleEndian.PutUint64(record[witnessStateOffsetEpoch:], state.epoch)
	binary.LittleEndian.PutUint16(record[witnessStateOffsetHolderLength:],
		uint16(len(state.holder)))
	copy(record[witnessStateOffsetHolder:], state.holder)
	binary.LittleEndian.PutUint16(record[witnessStateOffsetIDLength:], uint16(len(state.id)))
	copy(record[witnessStateOffsetID:], state.id)
	binary.LittleEndian.PutUint64(record[witnessStateOffsetWrittenBefore:], state.writtenBefore)
	if state.released {
		record[witnessStateOffsetReleased] = 1
	}
	sealRecord(record, witnessStateOffsetCRC)
	return record, nil
}

// decodeWitnessState verifies a record, of any version, and returns its state (no id
// from version 1; from versions 1 and 2 a grant not released, writtenBefore its epoch).
func decodeWitnessState(record []byte) (witnessState, error) {
	if len(record) != witnessStateSize && len(record) != witnessStateSizeVersion2 &&
		len(record) != witnessStateSizeVersion1 {
		return witnessState{}, fmt.Errorf("%d bytes, want %d (or %d, version %d; or %d, "+
			"version %d)", len(record), witnessStateSize, witnessStateSizeVersion2,
			witnessStateVersionBeforeRelease, witnessStateSizeVersion1,
			witnessStateVersionBeforeID)
	}
	if string(record[witnessStateOffsetMagic:witnessStateOffsetVersion]) != witnessStateMagic {
		return witnessState{}, errors.New("bad magic: not a witness state file")
	}
	version := binary.LittleEndian.Uint32(record[witnessStateOffsetVersion:])
	var size int
	switch version {
	case witnessStateVersion:
		size = witnessStateSize
	case witnessStateVersionBeforeRelease:
		size = witnessStateSizeVersion2
	case witnessStateVersionBeforeID:
		size = witnessStateSizeVersion1
	default:
		return witnessState{}, fmt.Errorf("version %d, this witness reads versions %d to %d",
			version, witnessStateVersionBeforeID, witnessStateVersion)
	}
	if len(record) != size {
		return witnessState{}, fmt.Errorf("%d bytes, version %d has %d", len(record), version,
			size)
	}
	if err := checkRecordCRC(record, witnessStateOffsetCRC); err != nil {
		return witnessState{}, err
	}
	holderLength := int(binary.LittleEndian.Uint16(record[witnessStateOffsetHolderLength:]))
	if holderLength > NodeNameBytesMax {
		return witnessState{}, fmt.Errorf("holder name of %d bytes, at most %d", holderLength,
			NodeNameBytesMax)
	}
	state := witnessState{epoch: binary.LittleEndian.Uint64(record[witnessStateOffsetEpoch:]),
		holder: string(record[witnessStateOffsetHolder : witnessStateOffsetHolder+holderLength])}
	// Before version 3: nothing known below the epoch, whose grant counts as written.
	state.writtenBefore = state.epoch
	if version == witnessStateVersionBeforeID {
		return state, nil
	}
	idLength := int(binary.LittleEndian.Uint16(record[witnessStateOffsetIDLength:]))
	if idLength > WitnessIDBytesMax {
		return witnessState{}, fmt.Errorf("witness id of %d bytes, at most %d", idLength,
			WitnessIDBytesMax)
	}
	state.id = string(record[witnessStateOffsetID : witnessStateOffsetID+idLength])
	if state.id != "" {
		if err := ValidateWitnessID(state.id); err != nil {
			return witnessState{}, err
		}
	}
	if version == witnessStateVersionBeforeRelease {
		return state, nil
	}
	released := record[witnessStateOffsetReleased]
	if released > 1 {
		return witnessState{}, fmt.Errorf("released byte %d", released)
	}
	if !model.AllZero(record[witnessStateOffsetReleasedEnd:witnessStateSize]) {
		return witnessState{}, errors.New("reserved bytes after the released byte are set")
	}
	state.released = released == 1
	if state.released && state.holder == "" {
		return witnessState{}, errors.New("a grant released without a holder")
	}
	state.writtenBefore = binary.LittleEndian.Uint64(record[witnessStateOffsetWrittenBefore:])
	if state.writtenBefore > state.epoch {
		return witnessState{}, fmt.Errorf("written before epoch %d above epoch %d",
			state.writtenBefore, state.epoch)
	}
	return state, nil
}

// loadWitnessState reads the state at path. A missing file is a witness that never
// granted anything (epoch 0, no holder): it is created at once, so that a path the
// witness cannot write refuses the start rather than every later grant. A file without
// an id (a new one, or version 1: the migration) gets a fresh one (newWitnessID), stored
// before it is returned, so that the id is the same at every later start. A file that
// exists but cannot be read or verified is an error wrapping ErrWitnessState.
func loadWitnessState(path string) (witnessState, error) {
	var state witnessState
	record, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return witnessState{}, fmt.Errorf("%w: %s: %w", ErrWitnessState, path, err)
	default:
		if state, err = decodeWitnessState(record); err != nil {
			return witnessState{}, fmt.Errorf("%w: %s: %w (restore it from a backup; or stop "+
				"both nodes, remove it, and start the node of the highest epoch file first; "+
				"removed, it takes the witness's generated id with it: start the witness with "+
				"--id and the id the nodes pin (--witness-id), or re-pin both nodes)",
				ErrWitnessState, path, err)
		}
	}
	if state.id != "" {
		return state, nil
	}
	if state.id, err = newWitnessID(); err != nil {
		return witnessState{}, err
	}
	if err := storeWitnessState(path, state); err != nil {
		return witnessState{}, fmt.Errorf("replication: writing the witness state file: %w",
			err)
	}
	return state, nil
}

// storeWitnessState persists state durably. A write that fails after its rename may
// leave the file ahead of what the witness answered; a witness restarted on it then
// refuses renewals below that epoch, which is safe (the holder fences itself and a
// standby takes over by acquisition), never grants more.
func storeWitnessState(path string, state witnessState) error {
	record, err := encodeWitnessState(state)
	if err != nil {
		return err
	}
	return writeWitnessStateDurably(path, 0o600, func(file *os.File) error {
		_, err := file.Write(record)
		return err
	})
}
