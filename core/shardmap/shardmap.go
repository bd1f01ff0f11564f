package shardmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"sequent/core/model"
)

// Bounds of a map. They bound Decode's work on untrusted bytes.
const (
	// ShardsMax is the most shards of one node; shard numbers fit the 16-bit fields of
	// system ids (core/saga) with room to spare.
	ShardsMax = 256
	// EntriesMax bounds each table of a map.
	EntriesMax = 4096
)

// Placement is how accounts are placed.
type Placement uint8

// Placements (wire values).
const (
	PlacementLedger Placement = 1 // By the account's ledger.
	PlacementRange  Placement = 2 // By ranges of account ids.
	PlacementHash   Placement = 3 // By Hash(id) mod shards.
)

func (p Placement) String() string {
	switch p {
	case PlacementLedger:
		return "ledger"
	case PlacementRange:
		return "range"
	case PlacementHash:
		return "hash"
	}
	return fmt.Sprintf("placement(%d)", uint8(p))
}

// LedgerEntry places one ledger's accounts.
type LedgerEntry struct {
	Ledger uint32
	Shard  uint16
}

// RangeEntry places the account ids from Start up to the next entry's Start.
type RangeEntry struct {
	Start model.Uint128
	Shard uint16
}

// InstrumentEntry places one instrument.
type InstrumentEntry struct {
	Instrument uint32
	Shard      uint16
}

// Map is a node's placement of accounts and instruments. Build one, then Validate it (or
// Decode one, which validates). Its methods only read it, so one map may be shared by any
// number of goroutines.
type Map struct {
	Shards            uint16
	Placement         Placement
	Ledgers           []LedgerEntry     // PlacementLedger: sorted by ledger.
	DefaultShard      uint16            // PlacementLedger: shard of unlisted ledgers.
	Ranges            []RangeEntry      // PlacementRange: sorted by start, the first 0.
	Instruments       []InstrumentEntry // Sorted by instrument.
	InstrumentDefault uint16            // Shard of unlisted instruments.
}

// Single returns the map of an unsharded node: one shard owns everything.
func Single() *Map { return &Map{Shards: 1, Placement: PlacementHash} }

// Hashed returns a map of shards shards placing accounts by Hash(id) and every instrument
// on shard 0.
func Hashed(shards int) *Map { return &Map{Shards: uint16(shards), Placement: PlacementHash} }

// ByRange returns a map placing the ids from starts[i] up to starts[i+1] on shard i
// (starts[0] must be 0), and every instrument on shard 0.
func ByRange(starts ...model.Uint128) *Map {
	m := &Map{Shards: uint16(len(starts)), Placement: PlacementRange}
	for i, start := range starts {
		m.Ranges = append(m.Ranges, RangeEntry{Start: start, Shard: uint16(i)})
	}
	return m
}

// ErrInvalid reports a map that breaks the rules of the package doc.
var ErrInvalid = errors.New("shardmap: invalid map")

// Validate checks the map's rules.
func (m *Map) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case m.Shards == 0 || m.Shards > ShardsMax:
		return bad("%d shards (1..%d)", m.Shards, ShardsMax)
	case m.Placement < PlacementLedger || m.Placement > PlacementHash:
		return bad("unknown placement %d", m.Placement)
	case len(m.Ledgers) > EntriesMax || len(m.Ranges) > EntriesMax ||
		len(m.Instruments) > EntriesMax:
		return bad("more than %d entries in a table", EntriesMax)
	case m.Placement != PlacementLedger && (len(m.Ledgers) != 0 || m.DefaultShard != 0):
		return bad("a ledger table with %s placement", m.Placement)
	case m.Placement != PlacementRange && len(m.Ranges) != 0:
		return bad("a range table with %s placement", m.Placement)
	case m.Placement == PlacementRange && (len(m.Ranges) == 0 || !m.Ranges[0].Start.IsZero()):
		return bad("range placement must start with a range at id 0")
	case m.DefaultShard >= m.Shards || m.InstrumentDefault >= m.Shards:
		return bad("default shard beyond %d shards", m.Shards)
	}
	for i, entry := range m.Ledgers {
		if entry.Shard >= m.Shards || (i > 0 && m.Ledgers[i-1].Ledger >= entry.Ledger) {
			return bad("ledger entry %d: unsorted, duplicate or shard beyond %d", i, m.Shards)
		}
	}
	for i, entry := range m.Ranges {
		if entry.Shard >= m.Shards || (i > 0 && !m.Ranges[i-1].Start.Less(entry.Start)) {
			return bad("range entry %d: unsorted, duplicate or shard beyond %d", i, m.Shards)
		}
	}
	for i, entry := range m.Instruments {
		if entry.Shard >= m.Shards ||
			(i > 0 && m.Instruments[i-1].Instrument >= entry.Instrument) {
			return bad("instrument entry %d: unsorted, duplicate or shard beyond %d", i, m.Shards)
		}
	}
	return nil
}

// Hash is the placement hash of an id (see the package doc).
func Hash(id model.Uint128) uint64 {
	x := id.Lo ^ id.Hi*0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// PlacesByID reports whether an account id alone says where the account lives (range and
// hash placement); with ledger placement the account's ledger is needed.
func (m *Map) PlacesByID() bool { return m.Placement != PlacementLedger }

// AccountShard returns the shard of the account with this id and ledger. With ledger
// placement only the ledger counts; otherwise only the id.
func (m *Map) AccountShard(id model.Uint128, ledger uint32) uint16 {
	switch {
	case m.Shards == 1:
		return 0
	case m.Placement == PlacementHash:
		return uint16(Hash(id) % uint64(m.Shards))
	case m.Placement == PlacementRange:
		// The last range whose start is at or below id.
		i, found := slices.BinarySearchFunc(m.Ranges, id, func(e RangeEntry, id model.Uint128) int {
			return e.Start.Cmp(id)
		})
		if !found {
			i--
		}
		return m.Ranges[i].Shard
	}
	return m.LedgerShard(ledger)
}

// LedgerShard returns the shard of a ledger's accounts (ledger placement).
func (m *Map) LedgerShard(ledger uint32) uint16 {
	i, found := slices.BinarySearchFunc(m.Ledgers, ledger, func(e LedgerEntry, ledger uint32) int {
		return cmpUint32(e.Ledger, ledger)
	})
	if found {
		return m.Ledgers[i].Shard
	}
	return m.DefaultShard
}

// InstrumentShard returns the shard of an instrument (its book, its escrows).
func (m *Map) InstrumentShard(instrument uint32) uint16 {
	i, found := slices.BinarySearchFunc(m.Instruments, instrument,
		func(e InstrumentEntry, instrument uint32) int { return cmpUint32(e.Instrument, instrument) })
	if found {
		return m.Instruments[i].Shard
	}
	return m.InstrumentDefault
}

// InstrumentsShard returns the shard holding every instrument, when the map puts all of
// them on one shard (no table entry differs from the default).
func (m *Map) InstrumentsShard() (uint16, bool) {
	for _, entry := range m.Instruments {
		if entry.Shard != m.InstrumentDefault {
			return 0, false
		}
	}
	return m.InstrumentDefault, true
}

// TransferShards returns the shards of a transfer's debit and credit accounts. A post or
// void is placed with its pending transfer, by the debit account it names (or its ledger,
// with ledger placement); ok is false when it names neither (placement_field_missing).
func (m *Map) TransferShards(t *model.Transfer) (debit, credit uint16, ok bool) {
	if m.Shards == 1 {
		return 0, 0, true
	}
	if t.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
		if m.Placement == PlacementLedger && t.Ledger == 0 ||
			m.Placement != PlacementLedger && t.DebitAccountID.IsZero() {
			return 0, 0, false
		}
		shard := m.AccountShard(t.DebitAccountID, t.Ledger)
		return shard, shard, true
	}
	return m.AccountShard(t.DebitAccountID, t.Ledger), m.AccountShard(t.CreditAccountID, t.Ledger), true
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Equal reports whether two maps place everything alike (their encodings are equal).
func (m *Map) Equal(other *Map) bool { return string(m.Encode()) == string(other.Encode()) }

// The encoding (see the package doc).
const (
	magic                = "SQSHMAP1"
	version              = 1
	headerSize           = 40
	ledgerEntrySize      = 8
	rangeEntrySize       = 24
	instrumentEntrySize  = 8
	offsetChecksum       = 12
	offsetShards         = 16
	offsetPlacement      = 18
	offsetReserved8      = 19
	offsetDefault        = 20
	offsetInstrumentDflt = 22
	offsetLedgerCount    = 24
	offsetRangeCount     = 28
	offsetInstrumentCnt  = 32
	offsetReserved32     = 36
	// EncodedBytesMax bounds an encoding (all three tables full).
	EncodedBytesMax = headerSize + EntriesMax*(ledgerEntrySize+rangeEntrySize+instrumentEntrySize)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcChecksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// EncodedSize returns the length of the map's encoding.
func (m *Map) EncodedSize() int {
	return headerSize + len(m.Ledgers)*ledgerEntrySize + len(m.Ranges)*rangeEntrySize +
		len(m.Instruments)*instrumentEntrySize
}

// Encode returns the map's encoding (it does not validate: encode only valid maps).
func (m *Map) Encode() []byte {
	le := binary.LittleEndian
	b := make([]byte, headerSize, m.EncodedSize())
	copy(b, magic)
	le.PutUint32(b[8:], version)
	le.PutUint16(b[offsetShards:], m.Shards)
	b[offsetPlacement] = byte(m.Placement)
	le.PutUint16(b[offsetDefault:], m.DefaultShard)
	le.PutUint16(b[offsetInstrumentDflt:], m.InstrumentDefault)
	le.PutUint32(b[offsetLedgerCount:], uint32(len(m.Ledgers)))
	le.PutUint32(b[offsetRangeCount:], uint32(len(m.Ranges)))
	le.PutUint32(b[offsetInstrumentCnt:], uint32(len(m.Instruments)))
	for _, entry := range m.Ledgers {
		b = le.AppendUint32(b, entry.Ledger)
		b = le.AppendUint16(b, entry.Shard)
		b = le.AppendUint16(b, 0)
	}
	for _, entry := range m.Ranges {
		b = le.AppendUint64(b, entry.Start.Lo)
		b = le.AppendUint64(b, entry.Start.Hi)
		b = le.AppendUint16(b, entry.Shard)
		b = append(b, 0, 0, 0, 0, 0, 0)
	}
	for _, entry := range m.Instruments {
		b = le.AppendUint32(b, entry.Instrument)
		b = le.AppendUint16(b, entry.Shard)
		b = le.AppendUint16(b, 0)
	}
	le.PutUint32(b[offsetChecksum:], crcChecksum(b))
	return b
}

// Checksum returns the checksum field of the map's encoding: a short name for the map in
// logs and snapshots.
func (m *Map) Checksum() uint32 {
	return binary.LittleEndian.Uint32(m.Encode()[offsetChecksum:])
}

// Decode parses and validates an encoding. The input is untrusted: any deviation from the
// layout is an error wrapping ErrInvalid, never a panic.
func Decode(b []byte) (*Map, error) {
	le := binary.LittleEndian
	bad := func(format string, args ...any) (*Map, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if len(b) < headerSize || string(b[:8]) != magic {
		return bad("no shard map header")
	}
	if v := le.Uint32(b[8:]); v != version {
		return bad("version %d, want %d", v, version)
	}
	stored := le.Uint32(b[offsetChecksum:])
	zeroed := slices.Clone(b)
	le.PutUint32(zeroed[offsetChecksum:], 0)
	if crcChecksum(zeroed) != stored {
		return bad("checksum mismatch")
	}
	if b[offsetReserved8] != 0 || le.Uint32(b[offsetReserved32:]) != 0 {
		return bad("reserved header bytes")
	}
	counts := [3]uint64{uint64(le.Uint32(b[offsetLedgerCount:])),
		uint64(le.Uint32(b[offsetRangeCount:])), uint64(le.Uint32(b[offsetInstrumentCnt:]))}
	if counts[0] > EntriesMax || counts[1] > EntriesMax || counts[2] > EntriesMax {
		return bad("more than %d entries in a table", EntriesMax)
	}
	size := headerSize + counts[0]*ledgerEntrySize + counts[1]*rangeEntrySize +
		counts[2]*instrumentEntrySize
	if uint64(len(b)) != size {
		return bad("%d bytes, the header says %d", len(b), size)
	}
	m := &Map{Shards: le.Uint16(b[offsetShards:]), Placement: Placement(b[offsetPlacement]),
		DefaultShard: le.Uint16(b[offsetDefault:]), InstrumentDefault: le.Uint16(b[offsetInstrumentDflt:])}
	rest := b[headerSize:]
	for range counts[0] {
		if le.Uint16(rest[6:]) != 0 {
			return bad("reserved bytes in a ledger entry")
		}
		m.Ledgers = append(m.Ledgers, LedgerEntry{Ledger: le.Uint32(rest), Shard: le.Uint16(rest[4:])})
		rest = rest[ledgerEntrySize:]
	}
	for range counts[1] {
		if string(rest[18:24]) != "\x00\x00\x00\x00\x00\x00" {
			return bad("reserved bytes in a range entry")
		}
		m.Ranges = append(m.Ranges, RangeEntry{Start: model.Uint128LE(rest), Shard: le.Uint16(rest[16:])})
		rest = rest[rangeEntrySize:]
	}
	for range counts[2] {
		if le.Uint16(rest[6:]) != 0 {
			return bad("reserved bytes in an instrument entry")
		}
		m.Instruments = append(m.Instruments, InstrumentEntry{Instrument: le.Uint32(rest),
			Shard: le.Uint16(rest[4:])})
		rest = rest[instrumentEntrySize:]
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// String describes the map in one line, for logs and errors.
func (m *Map) String() string {
	return fmt.Sprintf("%d shards, %s placement, %d ledger/%d range/%d instrument entries, checksum %08x",
		m.Shards, m.Placement, len(m.Ledgers), len(m.Ranges), len(m.Instruments), m.Checksum())
}
