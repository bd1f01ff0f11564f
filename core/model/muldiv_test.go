package model

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// genSized draws a Uint128 of a random bit length, so that small, mid-sized and full-width
// values (and the quotient-overflow boundary) are all exercised, not just huge ones.
func genSized(t *rapid.T, label string) Uint128 {
	value := genUint128(t, label)
	bitsKept := rapid.IntRange(0, 128).Draw(t, label+".bits")
	switch {
	case bitsKept == 0:
		return Uint128{}
	case bitsKept <= 64:
		return Uint128{Lo: value.Lo >> (64 - bitsKept)}
	}
	return Uint128{Lo: value.Lo, Hi: value.Hi >> (128 - bitsKept)}
}

// TestMulDivAgainstBigInt checks MulDiv and MulDivCeil against math/big on operands of
// every size: the quotient, the remainder, and exactly when the quotient overflows.
func TestMulDivAgainstBigInt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x, y, z := genSized(t, "x"), genSized(t, "y"), genSized(t, "z")
		if z.IsZero() {
			z = U128(1)
		}
		product := new(big.Int).Mul(x.Big(), y.Big())
		wantQuotient, wantRemainder := new(big.Int).QuoRem(product, z.Big(), new(big.Int))
		quotient, remainder, ok := MulDiv(x, y, z)
		if fits := wantQuotient.Cmp(two128) < 0; ok != fits {
			t.Fatalf("MulDiv(%s, %s, %s): ok %v, quotient %s", x, y, z, ok, wantQuotient)
		}
		if !ok {
			return
		}
		if quotient.Big().Cmp(wantQuotient) != 0 || remainder.Big().Cmp(wantRemainder) != 0 {
			t.Fatalf("MulDiv(%s, %s, %s) = %s rem %s, want %s rem %s", x, y, z, quotient,
				remainder, wantQuotient, wantRemainder)
		}
		ceiling, ceilingOK := MulDivCeil(x, y, z)
		wantCeiling := new(big.Int).Set(wantQuotient)
		if wantRemainder.Sign() != 0 {
			wantCeiling.Add(wantCeiling, big.NewInt(1))
		}
		if ceilingOK != (wantCeiling.Cmp(two128) < 0) ||
			(ceilingOK && ceiling.Big().Cmp(wantCeiling) != 0) {
			t.Fatalf("MulDivCeil(%s, %s, %s) = %s (%v), want %s", x, y, z, ceiling, ceilingOK,
				wantCeiling)
		}
	})
}

// TestMulDivCases pins the edges by hand: the largest operands, a quotient of exactly
// 2^128-1, the first quotient that overflows, and division by zero.
func TestMulDivCases(t *testing.T) {
	cases := []struct {
		name           string
		x, y, z        Uint128
		quotient, rest Uint128
		ok             bool
	}{
		{"zero", Uint128{}, Uint128Max, U128(7), Uint128{}, Uint128{}, true},
		{"max times one", Uint128Max, U128(1), U128(1), Uint128Max, Uint128{}, true},
		{"max squared over max", Uint128Max, Uint128Max, Uint128Max, Uint128Max, Uint128{}, true},
		{"max times two over two", Uint128Max, U128(2), U128(2), Uint128Max, Uint128{}, true},
		{"overflow by one", Uint128Max, U128(2), U128(1), Uint128{}, Uint128{}, false},
		{"remainder", U128(10), U128(10), U128(7), U128(14), U128(2), true},
	}
	for _, c := range cases {
		quotient, rest, ok := MulDiv(c.x, c.y, c.z)
		if quotient != c.quotient || rest != c.rest || ok != c.ok {
			t.Errorf("%s: got %s rem %s ok %v", c.name, quotient, rest, ok)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MulDiv by zero did not panic")
		}
	}()
	MulDiv(U128(1), U128(1), Uint128{})
}

func TestPow10(t *testing.T) {
	for exponent := 0; exponent <= Pow10Max; exponent++ {
		value, ok := Pow10(exponent)
		want := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exponent)), nil)
		if !ok || value.Big().Cmp(want) != 0 {
			t.Fatalf("Pow10(%d) = %s, %v", exponent, value, ok)
		}
	}
	for _, exponent := range []int{-1, Pow10Max + 1} {
		if _, ok := Pow10(exponent); ok {
			t.Errorf("Pow10(%d) accepted", exponent)
		}
	}
}
