package model

import (
	"math/big"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestWideSumAgainstBigInt adds random values (up to the largest) and compares with
// math/big, so the carry into High is exercised.
func TestWideSumAgainstBigInt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var sum WideSum
		want := new(big.Int)
		for range rapid.IntRange(0, 20).Draw(t, "count") {
			value := genUint128(t, "value")
			sum.Add(value)
			want.Add(want, value.Big())
		}
		if sum.Big().Cmp(want) != 0 || sum.String() != want.String() {
			t.Fatalf("sum %s, want %s", sum, want)
		}
	})
}

// TestLedgerRecordsRoundTrip encodes and decodes LedgerFilter and LedgerTotals, and checks
// the reserved bytes of LedgerTotals are written as zeros over a dirty buffer.
func TestLedgerRecordsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		filter := LedgerFilter{LedgerMin: rapid.Uint32().Draw(t, "min"),
			LedgerMax: rapid.Uint32().Draw(t, "max"), Limit: rapid.Uint32().Draw(t, "limit"),
			Reserved: rapid.Uint32().Draw(t, "reserved")}
		var filterBytes [LedgerFilterSize]byte
		filter.Encode(filterBytes[:])
		var filterBack LedgerFilter
		filterBack.Decode(filterBytes[:])
		if filterBack != filter {
			t.Fatalf("filter %+v came back as %+v", filter, filterBack)
		}
		wide := func(label string) WideSum {
			return WideSum{Low: genUint128(t, label), High: rapid.Uint64().Draw(t, label+".high")}
		}
		totals := LedgerTotals{Ledger: rapid.Uint32().Draw(t, "ledger"),
			Accounts: rapid.Uint64().Draw(t, "accounts"), DebitsPending: wide("dp"),
			DebitsPosted: wide("dq"), CreditsPending: wide("cp"), CreditsPosted: wide("cq")}
		var totalsBytes [LedgerTotalsSize]byte
		for i := range totalsBytes {
			totalsBytes[i] = 0xff
		}
		totals.Encode(totalsBytes[:])
		for _, offset := range []int{4, 5, 6, 7, 112, 120, 127} {
			if totalsBytes[offset] != 0 {
				t.Fatalf("reserved byte %d is %d", offset, totalsBytes[offset])
			}
		}
		var totalsBack LedgerTotals
		totalsBack.Decode(totalsBytes[:])
		if totalsBack != totals {
			t.Fatalf("totals %s came back as %s", &totals, &totalsBack)
		}
	})
}

// TestWideSumAddEdges adds every pair of edge words (where a word carries, or a carry
// ripples through a full word) to every edge sum and compares with math/big: Add's
// carry is taken as a number from the second word's addition, and a carry out of the low
// word into an all-ones high word must reach High. Random values rarely hit these.
func TestWideSumAddEdges(t *testing.T) {
	words := []uint64{0, 1, 1<<63 - 1, 1 << 63, ^uint64(0) - 1, ^uint64(0)}
	highs := []uint64{0, 1, 1 << 32, ^uint64(0) - 1} // High never reaches 2^64-1 here.
	for _, high := range highs {
		for _, lowHi := range words {
			for _, lowLo := range words {
				for _, xHi := range words {
					for _, xLo := range words {
						sum := WideSum{Low: Uint128{Hi: lowHi, Lo: lowLo}, High: high}
						want := sum.Big()
						x := Uint128{Hi: xHi, Lo: xLo}
						sum.Add(x)
						if want.Add(want, x.Big()); sum.Big().Cmp(want) != 0 {
							t.Fatalf("%d·2^128 + %s + %s = %s, want %s", high,
								Uint128{Hi: lowHi, Lo: lowLo}, x, sum.Big(), want)
						}
					}
				}
			}
		}
	}
}

// TestWideSumSubAgainstBigInt subtracts a random value from a random sum (small high
// words often, so that the borrow out of Low into High, and below zero, are common) and
// compares with math/big: the difference when the sum holds the value, else a panic
// whose message names the value.
func TestWideSumSubAgainstBigInt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sum := WideSum{Low: genUint128(t, "low"), High: rapid.Uint64Range(0, 2).Draw(t, "high")}
		value := genUint128(t, "value")
		want := new(big.Int).Sub(sum.Big(), value.Big())
		panicked := func() (message string) {
			defer func() {
				if r := recover(); r != nil {
					message = r.(error).Error()
				}
			}()
			sum.Sub(value)
			return ""
		}()
		switch {
		case want.Sign() < 0 && !strings.Contains(panicked, "below zero subtracting "+value.String()):
			t.Fatalf("%s - %s: panic %q, want one naming the value", sum.Big(), value, panicked)
		case want.Sign() >= 0 && (panicked != "" || sum.Big().Cmp(want) != 0):
			t.Fatalf("difference %s (panic %q), want %s", sum.Big(), panicked, want)
		}
	})
}
