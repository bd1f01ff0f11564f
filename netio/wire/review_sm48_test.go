package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestDecodeHeaderShortAndFixedShortBody: the two header faults TestDecodeHeaderErrors
// leaves out, through both decoders. A header of fewer than HeaderSize bytes must be
// refused with ErrShortHeaderBytes (not a panic on the bounds check behind it); a kind of
// fixed body size with a body declared shorter than that size (a 47-byte login) must be
// refused with ErrBadBodyLength, as a longer one is: the server decodes a login body of
// exactly LoginSize bytes. Method: the header of a good login, cut by one byte, and with
// its body length lowered by one.
func TestDecodeHeaderShortAndFixedShortBody(t *testing.T) {
	good := AppendFrame(nil, &Frame{Kind: KindLogin}, make([]byte, LoginSize))
	if _, err := DecodeHeader(good); err != nil {
		t.Fatalf("good login header: %v", err)
	}
	short := good[:HeaderSize-1]
	fixedShort := bytes.Clone(good)
	binary.LittleEndian.PutUint32(fixedShort[offsetBodyLength:], LoginSize-1)
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", short, ErrShortHeaderBytes},
		{"fixed kind, body one byte short", fixedShort, ErrBadBodyLength},
	} {
		if _, err := DecodeHeader(c.b); err != c.want {
			t.Errorf("%s: DecodeHeader %v, want %v", c.name, err, c.want)
		}
		var into Frame
		if err := DecodeHeaderInto(c.b, &into); err != c.want {
			t.Errorf("%s: DecodeHeaderInto %v, want %v", c.name, err, c.want)
		}
	}
}

// TestBodyBytesMaxOfUndefinedKinds: BodyBytesMaxOf answers 0 and not fixed for every
// kind number that is not defined (0, the gaps between the ranges, and above the last),
// and the defined kinds' bounds for the others. Method: all 256 kind numbers.
func TestBodyBytesMaxOfUndefinedKinds(t *testing.T) {
	defined := map[Kind]bool{}
	for _, kind := range Kinds() {
		defined[kind] = true
	}
	for value := range 256 {
		kind := Kind(value)
		bodyBytesMax, fixed := BodyBytesMaxOf(kind)
		if defined[kind] {
			if want := kindShapes[kind]; bodyBytesMax != want.bodyBytesMax ||
				fixed != want.bodyBytesFixed {
				t.Errorf("kind %d: %d, %v; want %d, %v", value, bodyBytesMax, fixed,
					want.bodyBytesMax, want.bodyBytesFixed)
			}
			continue
		}
		if bodyBytesMax != 0 || fixed || kind.Known() {
			t.Errorf("undefined kind %d: %d, %v, known %v; want 0, false, false", value,
				bodyBytesMax, fixed, kind.Known())
		}
	}
}
