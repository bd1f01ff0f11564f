package model

import "math/bits"

// MulDiv returns floor(x·y / z) and the remainder x·y mod z, computed exactly: the
// product is kept in 256 bits, so nothing is lost however large x and y are. ok is false
// when the quotient does not fit in 128 bits (the results are then zero). It panics when
// z is 0 (a caller's bug: a rate or a scale of zero is refused before it gets here).
//
// Currency conversion uses it: amount × numerator ÷ denominator, where the product of a
// 128-bit amount and a rate's numerator routinely exceeds 128 bits.
func MulDiv(x, y, z Uint128) (quotient, remainder Uint128, ok bool) {
	if z.IsZero() {
		panic("model: MulDiv by zero")
	}
	high, low := mul128(x, y)
	if !high.Less(z) {
		return Uint128{}, Uint128{}, false // The quotient would need more than 128 bits.
	}
	// Long division of high·2^128 + low by z, one bit of low at a time. The running
	// remainder stays below z, so after a shift it is below 2z < 2^129: the bit shifted
	// out of its top word is kept in carry, and subtracting z then fits in 128 bits.
	remainder = high
	for i := 127; i >= 0; i-- {
		carry := remainder.Hi >> 63
		remainder = Uint128{Lo: remainder.Lo << 1, Hi: remainder.Hi<<1 | remainder.Lo>>63}
		remainder.Lo |= bitAt(low, i)
		quotient = Uint128{Lo: quotient.Lo << 1, Hi: quotient.Hi<<1 | quotient.Lo>>63}
		if carry != 0 || !remainder.Less(z) {
			remainder, _ = remainder.Sub(z) // Wraps exactly when carry is set.
			quotient.Lo |= 1
		}
	}
	return quotient, remainder, true
}

// MulDivCeil returns ceil(x·y / z), with ok false when it does not fit in 128 bits.
func MulDivCeil(x, y, z Uint128) (quotient Uint128, ok bool) {
	quotient, remainder, ok := MulDiv(x, y, z)
	if !ok || remainder.IsZero() {
		return quotient, ok
	}
	quotient, overflow := quotient.Add(U128(1))
	return quotient, !overflow
}

// mul128 returns the 256-bit product x·y as its high and low 128-bit halves.
func mul128(x, y Uint128) (high, low Uint128) {
	// Schoolbook multiplication on 64-bit limbs: (a1·2^64 + a0)(b1·2^64 + b0).
	h00, l00 := bits.Mul64(x.Lo, y.Lo)
	h01, l01 := bits.Mul64(x.Lo, y.Hi)
	h10, l10 := bits.Mul64(x.Hi, y.Lo)
	h11, l11 := bits.Mul64(x.Hi, y.Hi)
	// Limb 1: h00 + l01 + l10, carrying into limb 2.
	limb1, carry1 := bits.Add64(h00, l01, 0)
	limb1, carry2 := bits.Add64(limb1, l10, 0)
	// Limb 2: h01 + h10 + l11 + carries, carrying into limb 3.
	limb2, carry3 := bits.Add64(h01, h10, 0)
	limb2, carry4 := bits.Add64(limb2, l11, 0)
	limb2, carry5 := bits.Add64(limb2, carry1+carry2, 0)
	limb3 := h11 + carry3 + carry4 + carry5 // Cannot overflow: the product fits 256 bits.
	return Uint128{Lo: limb2, Hi: limb3}, Uint128{Lo: l00, Hi: limb1}
}

// bitAt returns bit i (0 = least significant) of x as 0 or 1.
func bitAt(x Uint128, i int) uint64 {
	if i >= 64 {
		return x.Hi >> (i - 64) & 1
	}
	return x.Lo >> i & 1
}

// Pow10 returns 10^exponent for exponent 0..38 (10^38 is the largest power of ten below
// 2^128) and false beyond.
func Pow10(exponent int) (Uint128, bool) {
	if exponent < 0 || exponent > Pow10Max {
		return Uint128{}, false
	}
	value := U128(1)
	for range exponent {
		value, _ = value.Mul64(10) // Cannot overflow up to 10^38.
	}
	return value, true
}

// Pow10Max is the largest exponent Pow10 accepts.
const Pow10Max = 38
