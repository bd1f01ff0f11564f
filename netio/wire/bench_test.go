package wire

import (
	"testing"

	"sequent/core/model"
)

// benchmarkBodies are a one-transfer request and the largest request (8189 transfers).
var benchmarkBodies = []struct {
	name string
	body []byte
}{
	{"1_transfer", make([]byte, model.TransferSize)},
	{"8189_transfers", make([]byte, model.RequestBodyBytesMax)},
}

// BenchmarkEncodeFrame measures PutFrame (header plus CRC32C over the body) into a
// reused buffer; it must not allocate.
func BenchmarkEncodeFrame(b *testing.B) {
	for _, c := range benchmarkBodies {
		b.Run(c.name, func(b *testing.B) {
			buffer := make([]byte, HeaderSize+len(c.body))
			copy(buffer[HeaderSize:], c.body)
			frame := Frame{Kind: KindRequest, Operation: 2, Session: 1}
			b.SetBytes(int64(len(buffer)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				frame.Number = uint64(i + 1)
				PutFrame(buffer, &frame, len(c.body))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkDecodeFrame measures the stream decoder on a buffer of back-to-back frames:
// header checks plus CRC32C verification, without copying bodies.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, c := range benchmarkBodies {
		b.Run(c.name, func(b *testing.B) {
			const framesPerStream = 64
			var stream []byte
			for i := 0; i < framesPerStream; i++ {
				stream = AppendFrame(stream, &Frame{Kind: KindRequest, Operation: 2,
					Session: 1, Number: uint64(i + 1)}, c.body)
			}
			decoder := Decoder{buffer: stream}
			b.SetBytes(int64(len(stream) / framesPerStream))
			b.ReportAllocs()
			for b.Loop() {
				if decoder.Buffered() == 0 {
					decoder.start, decoder.end = 0, len(stream)
				}
				if _, ok, err := decoder.Next(); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
