package model

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
)

// Uint128 is an unsigned 128-bit integer used for ids, amounts and balances.
//
// The field order (Lo first) matches the little-endian byte order of the wire and disk
// records, so a Uint128 inside a record struct has the same layout in memory as on the wire.
// Arithmetic that can overflow reports it instead of wrapping: money must never wrap.
type Uint128 struct {
	Lo uint64 // Lo holds bits 0..63.
	Hi uint64 // Hi holds bits 64..127.
}

// Uint128Max is 2^128-1. As an id it is reserved; as a post amount it means "the full
// pending amount".
var Uint128Max = Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

// U128 returns v as a Uint128.
func U128(v uint64) Uint128 { return Uint128{Lo: v} }

// IsZero reports whether x == 0.
func (x Uint128) IsZero() bool { return x.Lo|x.Hi == 0 }

// IsMax reports whether x == 2^128-1.
func (x Uint128) IsMax() bool { return x.Lo&x.Hi == ^uint64(0) }

// Cmp returns -1, 0 or +1 as x is less than, equal to or greater than y.
func (x Uint128) Cmp(y Uint128) int {
	switch {
	case x.Hi < y.Hi:
		return -1
	case x.Hi > y.Hi:
		return 1
	case x.Lo < y.Lo:
		return -1
	case x.Lo > y.Lo:
		return 1
	}
	return 0
}

// Less reports whether x < y.
func (x Uint128) Less(y Uint128) bool {
	return x.Hi < y.Hi || (x.Hi == y.Hi && x.Lo < y.Lo)
}

// AddOverflows reports whether x + y does not fit in 128 bits.
func (x Uint128) AddOverflows(y Uint128) bool {
	_, carry := bits.Add64(x.Lo, y.Lo, 0)
	_, carry = bits.Add64(x.Hi, y.Hi, carry)
	return carry != 0
}

// Add returns x + y and whether the sum overflowed (in which case the sum is wrapped and
// must not be used).
func (x Uint128) Add(y Uint128) (sum Uint128, overflow bool) {
	var carry uint64
	sum.Lo, carry = bits.Add64(x.Lo, y.Lo, 0)
	sum.Hi, carry = bits.Add64(x.Hi, y.Hi, carry)
	return sum, carry != 0
}

// Sub returns x - y and whether it underflowed (y > x).
func (x Uint128) Sub(y Uint128) (difference Uint128, underflow bool) {
	var borrow uint64
	difference.Lo, borrow = bits.Sub64(x.Lo, y.Lo, 0)
	difference.Hi, borrow = bits.Sub64(x.Hi, y.Hi, borrow)
	return difference, borrow != 0
}

// MustAdd returns x + y and panics on overflow. Use it only where an earlier check or an
// invariant proves that the sum fits: a panic here is a bug, not a business outcome.
// Its panic value (addOverflow) is formatted only when printed, which keeps MustAdd
// small enough to inline: the ledger makes several such sums per transfer.
func (x Uint128) MustAdd(y Uint128) Uint128 {
	sum, overflow := x.Add(y)
	if overflow {
		panic(addOverflow{X: x, Y: y})
	}
	return sum
}

// MustSub returns x - y and panics on underflow, for the same reasons as MustAdd (its
// panic value is a subUnderflow).
func (x Uint128) MustSub(y Uint128) Uint128 {
	difference, underflow := x.Sub(y)
	if underflow {
		panic(subUnderflow{X: x, Y: y})
	}
	return difference
}

// addOverflow is MustAdd's panic value: X + Y does not fit in 128 bits.
type addOverflow struct{ X, Y Uint128 }

func (e addOverflow) Error() string {
	return fmt.Sprintf("model: Uint128 add overflow: %s + %s", e.X, e.Y)
}

// subUnderflow is MustSub's panic value: Y is greater than X.
type subUnderflow struct{ X, Y Uint128 }

func (e subUnderflow) Error() string {
	return fmt.Sprintf("model: Uint128 sub underflow: %s - %s", e.X, e.Y)
}

// SaturatingSub returns x - y, or 0 when y > x.
func (x Uint128) SaturatingSub(y Uint128) Uint128 {
	difference, underflow := x.Sub(y)
	if underflow {
		return Uint128{}
	}
	return difference
}

// Min returns the smaller of x and y.
func (x Uint128) Min(y Uint128) Uint128 {
	if y.Less(x) {
		return y
	}
	return x
}

// Mul64 returns x * y and whether the product overflowed 128 bits.
func (x Uint128) Mul64(y uint64) (product Uint128, overflow bool) {
	highOfLow, low := bits.Mul64(x.Lo, y)
	highOfHigh, lowOfHigh := bits.Mul64(x.Hi, y)
	hi, carry := bits.Add64(highOfLow, lowOfHigh, 0)
	return Uint128{Lo: low, Hi: hi}, highOfHigh != 0 || carry != 0
}

// DivMod64 returns x / y and x % y. It panics when y == 0.
func (x Uint128) DivMod64(y uint64) (quotient Uint128, remainder uint64) {
	if y == 0 {
		panic("model: Uint128 division by zero")
	}
	quotient.Hi = x.Hi / y
	quotient.Lo, remainder = bits.Div64(x.Hi%y, x.Lo, y)
	return quotient, remainder
}

// PutLE writes x into b[0:16] in little-endian order.
func (x Uint128) PutLE(b []byte) {
	_ = b[15]
	binary.LittleEndian.PutUint64(b[0:8], x.Lo)
	binary.LittleEndian.PutUint64(b[8:16], x.Hi)
}

// Append appends x's 16 little-endian bytes to b (for building id lists).
func (x Uint128) Append(b []byte) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(b, x.Lo), x.Hi)
}

// Uint128LE reads a little-endian Uint128 from b[0:16].
func Uint128LE(b []byte) Uint128 {
	_ = b[15]
	return Uint128{Lo: binary.LittleEndian.Uint64(b[0:8]), Hi: binary.LittleEndian.Uint64(b[8:16])}
}

// Big returns x as a big.Int, for printing and for tests; never on a hot path.
func (x Uint128) Big() *big.Int {
	value := new(big.Int).SetUint64(x.Hi)
	value.Lsh(value, 64)
	return value.Or(value, new(big.Int).SetUint64(x.Lo))
}

// AppendDecimal appends x in decimal to b without allocating (for encoders on hot paths).
func (x Uint128) AppendDecimal(b []byte) []byte {
	if x.Hi == 0 {
		return strconv.AppendUint(b, x.Lo, 10)
	}
	const chunk = 10_000_000_000_000_000_000 // 10^19: the largest power of ten in a u64.
	high, low := x.DivMod64(chunk)
	b = high.AppendDecimal(b)
	var digits [19]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + low%10)
		low /= 10
	}
	return append(b, digits[:]...)
}

// String formats x in decimal.
func (x Uint128) String() string {
	if x.Hi == 0 {
		return fmt.Sprintf("%d", x.Lo)
	}
	return x.Big().String()
}

// ParseUint128 parses a decimal or 0x-prefixed hexadecimal number: decimal digits
// (leading zeros are decimal: "010" is ten), or "0x"/"0X" and hexadecimal digits, and
// nothing else — no sign, space, underscore, exponent, or other base prefix (big.Int's
// base 0 would read "010" as octal and take "0b11", "1_000", "+5").
func ParseUint128(text string) (Uint128, error) {
	digits, base := text, 10
	if len(text) > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') {
		digits, base = text[2:], 16
	}
	valid := len(digits) > 0
	for i := 0; i < len(digits) && valid; i++ {
		c := digits[i]
		valid = c >= '0' && c <= '9' ||
			base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
	}
	var value *big.Int
	ok := false
	if valid {
		value, ok = new(big.Int).SetString(digits, base)
	}
	if !ok || value.BitLen() > 128 {
		return Uint128{}, fmt.Errorf("model: %q is not an unsigned 128-bit number", text)
	}
	var mask big.Int
	mask.SetUint64(^uint64(0))
	lo := new(big.Int).And(value, &mask).Uint64()
	hi := new(big.Int).Rsh(value, 64).Uint64()
	return Uint128{Lo: lo, Hi: hi}, nil
}
