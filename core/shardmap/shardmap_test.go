package shardmap

import (
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// The placement hash is part of the protocol (clients in other languages route with it):
// these vectors were checked against an independent implementation (Python) and must
// never change.
func TestHashVectors(t *testing.T) {
	vectors := []struct {
		id   model.Uint128
		hash uint64
	}{
		{model.Uint128{}, 0},
		{model.Uint128{Lo: 1}, 0x5692161d100b05e5},
		{model.Uint128{Lo: 2}, 0xdbd238973a2b148a},
		{model.Uint128{Lo: 1000}, 0xc1936642eba4ead7},
		{model.Uint128{Lo: ^uint64(0)}, 0xb4d055fcf2cbbd7b},
		{model.Uint128{Hi: 1}, 0xe220a8397b1dcdaf},
		{model.Uint128{Lo: 0x0123456789abcdef, Hi: 0xfedcba9876543210}, 0xe673c7f3e74e476f},
	}
	for _, v := range vectors {
		if got := Hash(v.id); got != v.hash {
			t.Errorf("Hash(%s) = %#x, want %#x", v.id, got, v.hash)
		}
	}
}

// Sequential ids (the usual client choice) must spread evenly, or one shard takes all.
func TestHashSpreadsSequentialIDs(t *testing.T) {
	const shards, ids = 4, 40_000
	m := Hashed(shards)
	var counts [shards]int
	for id := uint64(1); id <= ids; id++ {
		counts[m.AccountShard(model.U128(id), 0)]++
	}
	for shard, count := range counts {
		if count < ids/shards*9/10 || count > ids/shards*11/10 {
			t.Errorf("shard %d got %d of %d ids: %v", shard, count, ids, counts)
		}
	}
}

func TestAccountShard(t *testing.T) {
	ranges := &Map{Shards: 3, Placement: PlacementRange, Ranges: []RangeEntry{
		{Start: model.U128(0), Shard: 2}, {Start: model.U128(100), Shard: 0},
		{Start: model.Uint128{Hi: 1}, Shard: 1}}}
	ledgers := &Map{Shards: 3, Placement: PlacementLedger, DefaultShard: 1,
		Ledgers: []LedgerEntry{{Ledger: 5, Shard: 2}, {Ledger: 9, Shard: 0}}}
	tests := []struct {
		name   string
		m      *Map
		id     model.Uint128
		ledger uint32
		want   uint16
	}{
		{"single", Single(), model.U128(12345), 7, 0},
		{"hash", Hashed(3), model.U128(1), 0, uint16(0x5692161d100b05e5 % 3)},
		{"range first", ranges, model.U128(1), 0, 2},
		{"range last id of first", ranges, model.U128(99), 0, 2},
		{"range start of second", ranges, model.U128(100), 0, 0},
		{"range below 2^64", ranges, model.U128(^uint64(0)), 0, 0},
		{"range at 2^64", ranges, model.Uint128{Hi: 1}, 0, 1},
		{"range max", ranges, model.Uint128Max, 0, 1},
		{"ledger listed", ledgers, model.U128(1), 5, 2},
		{"ledger listed 2", ledgers, model.U128(1), 9, 0},
		{"ledger default", ledgers, model.U128(1), 6, 1},
	}
	for _, test := range tests {
		if err := test.m.Validate(); err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if got := test.m.AccountShard(test.id, test.ledger); got != test.want {
			t.Errorf("%s: shard %d, want %d", test.name, got, test.want)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name string
		m    Map
	}{
		{"no shards", Map{Shards: 0, Placement: PlacementHash}},
		{"too many shards", Map{Shards: ShardsMax + 1, Placement: PlacementHash}},
		{"unknown placement", Map{Shards: 2, Placement: 9}},
		{"ledger table with hash", Map{Shards: 2, Placement: PlacementHash,
			Ledgers: []LedgerEntry{{1, 0}}}},
		{"range table with ledger", Map{Shards: 2, Placement: PlacementLedger,
			Ranges: []RangeEntry{{model.U128(0), 0}}}},
		{"no ranges", Map{Shards: 2, Placement: PlacementRange}},
		{"ranges not from 0", Map{Shards: 2, Placement: PlacementRange,
			Ranges: []RangeEntry{{model.U128(1), 0}}}},
		{"ranges unsorted", Map{Shards: 2, Placement: PlacementRange,
			Ranges: []RangeEntry{{model.U128(0), 0}, {model.U128(9), 1}, {model.U128(5), 0}}}},
		{"range shard beyond", Map{Shards: 2, Placement: PlacementRange,
			Ranges: []RangeEntry{{model.U128(0), 2}}}},
		{"ledgers duplicate", Map{Shards: 2, Placement: PlacementLedger,
			Ledgers: []LedgerEntry{{1, 0}, {1, 1}}}},
		{"default beyond", Map{Shards: 2, Placement: PlacementLedger, DefaultShard: 2}},
		{"default with hash", Map{Shards: 2, Placement: PlacementHash, DefaultShard: 1}},
		{"instrument default beyond", Map{Shards: 2, Placement: PlacementHash,
			InstrumentDefault: 3}},
		{"instruments unsorted", Map{Shards: 2, Placement: PlacementHash,
			Instruments: []InstrumentEntry{{5, 0}, {4, 1}}}},
	}
	for _, test := range tests {
		if err := test.m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", test.name, err)
		}
	}
}

// genMap draws a valid map of any placement.
func genMap(t *rapid.T) *Map {
	m := &Map{Shards: uint16(rapid.IntRange(1, ShardsMax).Draw(t, "shards")),
		Placement: Placement(rapid.IntRange(1, 3).Draw(t, "placement"))}
	shard := func(label string) uint16 {
		return uint16(rapid.IntRange(0, int(m.Shards)-1).Draw(t, label))
	}
	switch m.Placement {
	case PlacementLedger:
		m.DefaultShard = shard("default")
		for _, ledger := range rapid.SliceOfNDistinct(rapid.Uint32(), 0, 20,
			rapid.ID[uint32]).Draw(t, "ledgers") {
			m.Ledgers = append(m.Ledgers, LedgerEntry{Ledger: ledger, Shard: shard("ledger shard")})
		}
		sortEntries(m.Ledgers, func(e LedgerEntry) uint64 { return uint64(e.Ledger) })
	case PlacementRange:
		m.Ranges = []RangeEntry{{Shard: shard("first range")}}
		for _, start := range rapid.SliceOfNDistinct(rapid.Uint64Min(1), 0, 20,
			rapid.ID[uint64]).Draw(t, "starts") {
			m.Ranges = append(m.Ranges, RangeEntry{Start: model.Uint128{Hi: start},
				Shard: shard("range shard")})
		}
		sortEntries(m.Ranges, func(e RangeEntry) uint64 { return e.Start.Hi })
	}
	m.InstrumentDefault = shard("instrument default")
	for _, instrument := range rapid.SliceOfNDistinct(rapid.Uint32(), 0, 20,
		rapid.ID[uint32]).Draw(t, "instruments") {
		m.Instruments = append(m.Instruments, InstrumentEntry{Instrument: instrument,
			Shard: shard("instrument shard")})
	}
	sortEntries(m.Instruments, func(e InstrumentEntry) uint64 { return uint64(e.Instrument) })
	return m
}

func sortEntries[E any](entries []E, key func(E) uint64) {
	for i := 1; i < len(entries); i++ {
		for j := i; j > 0 && key(entries[j]) < key(entries[j-1]); j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
}

// Every valid map survives its encoding, and places every id as it did.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMap(t)
		if err := m.Validate(); err != nil {
			t.Fatalf("generated map invalid: %v", err)
		}
		decoded, err := Decode(m.Encode())
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !decoded.Equal(m) || decoded.Checksum() != m.Checksum() {
			t.Fatalf("round trip changed the map: %v vs %v", decoded, m)
		}
		id := model.Uint128{Lo: rapid.Uint64().Draw(t, "lo"), Hi: rapid.Uint64().Draw(t, "hi")}
		ledger := rapid.Uint32().Draw(t, "ledger")
		instrument := rapid.Uint32().Draw(t, "instrument")
		if decoded.AccountShard(id, ledger) != m.AccountShard(id, ledger) ||
			decoded.InstrumentShard(instrument) != m.InstrumentShard(instrument) {
			t.Fatal("decoded map places differently")
		}
		if m.AccountShard(id, ledger) >= m.Shards || m.InstrumentShard(instrument) >= m.Shards {
			t.Fatal("shard beyond the map")
		}
	})
}

func TestDecodeRefuses(t *testing.T) {
	m := &Map{Shards: 2, Placement: PlacementRange, Ranges: []RangeEntry{{model.U128(0), 1},
		{model.U128(50), 0}}, Instruments: []InstrumentEntry{{7, 1}}}
	good := m.Encode()
	if _, err := Decode(good); err != nil {
		t.Fatal(err)
	}
	reseal := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[offsetChecksum:], 0)
		binary.LittleEndian.PutUint32(b[offsetChecksum:], crcOf(b))
		return b
	}
	tests := []struct {
		name   string
		change func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return reseal(b) }},
		{"version", func(b []byte) []byte { b[8] = 2; return reseal(b) }},
		{"flipped bit", func(b []byte) []byte { b[offsetShards] ^= 1; return b }},
		{"reserved header", func(b []byte) []byte { b[offsetReserved8] = 1; return reseal(b) }},
		{"reserved range bytes", func(b []byte) []byte { b[headerSize+20] = 1; return reseal(b) }},
		{"truncated", func(b []byte) []byte { return reseal(b[:len(b)-1]) }},
		{"trailing byte", func(b []byte) []byte { return reseal(append(b, 0)) }},
		{"huge count", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[offsetRangeCount:], 1<<30)
			return reseal(b)
		}},
		{"invalid map", func(b []byte) []byte { b[offsetShards] = 0; return reseal(b) }},
	}
	for _, test := range tests {
		b := test.change(append([]byte(nil), good...))
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode = %v, want ErrInvalid", test.name, err)
		}
	}
}

func crcOf(b []byte) uint32 { return crcChecksum(b) }

// FuzzDecode: any bytes decode to an error or to a valid map that encodes back to them.
func FuzzDecode(f *testing.F) {
	f.Add(Single().Encode())
	f.Add((&Map{Shards: 3, Placement: PlacementLedger, DefaultShard: 2,
		Ledgers: []LedgerEntry{{1, 0}, {2, 1}}, Instruments: []InstrumentEntry{{1, 2}}}).Encode())
	f.Add((&Map{Shards: 2, Placement: PlacementRange,
		Ranges: []RangeEntry{{model.U128(0), 1}, {model.U128(9), 0}}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid map: %v", err)
		}
		if string(m.Encode()) != string(b) {
			t.Fatal("a decoded map encodes to other bytes")
		}
	})
}
