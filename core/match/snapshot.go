package match

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"sequent/core/model"
)

// Snapshot format of the matching section (little-endian; the caller frames, compresses
// and checksums the whole file, and snapshots the ledger, which this section depends on,
// at the same op):
//
//	header       magic "SQMATCH1" (8) | version u32 | instruments u32 | orders u32 |
//	             window entries u32 | next order id u64 | next trade id u64 |
//	             next transfer sequence u64 | reserved (16, zero)            = 64 bytes
//	instruments  instruments × 144: Instrument record (128) | market-data sequence u64 |
//	             reserved u64; in creation order
//	orders       orders × 152: OrderState record (128) | hold sequence u64 | reserved
//	             u128; in book order: instruments in creation order, bids best to worst,
//	             then asks best to worst, each level oldest first. Hold sequence 0: the
//	             order's funds are a ledger reservation of `reserved`; otherwise they are
//	             the pending transfer with that sequence (a legacy hold) of `reserved`.
//	             Either way reserved is what the order needs (holdRequired).
//	window       entries × 56: client | account | client order id | order id (or count)
//	             | timestamp | status u32 | kind u8 | reserved (3) | fields digest u64;
//	             oldest first, from the oldest keyed entry to the newest slot. From
//	             version 4 a record of 56 zero bytes (never the first) is a slot
//	             without a key: a command of an opted-in account that aged the window
//	             (clientOrderWindow.age), so that every entry keeps its place in the ring
//	             and is forgotten after the same number of commands as in the original.
//	             No keyed entry: no record.
//	increasing   accounts × (24 + entries × 40): client | account | entries u32 |
//	             window pending u32 (how many more window slots must be taken before
//	             the account's entries from before its opt-in are forgotten; 0 = none
//	             left, at most the slots left before the window's newest keyed entry is
//	             forgotten), then its entries oldest first (keys strictly increasing):
//	             client order id | order id (or count) | timestamp | fields digest |
//	             status u32 | kind u8 | reserved (3); accounts in opt-in order
//
// Version 2 added the fields digest of window entries (version 1 files are refused).
// Version 3 (reservations) widened the order record from 144 bytes (hold sequence u64,
// never 0 | reserved u64, zero) to 152; a version-2 file still restores: its orders keep
// their pending hold transfers and settle the old way until they end or their hold
// changes (settle.go, holdReserved).
// Version 4 added the trading accounts with increasing client order ids: their count
// (u32) in the header's first reserved word, at 48, and the increasing section; earlier
// versions, whose reserved words are zero, restore with none. A state without such
// accounts is written as version 3, byte for byte as before (so the state digests of
// logs that never opt in do not change, and an older server can still read it), and a
// version-4 file with none is refused: one encoding per state.
//
// Everything else (levels, trees, hash indexes, trading-account lists, the expiry heap,
// hold amounts, escrow ids) is derived and rebuilt on load, so the format stays small and
// independent of hash seeds and pool layouts.
const (
	snapshotMagic           = "SQMATCH1"
	snapshotVersion         = 4
	snapshotVersionPlain    = 3 // Written when no account has increasing client order ids.
	snapshotVersionOldest   = 2 // The oldest version Restore reads.
	snapshotHeaderSize      = 64
	snapshotInstrumentSize  = model.InstrumentSize + 16
	snapshotOrderSize       = model.OrderStateSize + 24
	snapshotOrderSizeV2     = model.OrderStateSize + 16
	snapshotWindowEntrySize = 56
	snapshotIncreasingSize  = 24 // An opted-in account's head.
	snapshotIncreasingEntry = 40 // One entry of its ring.
	snapshotBufferBytes     = 1 << 16
)

// ErrSnapshotInvalid reports a matching snapshot that cannot be loaded.
var ErrSnapshotInvalid = errors.New("match: invalid snapshot")

// SnapshotView is the engine's state frozen at one moment, to be written from another
// goroutine while the sequencer goes on. Taking it copies the open orders (as records, in
// book order), the instruments and the idempotency window: O(open orders + window).
type SnapshotView struct {
	instruments          []model.Instrument
	marketDataSequences  []uint64
	orders               []model.OrderState
	holdSequences        []uint64 // 0: a reservation.
	holdAmounts          []model.Uint128
	window               []windowEntry
	increasing           []increasingHead  // Opted-in accounts, in opt-in order.
	increasingEntries    []increasingEntry // Each account's count of entries in turn.
	nextOrderID          uint64
	nextTradeID          uint64
	nextTransferSequence uint64
}

// Snapshot captures the state. It must be called between commands.
func (e *Engine) Snapshot() *SnapshotView {
	v := &SnapshotView{
		instruments:          make([]model.Instrument, len(e.instruments)),
		marketDataSequences:  make([]uint64, len(e.instruments)),
		orders:               make([]model.OrderState, 0, e.openCount),
		holdSequences:        make([]uint64, 0, e.openCount),
		holdAmounts:          make([]model.Uint128, 0, e.openCount),
		window:               make([]windowEntry, e.window.count()-e.window.firstKeyed()),
		nextOrderID:          e.nextOrderID,
		nextTradeID:          e.nextTradeID,
		nextTransferSequence: e.nextTransferSequence,
	}
	for index := range e.instruments {
		x := &e.instruments[index]
		v.instruments[index], v.marketDataSequences[index] = x.record, x.marketDataSequence
		for _, side := range [2]*bookSide{&x.bids, &x.asks} {
			for l := side.best; l != indexNone; l = e.levels[l].worse {
				for slot := e.levels[l].head; slot != indexNone; slot = e.orders[slot].levelNext {
					v.orders = append(v.orders, e.orderState(slot))
					o := &e.orders[slot]
					sequence := o.holdSequence
					if sequence == holdReserved {
						sequence = 0
					}
					v.holdSequences = append(v.holdSequences, sequence)
					v.holdAmounts = append(v.holdAmounts, o.holdAmount)
				}
			}
		}
	}
	first := e.window.firstKeyed() // The keyless slots before it change nothing.
	for i := range v.window {
		v.window[i] = *e.window.at(first + uint32(i))
	}
	v.increasing = make([]increasingHead, 0, len(e.increasing))
	for index := range e.increasing {
		a := &e.increasing[index]
		v.increasing = append(v.increasing, increasingHead{client: a.client,
			account: a.account, count: a.count, windowPending: e.windowPendingCount(a)})
		for i := range a.count {
			v.increasingEntries = append(v.increasingEntries, *e.increasingAt(a, i))
		}
	}
	return v
}

// WriteTo writes the view in the snapshot format. Safe to call from any goroutine.
func (v *SnapshotView) WriteTo(w io.Writer) (int64, error) {
	writer := countingWriter{w: bufio.NewWriterSize(w, snapshotBufferBytes)}
	var header [snapshotHeaderSize]byte
	copy(header[0:8], snapshotMagic)
	version := uint32(snapshotVersion)
	if len(v.increasing) == 0 {
		version = snapshotVersionPlain
	}
	binary.LittleEndian.PutUint32(header[8:], version)
	binary.LittleEndian.PutUint32(header[12:], uint32(len(v.instruments)))
	binary.LittleEndian.PutUint32(header[16:], uint32(len(v.orders)))
	binary.LittleEndian.PutUint32(header[20:], uint32(len(v.window)))
	binary.LittleEndian.PutUint64(header[24:], v.nextOrderID)
	binary.LittleEndian.PutUint64(header[32:], v.nextTradeID)
	binary.LittleEndian.PutUint64(header[40:], v.nextTransferSequence)
	binary.LittleEndian.PutUint32(header[48:], uint32(len(v.increasing)))
	writer.write(header[:])
	var record [snapshotOrderSize]byte
	for i := range v.instruments {
		v.instruments[i].Encode(record[:])
		binary.LittleEndian.PutUint64(record[128:], v.marketDataSequences[i])
		binary.LittleEndian.PutUint64(record[136:], 0)
		writer.write(record[:snapshotInstrumentSize])
	}
	for i := range v.orders {
		v.orders[i].Encode(record[:])
		binary.LittleEndian.PutUint64(record[128:], v.holdSequences[i])
		v.holdAmounts[i].PutLE(record[136:snapshotOrderSize])
		writer.write(record[:snapshotOrderSize])
	}
	for i := range v.window {
		encodeWindowEntry(&v.window[i], record[:snapshotWindowEntrySize])
		writer.write(record[:snapshotWindowEntrySize])
	}
	entries := v.increasingEntries
	for i := range v.increasing {
		a := &v.increasing[i]
		binary.LittleEndian.PutUint64(record[0:], a.client)
		binary.LittleEndian.PutUint64(record[8:], a.account)
		binary.LittleEndian.PutUint32(record[16:], a.count)
		binary.LittleEndian.PutUint32(record[20:], a.windowPending)
		writer.write(record[:snapshotIncreasingSize])
		for j := range a.count {
			encodeIncreasingEntry(&entries[j], record[:snapshotIncreasingEntry])
			writer.write(record[:snapshotIncreasingEntry])
		}
		entries = entries[a.count:]
	}
	return writer.flush()
}

func encodeWindowEntry(entry *windowEntry, b []byte) {
	if entry.account == 0 {
		clear(b[:snapshotWindowEntrySize]) // A slot without a key.
		return
	}
	binary.LittleEndian.PutUint64(b[0:], entry.client)
	binary.LittleEndian.PutUint64(b[8:], entry.account)
	binary.LittleEndian.PutUint64(b[16:], entry.clientOrderID)
	binary.LittleEndian.PutUint64(b[24:], entry.orderID)
	binary.LittleEndian.PutUint64(b[32:], entry.timestamp)
	binary.LittleEndian.PutUint32(b[40:], uint32(entry.status))
	b[44] = byte(entry.kind)
	clear(b[45:48])
	binary.LittleEndian.PutUint64(b[48:], entry.digest)
}

// increasingHead is an opted-in account in a SnapshotView, without its ring.
type increasingHead struct {
	client, account uint64
	count           uint32
	windowPending   uint32 // Engine.windowPendingCount.
}

func encodeIncreasingEntry(entry *increasingEntry, b []byte) {
	binary.LittleEndian.PutUint64(b[0:], entry.clientOrderID)
	binary.LittleEndian.PutUint64(b[8:], entry.orderID)
	binary.LittleEndian.PutUint64(b[16:], entry.timestamp)
	binary.LittleEndian.PutUint64(b[24:], entry.digest)
	binary.LittleEndian.PutUint32(b[32:], uint32(entry.status))
	b[36] = byte(entry.kind)
	clear(b[37:40])
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

// Digest returns the SHA-256 of the engine's snapshot encoding: two engines have the same
// digest exactly when they hold the same state. It costs a full encoding (O(state)).
func (e *Engine) Digest() [32]byte {
	hash := sha256.New()
	if _, err := e.Snapshot().WriteTo(hash); err != nil {
		panic(fmt.Sprintf("match: digest: %v", err)) // A hash never fails to write.
	}
	var digest [32]byte
	copy(digest[:], hash.Sum(nil))
	return digest
}
