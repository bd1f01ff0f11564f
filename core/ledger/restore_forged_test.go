package ledger

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
)

// TestForgedTransferCountAllocatesLittle: a snapshot header is untrusted until the
// records behind it are read, so Restore preallocates transfers only up to the ledger's
// TransfersMax (and restoreCapacityMax). A 36-byte header claiming 4,325,888 transfers
// made a ledger configured for 4,096 preallocate ~0.6 GB before it found the records
// missing (CI's FuzzRestore worker died of it under load; the input is in
// testdata/fuzz/FuzzRestore/db0e360346f90fcf). Bytes allocated are deterministic, not a
// timing: without the bound this restore allocates ~650 MB.
func TestForgedTransferCountAllocatesLittle(t *testing.T) {
	header := make([]byte, 36)
	copy(header, "SQLEDGER")
	binary.LittleEndian.PutUint32(header[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(header[16:], 0x00420000) // Transfers claimed.
	limits := Config{AccountsMax: 1 << 12, TransfersMax: 1 << 12}
	const allocatedMax = 64 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Restore(limits, bytes.NewReader(header)); err == nil {
		t.Fatal("a header without its records restored")
	}
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > allocatedMax {
		t.Fatalf("restoring a forged header allocated %d bytes, want at most %d",
			allocated, allocatedMax)
	}
}
