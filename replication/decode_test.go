package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sequent/wal"
)

// The link's decoders read bytes from the network. These tests hand them every kind of
// malformed input their checks name (mutation testing found most of the checks
// untested), and FuzzLinkDecoders feeds them arbitrary bytes: they must refuse, never
// panic or accept.

// encodedFrame returns one frame as writeFrame writes it.
func encodedFrame(t testing.TB, kind frameType, epoch uint64, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeFrame(w, kind, epoch, body); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFrameChecks: a frame with a wrong magic, version, flag byte, reserved bytes, body
// length or checksum is refused with ErrFrame; the intact frame reads back.
func TestFrameChecks(t *testing.T) {
	good := encodedFrame(t, frameHeartbeat, 7, encodeUint64s(5, 4))
	edit := func(change func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		change(b)
		return b
	}
	for _, c := range []struct {
		name  string
		bytes []byte
	}{
		{"magic", edit(func(b []byte) { b[frameOffsetMagic] ^= 1 })},
		{"version", edit(func(b []byte) { b[frameOffsetVersion]++ })},
		{"flags", edit(func(b []byte) { b[frameOffsetFlags] = 1 })},
		{"reserved", edit(func(b []byte) { b[frameOffsetReserved+7] = 1 })},
		{"length", edit(func(b []byte) {
			binary.LittleEndian.PutUint32(b[frameOffsetLength:], frameBodyBytesMax+1)
		})},
		{"body", edit(func(b []byte) { b[len(b)-1] ^= 1 })},
	} {
		if _, err := newFrameReader(bytes.NewReader(c.bytes)).read(); !errors.Is(err, ErrFrame) {
			t.Fatalf("%s: %v, want ErrFrame", c.name, err)
		}
	}
	f, err := newFrameReader(bytes.NewReader(good)).read()
	if err != nil || f.kind != frameHeartbeat || f.epoch != 7 || !bytes.Equal(f.body, encodeUint64s(5, 4)) {
		t.Fatalf("intact frame: %+v (%v)", f, err)
	}
	var w bytes.Buffer
	if err := writeFrame(bufio.NewWriter(&w), frameEntry, 1, make([]byte, frameBodyBytesMax+1)); err == nil {
		t.Fatal("writeFrame took a body above frameBodyBytesMax")
	}
}

// TestHandshakeMessageChecks: hellos and welcomes that are short, claim a length they do
// not have, carry too many points, a reserved word, reserved bytes or an unknown plan are
// refused; what encode writes decodes to the same message.
func TestHandshakeMessageChecks(t *testing.T) {
	h := hello{lastOp: 9, points: []wal.ChainPoint{{LastOp: 9, Chain: [32]byte{1}}, {LastOp: 7}}}
	hb := h.encodePayload()
	if decoded, err := decodeHello(hb); err != nil || decoded.lastOp != 9 || len(decoded.points) != 2 ||
		decoded.points[0] != h.points[0] {
		t.Fatalf("hello round trip: %+v (%v)", decoded, err)
	}
	w := welcome{plan: planTruncate, op: 12, chain: [32]byte{3}, address: "10.0.0.1:7400"}
	wb := w.encode()
	if decoded, err := decodeWelcome(wb); err != nil || decoded != w {
		t.Fatalf("welcome round trip: %+v (%v)", decoded, err)
	}
	edit := func(b []byte, change func(b []byte) []byte) []byte {
		return change(append([]byte(nil), b...))
	}
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"short", hb[:helloHeaderSize-1]},
		{"fewer points than said", hb[:len(hb)-1]},
		{"more points than said", edit(hb, func(b []byte) []byte { return append(b, make([]byte, 40)...) })},
		{"too many points", edit(hb, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[16:], recentChainsMax+1)
			return append(b, make([]byte, (recentChainsMax-1)*40)...)
		})},
		{"reserved word", edit(hb, func(b []byte) []byte { b[20] = 1; return b })},
	} {
		if _, err := decodeHello(c.body); !errors.Is(err, ErrFrame) {
			t.Fatalf("hello %s: %v, want ErrFrame", c.name, err)
		}
	}
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"short", wb[:49]},
		{"address shorter than said", wb[:len(wb)-1]},
		{"address longer than said", append(append([]byte(nil), wb...), 'x')},
		{"plan 0", edit(wb, func(b []byte) []byte { b[0] = 0; return b })},
		{"plan after snapshot", edit(wb, func(b []byte) []byte { b[0] = byte(planSnapshot) + 1; return b })},
		{"reserved byte", edit(wb, func(b []byte) []byte { b[7] = 1; return b })},
	} {
		if _, err := decodeWelcome(c.body); !errors.Is(err, ErrFrame) {
			t.Fatalf("welcome %s: %v, want ErrFrame", c.name, err)
		}
	}
	if _, err := decodeUint64s(make([]byte, 15), 2); !errors.Is(err, ErrFrame) {
		t.Fatalf("uint64s of the wrong length: %v", err)
	}
}

// TestStandbyHandshakeRefusesOddPrimaries: a standby dialing something that is not a
// well-behaved primary (no challenge, a short one, an answer that is neither a welcome nor
// an error) stops the handshake with ErrFrame; a primary's error frame is reported.
func TestStandbyHandshakeRefusesOddPrimaries(t *testing.T) {
	challenge := append(make([]byte, nonceSize), encodeUint64s(0)...)
	answerWith := func(kind frameType, body []byte) func(w *bufio.Writer, r *frameReader) {
		return func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameChallenge, 1, challenge)
			w.Flush()
			r.read() // The hello.
			writeFrame(w, kind, 1, body)
		}
	}
	cases := []struct {
		name   string
		answer func(w *bufio.Writer, r *frameReader)
		want   error
	}{
		{"no challenge", func(w *bufio.Writer, _ *frameReader) { writeFrame(w, frameWelcome, 1, challenge) }, ErrFrame},
		{"short challenge", func(w *bufio.Writer, _ *frameReader) {
			writeFrame(w, frameChallenge, 1, challenge[:nonceSize])
		}, ErrFrame},
		{"an entry instead of a welcome", answerWith(frameEntry, []byte("x")), ErrFrame},
		{"a malformed welcome", answerWith(frameWelcome, []byte("x")), ErrFrame},
		{"a welcome's body in an entry", answerWith(frameEntry,
			(&welcome{plan: planStream, address: "p:1"}).encode()), ErrFrame},
		{"an error", answerWith(frameError, []byte("go away")), nil},
	}
	answers := make([]func(w *bufio.Writer, r *frameReader), len(cases))
	for i, c := range cases {
		answers[i] = c.answer
	}
	address := scriptedPeer(t, answers...)
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	for _, c := range cases {
		_, err := Dial(context.Background(), StandbyConfig{Address: address, Key: testKey, Log: log, Logger: testLogger}, 1)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		if c.want == nil && !bytes.Contains([]byte(err.Error()), []byte("go away")) {
			t.Fatalf("%s: %v does not carry the primary's message", c.name, err)
		}
	}
}

// TestSnapshotChunkChecks: a snapshot transfer made of anything but consecutive chunks
// is refused, and ReceiveSnapshot leaves no file behind.
func TestSnapshotChunkChecks(t *testing.T) {
	chunk := func(offset uint64, last bool, data string) []byte {
		b := make([]byte, 16, 16+len(data))
		binary.LittleEndian.PutUint64(b, offset)
		if last {
			b[8] = 1
		}
		return append(b, data...)
	}
	for _, c := range []struct {
		name   string
		frames [][2]any // kind, body
	}{
		{"not a chunk", [][2]any{{frameEntry, chunk(0, true, "x")}}},
		{"short chunk", [][2]any{{frameSnapshotChunk, make([]byte, 15)}}},
		{"gap", [][2]any{{frameSnapshotChunk, chunk(0, false, "abc")}, {frameSnapshotChunk, chunk(4, true, "d")}}},
	} {
		client, server := net.Pipe()
		go func() {
			w := bufio.NewWriter(server)
			for _, f := range c.frames {
				writeFrame(w, f[0].(frameType), 1, f[1].([]byte))
			}
			w.Flush()
			server.Close()
		}()
		link := &Link{conn: client, reader: newFrameReader(client), Welcome: welcome{op: 5}}
		dir := t.TempDir()
		if _, err := link.ReceiveSnapshot(dir); err == nil {
			t.Fatalf("%s: a snapshot was received", c.name)
		}
		client.Close()
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("%s: %s left behind", c.name, filepath.Join(dir, entries[0].Name()))
		}
	}
}

// FuzzLinkDecoders: arbitrary bytes through the frame reader and the handshake decoders
// never panic, and whatever they accept encodes back to the same bytes.
func FuzzLinkDecoders(f *testing.F) {
	f.Add(encodedFrame(f, frameHeartbeat, 7, encodeUint64s(5, 4)))
	f.Add((&hello{lastOp: 3, points: []wal.ChainPoint{{LastOp: 3}}}).encodePayload())
	f.Add((&welcome{plan: planStream, op: 3, address: "a:1"}).encode())
	f.Add(leaseRequest{kind: leaseRenew, epoch: 2, node: "a:1"}.encode())
	f.Add(leaseAnswer{granted: true, holder: "a:1", epoch: 2, valid: time.Second}.encode())
	f.Add(encodeEarlierWitnessRefusal("a:1", 2, -time.Second))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fr, err := newFrameReader(bytes.NewReader(data)).read(); err == nil {
			again := encodedFrame(t, fr.kind, fr.epoch, fr.body)
			if !bytes.HasPrefix(data, again) {
				t.Fatal("an accepted frame does not encode back to its bytes")
			}
		}
		if h, err := decodeHello(data); err == nil && !bytes.Equal(h.encodePayload(), data) {
			t.Fatal("an accepted hello does not encode back to its bytes")
		}
		if w, err := decodeWelcome(data); err == nil && !bytes.Equal(w.encode(), data) {
			t.Fatal("an accepted welcome does not encode back to its bytes")
		}
		if r, err := decodeLeaseRequest(data); err == nil && !bytes.Equal(r.encode(), data) {
			t.Fatal("an accepted lease request does not encode back to its bytes")
		}
		if a, err := decodeLeaseAnswer(data); err == nil && !bytes.Equal(a.encode(), data) &&
			!(data[0] == 0 && int64(binary.LittleEndian.Uint64(data[leaseReplyValidOffset:])) < 0) {
			// (An earlier witness's negative wait in a refusal is read, as 0.)
			t.Fatal("an accepted lease reply does not encode back to its bytes")
		}
	})
}
