package wire

import (
	"bytes"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to the frame decoder twice: whole, and split at a
// point the fuzzer chooses. Both runs must produce the same frames and the same verdict,
// the decoder must never panic, and every frame it returns must re-encode to the bytes
// it came from (so no field is silently dropped or altered).
func FuzzDecoder(f *testing.F) {
	f.Add(AppendFrame(nil, &Frame{Kind: KindHeartbeat}, nil), uint16(3))
	f.Add(AppendFrame(nil, &Frame{Kind: KindRequest, Operation: 2, Session: 1, Number: 1},
		make([]byte, 128)), uint16(50))
	f.Add(AppendFrame(AppendFrame(nil, &Frame{Kind: KindLogout}, nil),
		&Frame{Kind: KindError, Status: 1001}, []byte("bad magic")), uint16(48))
	login := make([]byte, LoginSize)
	f.Add(AppendFrame(nil, &Frame{Kind: KindLogin, Session: 4}, login), uint16(60))
	f.Add([]byte("SQNT\x01\x06\x02\x00\xff\xff\xff\xff"), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := decodeAll(t, [][]byte{data})
		at := int(split) % (len(data) + 1)
		parts := decodeAll(t, [][]byte{data[:at], data[at:]})
		if whole.verdict != parts.verdict || len(whole.frames) != len(parts.frames) {
			t.Fatalf("whole %q/%d frames, split at %d %q/%d frames", whole.verdict,
				len(whole.frames), at, parts.verdict, len(parts.frames))
		}
		offset := 0
		for i := range whole.frames {
			if !bytes.Equal(whole.frames[i], parts.frames[i]) {
				t.Fatalf("frame %d differs between whole and split", i)
			}
			if !bytes.Equal(whole.frames[i], data[offset:offset+len(whole.frames[i])]) {
				t.Fatalf("frame %d does not re-encode to its input bytes", i)
			}
			offset += len(whole.frames[i])
		}
	})
}

type decoded struct {
	frames  [][]byte // Each frame re-encoded from its decoded fields.
	verdict string   // How the stream ended.
}

func decodeAll(t *testing.T, parts [][]byte) decoded {
	var decoder Decoder
	var result decoded
	for _, part := range parts {
		decoder.Write(part)
		for {
			frame, ok, err := decoder.Next()
			if err != nil || !ok {
				break
			}
			if int(frame.BodyLength) != len(frame.Body) {
				t.Fatalf("body length %d, body %d bytes", frame.BodyLength, len(frame.Body))
			}
			result.frames = append(result.frames, AppendFrame(nil, &frame, frame.Body))
		}
	}
	if err := decoder.End(); err != nil {
		result.verdict = err.Error()
	}
	return result
}
