package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"sequent/wal"
)

// The witness state file holds what the witness must never forget across a restart: the
// highest epoch it granted or renewed and the holder's name at that epoch. Without it, a
// restarted witness starts at epoch 0 with no holder and grants a renewal to whichever
// node asks first, so a stale primary restarted on its old log (at an older epoch) could
// take the lease from the node that replaced it, which then fences itself.
//
// One fixed-size record, little-endian, written durably (temporary file, fsync, rename,
// directory fsync) before the witness answers any grant that changes it. Disk format:
// never change these offsets (bump witnessStateVersion instead).
const (
	witnessStateOffsetMagic        = 0  // [8] witnessStateMagic
	witnessStateOffsetVersion      = 8  // u32 witnessStateVersion
	witnessStateOffsetCRC          = 12 // u32 CRC32C of the record with this field zero
	witnessStateOffsetEpoch        = 16 // u64 highest epoch granted or renewed
	witnessStateOffsetHolderLength = 24 // u16 bytes of the holder's name
	witnessStateOffsetReserved     = 26 // [6] zero
	witnessStateOffsetHolder       = 32 // [NodeNameBytesMax] holder's name, zero-padded
	witnessStateSize               = witnessStateOffsetHolder + NodeNameBytesMax

	witnessStateMagic   = "SQWITNES"
	witnessStateVersion = 1

	// NodeNameBytesMax bounds the node name a witness with a state file can record,
	// and so a node's name at the witness (NodeConfig.NodeName; serve refuses a longer
	// --node-name at start). A name defaults to the node's client address: a host name of
	// up to 250 bytes with a 5-digit port fits, a longer one needs a shorter name. A
	// stateful witness refuses a grant to a longer name, which it could not persist.
	NodeNameBytesMax = 256
)

// ErrWitnessState marks a witness state file that exists but cannot be read or verified:
// the witness refuses to start rather than start at epoch 0.
var ErrWitnessState = errors.New("replication: witness state file unusable")

// writeWitnessStateDurably is wal.WriteFileDurably; a test replaces it to fail a write.
var writeWitnessStateDurably = wal.WriteFileDurably

var witnessStateTable = crc32.MakeTable(crc32.Castagnoli)

// encodeWitnessState returns the record for epoch and holder.
func encodeWitnessState(epoch uint64, holder string) ([]byte, error) {
	if len(holder) > NodeNameBytesMax {
		return nil, fmt.Errorf("replication: witness state: node name of %d bytes, at most %d "+
			"can be recorded", len(holder), NodeNameBytesMax)
	}
	record := make([]byte, witnessStateSize)
	copy(record[witnessStateOffsetMagic:], witnessStateMagic)
	binary.LittleEndian.PutUint32(record[witnessStateOffsetVersion:], witnessStateVersion)
	binary.LittleEndian.PutUint64(record[witnessStateOffsetEpoch:], epoch)
	binary.LittleEndian.PutUint16(record[witnessStateOffsetHolderLength:], uint16(len(holder)))
	copy(record[witnessStateOffsetHolder:], holder)
	binary.LittleEndian.PutUint32(record[witnessStateOffsetCRC:],
		crc32.Checksum(record, witnessStateTable))
	return record, nil
}

// decodeWitnessState verifies a record and returns its epoch and holder.
func decodeWitnessState(record []byte) (uint64, string, error) {
	if len(record) != witnessStateSize {
		return 0, "", fmt.Errorf("%d bytes, want %d", len(record), witnessStateSize)
	}
	if string(record[witnessStateOffsetMagic:witnessStateOffsetVersion]) != witnessStateMagic {
		return 0, "", errors.New("bad magic: not a witness state file")
	}
	if version := binary.LittleEndian.Uint32(record[witnessStateOffsetVersion:]); version !=
		witnessStateVersion {
		return 0, "", fmt.Errorf("version %d, this witness reads version %d", version,
			witnessStateVersion)
	}
	stored := binary.LittleEndian.Uint32(record[witnessStateOffsetCRC:])
	zeroed := make([]byte, witnessStateSize)
	copy(zeroed, record)
	binary.LittleEndian.PutUint32(zeroed[witnessStateOffsetCRC:], 0)
	if computed := crc32.Checksum(zeroed, witnessStateTable); computed != stored {
		return 0, "", fmt.Errorf("checksum %08x, the record's is %08x", computed, stored)
	}
	holderLength := int(binary.LittleEndian.Uint16(record[witnessStateOffsetHolderLength:]))
	if holderLength > NodeNameBytesMax {
		return 0, "", fmt.Errorf("holder name of %d bytes, at most %d", holderLength,
			NodeNameBytesMax)
	}
	holder := string(record[witnessStateOffsetHolder : witnessStateOffsetHolder+holderLength])
	return binary.LittleEndian.Uint64(record[witnessStateOffsetEpoch:]), holder, nil
}

// loadWitnessState reads the state at path. A missing file is a witness that never
// granted anything (epoch 0, no holder): it is created at once, so that a path the
// witness cannot write refuses the start rather than every later grant. A file that
// exists but cannot be read or verified is an error wrapping ErrWitnessState.
func loadWitnessState(path string) (uint64, string, error) {
	record, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := storeWitnessState(path, 0, ""); err != nil {
			return 0, "", fmt.Errorf("replication: creating the witness state file: %w", err)
		}
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s: %w", ErrWitnessState, path, err)
	}
	epoch, holder, err := decodeWitnessState(record)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s: %w (restore it from a backup; or stop both nodes, "+
			"remove it, and start the node of the highest epoch file first)", ErrWitnessState,
			path, err)
	}
	return epoch, holder, nil
}

// storeWitnessState persists epoch and holder durably. A write that fails after its
// rename may leave the file ahead of what the witness answered; a witness restarted on
// it then refuses renewals below that epoch, which is safe (the holder fences itself and
// a standby takes over by acquisition), never grants more.
func storeWitnessState(path string, epoch uint64, holder string) error {
	record, err := encodeWitnessState(epoch, holder)
	if err != nil {
		return err
	}
	return writeWitnessStateDurably(path, 0o600, func(file *os.File) error {
		_, err := file.Write(record)
		return err
	})
}
