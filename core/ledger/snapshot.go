package ledger

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"sequent/core/model"
)

// Snapshot format of the ledger section (little-endian; the caller frames, compresses and
// checksums the whole file):
//
//	header   magic "SQLEDGER" (8) | version u32 | accounts u32 | transfers u32 |
//	         failed u32 | history u32 | grants u32                    = 32 bytes
//	accounts  accounts × 128-byte Account records, in creation order
//	owners    accounts × u64: the client that created each account (0: the system)
//	transfers transfers × 128-byte Transfer records, in creation order
//	pending   transfers × 1 byte: pending status of each transfer
//	failed    failed × 16-byte ids, in the order they failed
//	history   history × 80 bytes: 4 balances (64) | timestamp u64 | account index u32 |
//	          transfer index u32
//	grants    grants × 48-byte model.Grant records, in table order (by client)
//	reserved  count u32, then count × 20 bytes: account index u32 | reserved u128, for
//	          every account whose reserved total (reservation.go) is not zero, by index
//
// Version 2 added the owners and the grants (version 1 files are refused: their accounts
// have no recorded owner). Version 3 added the reserved section; a version-2 file
// restores with every reserved total 0, which is right: it predates reservations, and
// the matching engine's holds in it are pending transfers.
//
// Everything else (id tables, list links, the expiry heap) is derived and rebuilt on load,
// so the format stays small and independent of hash seeds.
const (
	snapshotMagic   = "SQLEDGER"
	snapshotVersion = 3
	// snapshotVersionOldest is the oldest version Restore still reads.
	snapshotVersionOldest = 2
	reservedRecordSize    = 20
	snapshotHeaderSize    = 32
	historyRecordSize     = 80
	snapshotBufferBytes   = 1 << 16 // Encode buffer: 512 records per write.
)

// ErrSnapshotInvalid reports a ledger snapshot that cannot be loaded.
var ErrSnapshotInvalid = errors.New("ledger: invalid snapshot")

// SnapshotView is the ledger's state frozen at one moment, to be written from another
// goroutine while the sequencer goes on. Taking it (Ledger.Snapshot) copies only what can
// still change (account balances and flags, reserved totals, pending statuses): stored
// transfers, failed ids and history records are immutable below the counts captured here
// (undo only pops records created after the view was taken), so the view shares their
// chunks.
type SnapshotView struct {
	owner          *Ledger // Gets the copy buffers back on Release.
	accounts       []accountRecord
	pending        []pendingStatus
	transferChunks [][]model.Transfer
	transferCount  uint32
	failedChunks   [][]model.Uint128
	failedCount    uint32
	historyChunks  [][]historyRecord
	historyCount   uint32
	ownerChunks    [][]uint32 // Per account: index into ownerClients.
	ownerClients   []uint64   // A prefix of the owner dictionary (entries never change).
	grants         []model.Grant
	// reserved is the reserved totals' entries (reservedTotals.copyEntries): only the
	// accounts that have one, in slot order until WriteTo sorts them by account index,
	// as the format wants (the sort runs on the writer's goroutine, not the sequencer's).
	reserved []reservedSlot
}

// Snapshot captures the state. It must be called between batches (no open chain). Its
// cost is a copy of the accounts (128 bytes each), one byte per transfer, and a scan of
// the reserved totals' slots (their entries are copied: only accounts that reserve).
func (l *Ledger) Snapshot() *SnapshotView {
	if l.undo.active {
		panic("ledger: Snapshot inside a linked chain")
	}
	view := &SnapshotView{
		owner:          l,
		accounts:       reuse(&l.spareAccounts, int(l.accounts.count)),
		pending:        reuse(&l.sparePending, int(l.pending.count)),
		transferChunks: l.transfers.chunkList(),
		transferCount:  l.transfers.count,
		failedChunks:   l.failed.chunkList(),
		failedCount:    l.failed.count,
		historyChunks:  l.history.chunkList(),
		historyCount:   l.history.count,
		ownerChunks:    l.own.owners.chunkList(),
		ownerClients:   l.own.clients[:len(l.own.clients):len(l.own.clients)],
		grants:         l.own.grants, // Replaced whole by SetGrants, never modified.
	}
	copyChunks(view.accounts, l.accounts.chunks)
	view.reserved = l.reserved.copyEntries(reuse(&l.spareReserved, int(l.reserved.count)))
	copyChunks(view.pending, l.pending.chunks)
	return view
}

// reuse returns a buffer of length count, taking the spare one a released view gave back
// when it is large enough: copying into memory already mapped avoids a first-touch page
// fault per 4 KiB, which on this VM costs more than the copy itself.
func reuse[T any](spare *atomic.Pointer[[]T], count int) []T {
	if buffer := spare.Swap(nil); buffer != nil && cap(*buffer) >= count {
		return (*buffer)[:count]
	}
	return make([]T, count)
}

// Release hands the view's copy buffers back to its ledger for the next snapshot. The
// view must not be used afterwards. Safe from any goroutine.
func (v *SnapshotView) Release() {
	// Publish fresh variables, not pointers to the view's fields: clearing the fields
	// after storing their addresses would hand the next Snapshot nil buffers (and race
	// with it).
	accounts, reserved, pending := v.accounts, v.reserved, v.pending
	v.accounts, v.reserved, v.pending = nil, nil, nil
	v.owner.spareAccounts.Store(&accounts)
	v.owner.spareReserved.Store(&reserved)
	v.owner.sparePending.Store(&pending)
}

func copyChunks[T any](target []T, chunks [][]T) {
	for offset, chunk := 0, 0; offset < len(target); chunk++ {
		offset += copy(target[offset:], chunks[chunk])
	}
}

// WriteTo writes the view in the snapshot format. Safe to call from any goroutine, but
// from one at a time: it puts the view's copy of the reserved totals in order in place.
func (v *SnapshotView) WriteTo(w io.Writer) (int64, error) {
	writer := countingWriter{w: bufio.NewWriterSize(w, snapshotBufferBytes)}
	var header [snapshotHeaderSize]byte
	copy(header[0:8], snapshotMagic)
	binary.LittleEndian.PutUint32(header[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(header[12:], uint32(len(v.accounts)))
	binary.LittleEndian.PutUint32(header[16:], v.transferCount)
	binary.LittleEndian.PutUint32(header[20:], v.failedCount)
	binary.LittleEndian.PutUint32(header[24:], v.historyCount)
	binary.LittleEndian.PutUint32(header[28:], uint32(len(v.grants)))
	writer.write(header[:])
	var record [model.TransferSize]byte
	for i := range v.accounts {
		// The wire record, without the in-memory link and accountPendingZero.
		account := exportAccount(&v.accounts[i])
		account.Encode(record[:])
		writer.write(record[:])
	}
	for i := range uint32(len(v.accounts)) {
		owner := v.ownerClients[v.ownerChunks[i>>chunkShift][i&chunkMask]]
		binary.LittleEndian.PutUint64(record[:8], owner)
		writer.write(record[:8])
	}
	for i := uint32(0); i < v.transferCount; i++ {
		v.transferChunks[i>>chunkShift][i&chunkMask].Encode(record[:])
		writer.write(record[:])
	}
	for offset := 0; offset < len(v.pending); {
		block := record[:min(len(record), len(v.pending)-offset)]
		for i := range block {
			block[i] = byte(v.pending[offset+i])
		}
		writer.write(block)
		offset += len(block)
	}
	for i := uint32(0); i < v.failedCount; i++ {
		v.failedChunks[i>>chunkShift][i&chunkMask].PutLE(record[:16])
		writer.write(record[:16])
	}
	for i := uint32(0); i < v.historyCount; i++ {
		h := &v.historyChunks[i>>chunkShift][i&chunkMask]
		h.balance.Balance.Encode(record[:64])
		binary.LittleEndian.PutUint64(record[64:], h.balance.Timestamp)
		binary.LittleEndian.PutUint32(record[72:], h.account)
		binary.LittleEndian.PutUint32(record[76:], h.transfer)
		writer.write(record[:historyRecordSize])
	}
	for i := range v.grants {
		v.grants[i].Encode(record[:model.GrantSize])
		writer.write(record[:model.GrantSize])
	}
	v.writeReserved(&writer, record[:reservedRecordSize])
	return writer.flush()
}

// writeReserved writes the reserved section: the count of non-zero totals, then one
// record per such account, by index. It sorts the view's copy of the entries in place
// (the view owns it), so the writer allocates nothing.
func (v *SnapshotView) writeReserved(writer *countingWriter, record []byte) {
	sortEntries(v.reserved)
	binary.LittleEndian.PutUint32(record[:4], uint32(len(v.reserved)))
	writer.write(record[:4])
	for i := range v.reserved {
		binary.LittleEndian.PutUint32(record[:4], v.reserved[i].account-1)
		v.reserved[i].total.PutLE(record[4:reservedRecordSize])
		writer.write(record[:reservedRecordSize])
	}
}

// countingWriter wraps a bufio.Writer, keeping the first error and the byte count.
type countingWriter struct {
	w     *bufio.Writer
	count int64
	err   error
}

func (c *countingWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.count += int64(n)
	c.err = err
}

func (c *countingWriter) flush() (int64, error) {
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.count, c.err
}

// Digest returns the SHA-256 of the ledger's snapshot encoding: two ledgers have the same
// digest exactly when they hold the same state. It costs a full encoding (O(state)).
func (l *Ledger) Digest() [32]byte {
	hash := sha256.New()
	if _, err := l.Snapshot().WriteTo(hash); err != nil {
		panic(fmt.Sprintf("ledger: digest: %v", err)) // A hash never fails to write.
	}
	var digest [32]byte
	copy(digest[:], hash.Sum(nil))
	return digest
}
