package model

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

func genUint128(t *rapid.T, label string) Uint128 {
	return Uint128{Lo: rapid.Uint64().Draw(t, label+".lo"), Hi: rapid.Uint64().Draw(t, label+".hi")}
}

var two128 = new(big.Int).Lsh(big.NewInt(1), 128)

// TestUint128AgainstBigInt checks every operation against math/big.
func TestUint128AgainstBigInt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x, y := genUint128(t, "x"), genUint128(t, "y")
		small := rapid.Uint64().Draw(t, "small")
		bigX, bigY := x.Big(), y.Big()
		sum, overflow := x.Add(y)
		wantSum := new(big.Int).Add(bigX, bigY)
		if overflow != (wantSum.Cmp(two128) >= 0) || overflow != x.AddOverflows(y) {
			t.Fatalf("%s + %s overflow %v", x, y, overflow)
		}
		if !overflow && sum.Big().Cmp(wantSum) != 0 {
			t.Fatalf("%s + %s = %s", x, y, sum)
		}
		difference, underflow := x.Sub(y)
		if underflow != (bigX.Cmp(bigY) < 0) {
			t.Fatalf("%s - %s underflow %v", x, y, underflow)
		}
		if !underflow && difference.Big().Cmp(new(big.Int).Sub(bigX, bigY)) != 0 {
			t.Fatalf("%s - %s = %s", x, y, difference)
		}
		if x.Cmp(y) != bigX.Cmp(bigY) || x.Less(y) != (bigX.Cmp(bigY) < 0) {
			t.Fatalf("compare %s %s", x, y)
		}
		product, productOverflow := x.Mul64(small)
		wantProduct := new(big.Int).Mul(bigX, new(big.Int).SetUint64(small))
		if productOverflow != (wantProduct.Cmp(two128) >= 0) {
			t.Fatalf("%s * %d overflow %v", x, small, productOverflow)
		}
		if !productOverflow && product.Big().Cmp(wantProduct) != 0 {
			t.Fatalf("%s * %d = %s", x, small, product)
		}
		if small != 0 {
			quotient, remainder := x.DivMod64(small)
			wantQuotient, wantRemainder := new(big.Int).QuoRem(bigX, new(big.Int).SetUint64(small),
				new(big.Int))
			if quotient.Big().Cmp(wantQuotient) != 0 || remainder != wantRemainder.Uint64() {
				t.Fatalf("%s / %d = %s rem %d", x, small, quotient, remainder)
			}
		}
		parsed, err := ParseUint128(x.String())
		if err != nil || parsed != x {
			t.Fatalf("parse %s: %s %v", x, parsed, err)
		}
		var encoded [16]byte
		x.PutLE(encoded[:])
		if Uint128LE(encoded[:]) != x {
			t.Fatalf("little-endian round trip of %s", x)
		}
	})
}

func TestUint128Edges(t *testing.T) {
	if _, overflow := Uint128Max.Add(U128(1)); !overflow {
		t.Fatal("2^128-1 + 1 did not overflow")
	}
	if _, underflow := U128(0).Sub(U128(1)); !underflow {
		t.Fatal("0 - 1 did not underflow")
	}
	if U128(3).SaturatingSub(U128(5)) != (Uint128{}) {
		t.Fatal("saturating sub")
	}
	for _, bad := range []string{"-1", "340282366920938463463374607431768211456", "x", ""} {
		if _, err := ParseUint128(bad); err == nil {
			t.Fatalf("parsed %q", bad)
		}
	}
	if value, err := ParseUint128("0xff"); err != nil || value != U128(255) {
		t.Fatalf("hex parse: %s %v", value, err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustAdd overflow did not panic")
		}
	}()
	Uint128Max.MustAdd(U128(1))
}

// TestRecordLayout pins the wire layout: each field at its documented offset.
func TestRecordLayout(t *testing.T) {
	transfer := Transfer{ID: U128(0x0101), DebitAccountID: U128(0x0202),
		CreditAccountID: U128(0x0303), Amount: U128(0x0404), PendingID: U128(0x0505),
		UserData128: U128(0x0606), UserData64: 0x0707, UserData32: 0x0808, Timeout: 0x0909,
		Ledger: 0x0a0a, Code: 0x0b0b, Flags: 0x0c0c, Timestamp: 0x0d0d}
	var b [TransferSize]byte
	transfer.Encode(b[:])
	offsets := map[int]byte{0: 1, 16: 2, 32: 3, 48: 4, 64: 5, 80: 6, 96: 7, 104: 8, 108: 9,
		112: 10, 116: 11, 118: 12, 120: 13}
	for offset, value := range offsets {
		if b[offset] != value || b[offset+1] != value {
			t.Fatalf("transfer byte %d = %d, want %d", offset, b[offset], value)
		}
	}
	var decoded Transfer
	decoded.Decode(b[:])
	if decoded != transfer {
		t.Fatalf("transfer round trip: %+v", decoded)
	}
	account := Account{ID: U128(0x0101), DebitsPending: U128(0x0202), DebitsPosted: U128(0x0303),
		CreditsPending: U128(0x0404), CreditsPosted: U128(0x0505), UserData128: U128(0x0606),
		UserData64: 0x0707, UserData32: 0x0808, Reserved: 0x0909, Ledger: 0x0a0a, Code: 0x0b0b,
		Flags: 0x0c0c, Timestamp: 0x0d0d}
	account.Encode(b[:])
	for offset, value := range offsets {
		if b[offset] != value {
			t.Fatalf("account byte %d = %d, want %d", offset, b[offset], value)
		}
	}
	var decodedAccount Account
	decodedAccount.Decode(b[:])
	if decodedAccount != account {
		t.Fatalf("account round trip: %+v", decodedAccount)
	}
	filter := AccountFilter{AccountID: U128(1), UserData64: 2, Code: 3, TimestampMin: 4,
		TimestampMax: 5, Limit: 6, Flags: FilterCredits}
	filter.Encode(b[:])
	b[50] = 1
	var decodedFilter AccountFilter
	decodedFilter.Decode(b[:])
	if !decodedFilter.ReservedNonZero {
		t.Fatal("a reserved filter byte went unnoticed")
	}
	decodedFilter.ReservedNonZero = false
	if decodedFilter != filter {
		t.Fatalf("filter round trip: %+v", decodedFilter)
	}
	result := TransferResult{EventResult: EventResult{Timestamp: 9, Status: StatusExists},
		DebitAccount: Balance{DebitsPosted: U128(3)}, CreditAccount: Balance{CreditsPosted: U128(3)}}
	var resultBytes [EventResultBalancesSize]byte
	result.EncodeWithBalances(resultBytes[:])
	var decodedResult TransferResult
	decodedResult.DecodeWithBalances(resultBytes[:])
	if decodedResult != result {
		t.Fatalf("result round trip: %+v", decodedResult)
	}
}

func TestStatusNamesAreUniqueAndStable(t *testing.T) {
	seen := map[string]Status{}
	for s := Status(0); s < 1000; s++ {
		if !s.Known() {
			continue
		}
		name := s.String()
		if name == "" {
			t.Fatalf("status %d has no name", s)
		}
		if other, ok := seen[name]; ok {
			t.Fatalf("statuses %d and %d share the name %q", s, other, name)
		}
		seen[name] = s
	}
	// A few numbers are part of the wire contract; they must never change.
	pinned := map[Status]string{0: "ok", 1: "linked_event_failed", 14: "exists",
		41: "debit_account_not_found", 65: "exceeds_credits", 200: "busy", 201: "not_primary",
		212: "internal_error", 220: "outcome_unknown", 221: "log_unavailable"}
	for status, name := range pinned {
		if status.String() != name {
			t.Fatalf("status %d is %q, want %q", status, status.String(), name)
		}
	}
	if Status(999).String() != "status_999" {
		t.Fatalf("unknown status name %q", Status(999).String())
	}
}

func TestSystemIDs(t *testing.T) {
	if IsSystemID(U128(5)) || IsSystemID(Uint128Max) || !IsSystemID(Uint128{Hi: 1 << 63}) {
		t.Fatal("system id range")
	}
}

// TestUint128AppendDecimal compares the allocation-free decimal encoder with big.Int's
// on edge values and random ones.
func TestUint128AppendDecimal(t *testing.T) {
	values := []Uint128{{}, {Lo: 1}, {Lo: ^uint64(0)}, {Hi: 1}, {Lo: ^uint64(0), Hi: ^uint64(0)},
		{Lo: 9_999_999_999_999_999_999, Hi: 0}, {Lo: 10_000_000_000_000_000_000 - 1, Hi: 7}}
	for i := uint64(0); i < 1000; i++ {
		values = append(values, Uint128{Lo: i * 0x9E3779B97F4A7C15, Hi: i * i * 0x2545F4914F6CDD1D})
	}
	for _, value := range values {
		if got, want := string(value.AppendDecimal(nil)), value.Big().String(); got != want {
			t.Fatalf("%v: %s, want %s", value, got, want)
		}
	}
}

// TestParseUint128IsDecimalOrHex: ParseUint128 reads what its documentation says and
// nothing else — decimal digits, or 0x/0X and hexadecimal digits. It used to hand the
// text to big.Int with base 0, which read "010" as octal 8, and took "0b11", "0o17",
// "1_000", "+5" and "-0": an amount or id padded with a leading zero moved the wrong
// amount (API, client flags), and a grant range "0100-0199" in the keys file covered
// accounts 64-129.
func TestParseUint128IsDecimalOrHex(t *testing.T) {
	good := []struct {
		text string
		want Uint128
	}{{"0", U128(0)}, {"7", U128(7)}, {"010", U128(10)}, {"000", U128(0)},
		{"0x10", U128(16)}, {"0XfF", U128(255)}, {"0x0", U128(0)},
		{"340282366920938463463374607431768211455", Uint128Max},
		{"0xffffffffffffffffffffffffffffffff", Uint128Max}}
	for _, c := range good {
		if value, err := ParseUint128(c.text); err != nil || value != c.want {
			t.Errorf("ParseUint128(%q) = %s, %v; want %s", c.text, value, err, c.want)
		}
	}
	for _, bad := range []string{"", "+5", "-0", "-1", " 1", "1 ", "\t1", "1e3", "1.0",
		"0b11", "0o17", "0B1", "1_000", "0x", "0x_1", "0x1_0", "0xg", "+0x1", "0x-1",
		"340282366920938463463374607431768211456", "0x100000000000000000000000000000000",
		"١٢", "max", "NaN", "0x 1"} {
		if value, err := ParseUint128(bad); err == nil {
			t.Errorf("ParseUint128(%q) = %s, want an error", bad, value)
		}
	}
}
