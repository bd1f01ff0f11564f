package shardmap

import (
	"errors"
	"testing"

	"sequent/core/model"
)

func TestSpecBuild(t *testing.T) {
	for _, test := range []struct {
		name string
		spec Spec
		want *Map
	}{
		{"default", Spec{}, Single()},
		{"hash", Spec{Shards: 4}, Hashed(4)},
		{"ranges given", Spec{Shards: 2, Placement: "range", Ranges: "0, 100"},
			ByRange(model.U128(0), model.U128(100))},
		{"ranges split evenly", Spec{Shards: 2, Placement: "range"},
			ByRange(model.Uint128{}, model.Uint128{Hi: 1 << 63})},
		{"ledgers", Spec{Shards: 3, Placement: "ledger", Ledgers: "2:1,1:2", DefaultShard: 1},
			&Map{Shards: 3, Placement: PlacementLedger, DefaultShard: 1,
				Ledgers: []LedgerEntry{{1, 2}, {2, 1}}}},
		{"instruments", Spec{Shards: 2, Instruments: "7:1", InstrumentDefault: 1},
			&Map{Shards: 2, Placement: PlacementHash, InstrumentDefault: 1,
				Instruments: []InstrumentEntry{{7, 1}}}},
	} {
		got, err := test.spec.Build()
		if err != nil {
			t.Errorf("%s: %v", test.name, err)
			continue
		}
		if !got.Equal(test.want) {
			t.Errorf("%s: %s, want %s", test.name, got, test.want)
		}
	}
}

func TestSpecBuildRefuses(t *testing.T) {
	for _, test := range []struct {
		name string
		spec Spec
	}{
		{"too many shards", Spec{Shards: ShardsMax + 1}},
		{"unknown placement", Spec{Shards: 2, Placement: "modulo"}},
		{"ranges without range placement", Spec{Shards: 2, Ranges: "0,5"}},
		{"ledgers without ledger placement", Spec{Shards: 2, Ledgers: "1:1"}},
		{"a range start per shard", Spec{Shards: 3, Placement: "range", Ranges: "0,5"}},
		{"first range not at 0", Spec{Shards: 2, Placement: "range", Ranges: "1,5"}},
		{"unsorted ranges", Spec{Shards: 2, Placement: "range", Ranges: "0,0"}},
		{"bad pair", Spec{Shards: 2, Placement: "ledger", Ledgers: "1=1"}},
		{"shard beyond the count", Spec{Shards: 2, Placement: "ledger", Ledgers: "1:2"}},
		{"a ledger twice", Spec{Shards: 2, Placement: "ledger", Ledgers: "1:0,1:1"}},
		{"default beyond the count", Spec{Shards: 2, Placement: "ledger", DefaultShard: 2}},
		{"instrument default beyond", Spec{Shards: 2, InstrumentDefault: 5}},
		{"range start beyond 128 bits", Spec{Shards: 2, Placement: "range",
			Ranges: "0,340282366920938463463374607431768211456"}},
	} {
		if _, err := test.spec.Build(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", test.name, err)
		}
	}
}
