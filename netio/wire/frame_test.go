package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"sequent/core/model"
)

// TestFrameRoundTrip encodes frames of every kind with random header fields and bodies of
// legal sizes, decodes them through the stream decoder, and checks every field comes
// back. It then flips each header byte in turn and checks the frame is refused.
func TestFrameRoundTrip(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for _, kind := range Kinds() {
		bodyBytesMax, fixed := BodyBytesMaxOf(kind)
		for trial := 0; trial < 20; trial++ {
			length := int(bodyBytesMax)
			if !fixed {
				length = random.IntN(min(int(bodyBytesMax), 4096) + 1)
			}
			body := make([]byte, length)
			for i := range body {
				body[i] = byte(random.Uint32())
			}
			want := Frame{Kind: kind, Operation: model.Operation(random.Uint32()),
				Flags: uint8(random.Uint32()), Status: random.Uint32(),
				Session: random.Uint64(), Number: random.Uint64(), Aux: random.Uint64()}
			encoded := AppendFrame(nil, &want, body)
			if len(encoded) != HeaderSize+length {
				t.Fatalf("%s: encoded %d bytes, want %d", kind, len(encoded), HeaderSize+length)
			}
			var decoder Decoder
			decoder.Write(encoded)
			got, ok, err := decoder.Next()
			if err != nil || !ok {
				t.Fatalf("%s: decode: ok %v err %v", kind, ok, err)
			}
			want.BodyLength = uint32(length)
			want.Body = got.Body
			if !sameHeader(got, want) || !bytes.Equal(got.Body, body) {
				t.Fatalf("%s: got %+v want %+v", kind, got, want)
			}
			if err := decoder.End(); err != nil {
				t.Fatalf("%s: end: %v", kind, err)
			}
		}
	}
}

// TestFrameCorruption shows that every single-byte change in a frame (header or body) is
// refused: most by the checksum, the rest by the header checks before it.
func TestFrameCorruption(t *testing.T) {
	body := []byte("some body bytes")
	frame := AppendFrame(nil, &Frame{Kind: KindError, Status: 1001, Session: 7, Number: 9},
		body)
	for i := range frame {
		corrupt := bytes.Clone(frame)
		corrupt[i] ^= 0x10
		var decoder Decoder
		decoder.Write(corrupt)
		_, ok, err := decoder.Next()
		if ok {
			t.Fatalf("byte %d flipped: frame accepted", i)
		}
		if err == nil && decoder.End() == nil {
			t.Fatalf("byte %d flipped: neither error nor truncation", i)
		}
	}
}

// TestDecodeHeaderErrors names each header fault and the error code the server answers.
func TestDecodeHeaderErrors(t *testing.T) {
	good := AppendFrame(nil, &Frame{Kind: KindHeartbeat}, nil)
	cases := []struct {
		name   string
		mutate func(b []byte)
		want   error
		code   ErrorCode
	}{
		{"magic", func(b []byte) { b[0] = 'X' }, ErrBadMagic, ErrorBadMagic},
		{"version", func(b []byte) { b[offsetVersion] = 2 }, ErrBadVersion, ErrorBadVersion},
		{"kind zero", func(b []byte) { b[offsetKind] = 0 }, ErrUnknownKind, ErrorUnknownKind},
		{"kind high", func(b []byte) { b[offsetKind] = 200 }, ErrUnknownKind, ErrorUnknownKind},
		{"reserved", func(b []byte) { b[offsetReserved+3] = 1 }, ErrReservedNotZero,
			ErrorReservedNotZero},
		{"fixed length", func(b []byte) {
			binary.LittleEndian.PutUint32(b[offsetBodyLength:], 1)
		}, ErrBadBodyLength, ErrorBadBodyLength},
		{"too large", func(b []byte) {
			b[offsetKind] = byte(KindRequest)
			binary.LittleEndian.PutUint32(b[offsetBodyLength:], model.RequestBodyBytesMax+1)
		}, ErrBodyTooLarge, ErrorFrameTooLarge},
		{"reply too large", func(b []byte) {
			b[offsetKind] = byte(KindReply)
			binary.LittleEndian.PutUint32(b[offsetBodyLength:], 1<<31)
		}, ErrBodyTooLarge, ErrorFrameTooLarge},
	}
	for _, c := range cases {
		b := bytes.Clone(good)
		c.mutate(b)
		_, err := DecodeHeader(b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		var into Frame
		if errInto := DecodeHeaderInto(b, &into); errInto != err {
			t.Errorf("%s: DecodeHeaderInto %v, DecodeHeader %v", c.name, errInto, err)
		}
		if CodeOf(err) != c.code {
			t.Errorf("%s: code %s, want %s", c.name, CodeOf(err), c.code)
		}
	}
	if _, err := DecodeHeader(good); err != nil {
		t.Fatalf("good header: %v", err)
	}
	largest := AppendFrame(nil, &Frame{Kind: KindReply}, make([]byte, BodyBytesMax))
	if _, err := DecodeHeader(largest); err != nil {
		t.Fatalf("largest reply: %v", err)
	}
}

// TestDecodeHeaderIntoOverwritesEveryField: the server decodes every frame of a read
// into one Frame (DecodeHeaderInto); each header field must be the new frame's, whatever
// the previous frame left there, and the Body must be left as it was. Method: a frame
// with every header field set to one value, decoded into a Frame holding other values
// in every field; the result must equal DecodeHeader's with the old Body.
func TestDecodeHeaderIntoOverwritesEveryField(t *testing.T) {
	sent := Frame{Kind: KindReply, Operation: model.OperationCreateTransfers, Flags: 1,
		Status: 7, Session: 11, Number: 13, Aux: 17}
	encoded := AppendFrame(nil, &sent, make([]byte, 24))
	want, err := DecodeHeader(encoded)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("kept")
	got := Frame{Kind: KindRequest, Operation: model.OperationLookupAccounts, Flags: 2,
		Status: 3, Session: 5, Number: 6, Aux: 9, BodyLength: 128, Body: body}
	if err := DecodeHeaderInto(encoded, &got); err != nil {
		t.Fatal(err)
	}
	if &got.Body[0] != &body[0] || len(got.Body) != len(body) {
		t.Fatalf("Body changed: %q", got.Body)
	}
	got.Body = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeHeaderInto %+v, DecodeHeader %+v", got, want)
	}
}

// TestDecoderSplits feeds a stream of several frames one byte at a time and in random
// chunks, and checks the same frames come out; a stream cut inside a frame reports
// truncation.
func TestDecoderSplits(t *testing.T) {
	var stream []byte
	var want []Frame
	for i := 0; i < 20; i++ {
		f := Frame{Kind: KindRequest, Operation: 2, Session: 3, Number: uint64(i + 1)}
		body := bytes.Repeat([]byte{byte(i)}, i*128)
		stream = AppendFrame(stream, &f, body)
		f.BodyLength = uint32(len(body))
		want = append(want, f)
	}
	random := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		var decoder Decoder
		var got []Frame
		for offset := 0; offset < len(stream); {
			chunk := 1 + random.IntN(300)
			if trial == 0 {
				chunk = 1
			}
			end := min(offset+chunk, len(stream))
			decoder.Write(stream[offset:end])
			offset = end
			for {
				f, ok, err := decoder.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if f.BodyLength > 0 && f.Body[0] != byte(f.Number-1) {
					t.Fatalf("frame %d: body byte %d", f.Number, f.Body[0])
				}
				f.Body = nil
				got = append(got, f)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d frames, want %d", trial, len(got), len(want))
		}
		for i := range got {
			if !sameHeader(got[i], want[i]) {
				t.Fatalf("frame %d: %+v want %+v", i, got[i], want[i])
			}
		}
	}
	var decoder Decoder
	decoder.Write(stream[HeaderSize : 2*HeaderSize+5]) // Frame 1 (frame 0 has no body).
	if _, ok, err := decoder.Next(); ok || err != nil {
		t.Fatalf("partial frame: ok %v err %v", ok, err)
	}
	if !errors.Is(decoder.End(), ErrTruncated) {
		t.Fatalf("end: %v", decoder.End())
	}
}

// TestLoginSignature pins the signed message: a change to any input changes the
// signature, and the known-answer value guards the byte order against regressions.
func TestLoginSignature(t *testing.T) {
	secret := bytes.Repeat([]byte{0x11}, 32)
	var nonce [NonceSize]byte
	for i := range nonce {
		nonce[i] = byte(i)
	}
	base := Sign(secret, &nonce, 1, 2, 0, 3)
	variants := [][SignatureSize]byte{
		Sign(secret[:31], &nonce, 1, 2, 0, 3),
		Sign(secret, &nonce, 9, 2, 0, 3),
		Sign(secret, &nonce, 1, 9, 0, 3),
		Sign(secret, &nonce, 1, 2, 1, 3),
		Sign(secret, &nonce, 1, 2, 0, 9),
	}
	for i, v := range variants {
		if v == base {
			t.Fatalf("variant %d signs the same", i)
		}
	}
	var login Login
	login.Client, login.Key, login.Signature = 1, 2, base
	b := make([]byte, LoginSize)
	login.Encode(b)
	var back Login
	back.Decode(b)
	if back != login {
		t.Fatalf("login round trip: %+v", back)
	}
}

// TestBodiesRoundTrip checks the fixed bodies encode and decode every field.
func TestBodiesRoundTrip(t *testing.T) {
	challenge := Challenge{HeartbeatIntervalMs: 1000, SilenceTimeoutMs: 15000}
	challenge.Nonce[0], challenge.Nonce[31] = 1, 2
	b := make([]byte, ChallengeSize)
	challenge.Encode(b)
	var challengeBack Challenge
	challengeBack.Decode(b)
	accepted := LoginAccepted{Client: 5, Permissions: PermissionRead | PermissionTrade,
		Options: LoginCancelOnDisconnect, Epoch: 9}
	b = make([]byte, LoginAcceptedSize)
	accepted.Encode(b)
	var acceptedBack LoginAccepted
	acceptedBack.Decode(b)
	subscribe := Subscribe{FromSequence: 77}
	b = make([]byte, SubscribeSize)
	subscribe.Encode(b)
	var subscribeBack Subscribe
	subscribeBack.Decode(b)
	subscribed := Subscribed{OldestSequence: 3, ReplayedThrough: 99}
	b = make([]byte, SubscribedSize)
	subscribed.Encode(b)
	var subscribedBack Subscribed
	subscribedBack.Decode(b)
	if challengeBack != challenge || acceptedBack != accepted ||
		subscribeBack != subscribe || subscribedBack != subscribed {
		t.Fatal("a body did not round-trip")
	}
}

// TestErrorCodeNames checks that every code has a distinct name and stays clear of the
// model.Status range.
func TestErrorCodeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, code := range ErrorCodes() {
		name := code.String()
		if name == "" || seen[name] {
			t.Fatalf("code %d: name %q missing or repeated", code, name)
		}
		seen[name] = true
		if code < 1000 || model.Status(code).Known() {
			t.Fatalf("code %d collides with model statuses", code)
		}
	}
	if ErrorCode(999).Known() || ErrorCode(errorCodeEnd).Known() {
		t.Fatal("codes outside the table are known")
	}
}

// sameHeader compares every field of two frames except the body.
func sameHeader(a, b Frame) bool {
	a.Body, b.Body = nil, nil
	return a.Kind == b.Kind && a.Operation == b.Operation && a.Flags == b.Flags &&
		a.Status == b.Status && a.Session == b.Session && a.Number == b.Number &&
		a.Aux == b.Aux && a.BodyLength == b.BodyLength
}

// TestChecksumAlgorithm pins the CRC as PROTOCOL.md states it: CRC-32C, whose check value
// over "123456789" is 0xE3069283.
func TestChecksumAlgorithm(t *testing.T) {
	if got := checksum([]byte("1234"), []byte("56789")); got != 0xE3069283 {
		t.Fatalf("CRC32C check value %#x", got)
	}
}
