package shardmap

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"sequent/core/model"
)

// Spec is a map described as text, as an operator gives it (`sequent serve --shards N
// --placement ...`):
//
//   - Shards: the shard count (0 means 1).
//   - Placement: "hash" (the default), "ledger" or "range".
//   - Ledgers (ledger placement): "ledger:shard" pairs, comma-separated, e.g. "1:0,2:1";
//     DefaultShard takes the ledgers not listed.
//   - Ranges (range placement): the first account id of each shard's range, in shard
//     order, comma-separated decimal, the first 0: "0,1000000" puts ids below a million
//     on shard 0 and the rest on shard 1. Empty: the id space split evenly.
//   - Instruments: "instrument:shard" pairs; InstrumentDefault takes the rest.
type Spec struct {
	Shards            int
	Placement         string
	Ledgers           string
	DefaultShard      int
	Ranges            string
	Instruments       string
	InstrumentDefault int
}

// Build returns the map a Spec describes, validated.
func (s Spec) Build() (*Map, error) {
	shards := max(s.Shards, 1)
	if shards > ShardsMax || s.DefaultShard < 0 || s.InstrumentDefault < 0 ||
		s.DefaultShard >= shards || s.InstrumentDefault >= shards {
		return nil, fmt.Errorf("%w: %d shards (1..%d), default shards %d and %d", ErrInvalid,
			s.Shards, ShardsMax, s.DefaultShard, s.InstrumentDefault)
	}
	m := &Map{Shards: uint16(shards), InstrumentDefault: uint16(s.InstrumentDefault)}
	var err error
	switch s.Placement {
	case "", "hash":
		m.Placement = PlacementHash
	case "ledger":
		m.Placement, m.DefaultShard = PlacementLedger, uint16(s.DefaultShard)
		var pairs [][2]uint32
		if pairs, err = parsePairs(s.Ledgers, "ledger"); err == nil {
			for _, pair := range pairs {
				m.Ledgers = append(m.Ledgers, LedgerEntry{Ledger: pair[0], Shard: uint16(pair[1])})
			}
		}
	case "range":
		m.Placement = PlacementRange
		m.Ranges, err = parseRanges(s.Ranges, shards)
	default:
		return nil, fmt.Errorf("%w: placement %q: want hash, ledger or range", ErrInvalid, s.Placement)
	}
	if err != nil {
		return nil, err
	}
	if s.Placement != "ledger" && (s.Ledgers != "" || s.DefaultShard != 0) {
		return nil, fmt.Errorf("%w: ledger entries need ledger placement", ErrInvalid)
	}
	if s.Placement != "range" && s.Ranges != "" {
		return nil, fmt.Errorf("%w: ranges need range placement", ErrInvalid)
	}
	pairs, err := parsePairs(s.Instruments, "instrument")
	if err != nil {
		return nil, err
	}
	for _, pair := range pairs {
		m.Instruments = append(m.Instruments, InstrumentEntry{Instrument: pair[0],
			Shard: uint16(pair[1])})
	}
	slices.SortFunc(m.Ledgers, func(a, b LedgerEntry) int { return cmpUint32(a.Ledger, b.Ledger) })
	slices.SortFunc(m.Instruments, func(a, b InstrumentEntry) int {
		return cmpUint32(a.Instrument, b.Instrument)
	})
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// parsePairs parses "key:shard,key:shard" (empty: none).
func parsePairs(text, what string) ([][2]uint32, error) {
	var pairs [][2]uint32
	for _, field := range splitList(text) {
		key, shard, ok := strings.Cut(field, ":")
		k, keyErr := strconv.ParseUint(key, 10, 32)
		v, shardErr := strconv.ParseUint(shard, 10, 16)
		if !ok || keyErr != nil || shardErr != nil {
			return nil, fmt.Errorf("%w: %s entry %q: want %s:shard", ErrInvalid, what, field, what)
		}
		pairs = append(pairs, [2]uint32{uint32(k), uint32(v)})
	}
	return pairs, nil
}

// parseRanges parses the ranges' starts, one per shard; empty splits the ids evenly.
func parseRanges(text string, shards int) ([]RangeEntry, error) {
	fields := splitList(text)
	if len(fields) == 0 {
		step := new(big.Int).Lsh(big.NewInt(1), 128)
		step.Div(step, big.NewInt(int64(shards)))
		ranges := make([]RangeEntry, shards)
		for i := range ranges {
			start := new(big.Int).Mul(step, big.NewInt(int64(i)))
			ranges[i] = RangeEntry{Start: uint128Of(start), Shard: uint16(i)}
		}
		return ranges, nil
	}
	if len(fields) != shards {
		return nil, fmt.Errorf("%w: %d range starts for %d shards", ErrInvalid, len(fields), shards)
	}
	ranges := make([]RangeEntry, shards)
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for i, field := range fields {
		start, ok := new(big.Int).SetString(field, 10)
		if !ok || start.Sign() < 0 || start.Cmp(limit) >= 0 {
			return nil, fmt.Errorf("%w: range start %q: want a decimal id", ErrInvalid, field)
		}
		ranges[i] = RangeEntry{Start: uint128Of(start), Shard: uint16(i)}
	}
	return ranges, nil
}

func uint128Of(x *big.Int) model.Uint128 {
	var bytes [16]byte
	x.FillBytes(bytes[:])
	var id model.Uint128
	for i := range 8 {
		id.Hi = id.Hi<<8 | uint64(bytes[i])
		id.Lo = id.Lo<<8 | uint64(bytes[8+i])
	}
	return id
}

func splitList(text string) []string {
	var fields []string
	for _, field := range strings.Split(text, ",") {
		if field = strings.TrimSpace(field); field != "" {
			fields = append(fields, field)
		}
	}
	return fields
}
