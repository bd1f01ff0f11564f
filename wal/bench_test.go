package wal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"sequent/core/model"
)

// benchTransfersPerBody is the largest request batch (model.EventsPerRequestMax): the
// sequencer logs one entry per batch, so this is the entry the log sees at full load.
const benchTransfersPerBody = model.EventsPerRequestMax

// benchBodies returns count bodies of benchTransfersPerBody realistic transfers with
// sequential ids.
func benchBodies(count int) [][]byte {
	r := newRand(42)
	bodies := make([][]byte, count)
	for i := range bodies {
		bodies[i] = transfersBody(r, uint64(1+i*benchTransfersPerBody), benchTransfersPerBody)
	}
	return bodies
}

// BenchmarkAppend appends full batches with SyncEvery and reports raw MB/s (SetBytes),
// transfers/s and the compression ratio. Compare with BenchmarkRawWriteFdatasync from the
// same run: it writes the same raw bytes per op straight to a preallocated file.
func BenchmarkAppend(b *testing.B) {
	bodies := benchBodies(16)
	cases := []struct {
		name     string
		codec    Codec
		encoders int
	}{
		{"codec=auto/encoders=2", CodecAuto, 2},
		{"codec=auto/encoders=1", CodecAuto, 1},
		{"codec=auto/encoders=2/depth=8", CodecAuto, 2},
		{"codec=none/encoders=2", CodecNone, 2},
		{"codec=zstd/encoders=2", CodecZstd, 2},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			depth := 0 // the default
			if strings.HasSuffix(c.name, "depth=8") {
				depth = 8
			}
			l, err := Open(Options{Dir: b.TempDir(), Compression: c.codec, EncoderCount: c.encoders,
				PipelineDepth: depth, Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(bodies[0])))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				op := uint64(i + 1)
				e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: bodies[i%len(bodies)]}
				if err := l.Append(e); err != nil {
					b.Fatal(err)
				}
			}
			for l.Durable() < uint64(b.N) {
				<-l.DurableNotify()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			stats := l.Stats()
			b.ReportMetric(float64(b.N*benchTransfersPerBody)/elapsed.Seconds(), "transfers/s")
			b.ReportMetric(float64(stats.RawBytes)/float64(stats.StoredBytes), "ratio")
			b.ReportMetric(float64(stats.Entries)/float64(stats.Syncs), "entries/sync")
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppendLatency appends one small entry (one 128-byte transfer, stored raw) and
// waits until it is durable, as a lone request at low load does; reports p50 and p99 of
// Append-to-Durable in ns (one write+fdatasync plus two goroutine hand-offs).
func BenchmarkAppendLatency(b *testing.B) {
	body := transfersBody(newRand(1), 1, 1)
	l, err := Open(Options{Dir: b.TempDir(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	latencies := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		op := uint64(i + 1)
		start := time.Now()
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}
		if err := l.Append(e); err != nil {
			b.Fatal(err)
		}
		for l.Durable() < op {
			<-l.DurableNotify()
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2]), "p50-ns")
	b.ReportMetric(float64(latencies[len(latencies)*99/100]), "p99-ns")
}

// BenchmarkRawWriteFdatasync is the disk's ceiling for BenchmarkAppend: each op writes
// one raw batch (the same bytes per op) into a zero-filled preallocated file and
// fdatasyncs, with no compression, hashing or pipeline.
func BenchmarkRawWriteFdatasync(b *testing.B) {
	body := benchBodies(1)[0]
	file, size := preallocatedFile(b, b.TempDir(), "raw", int64(len(body))*256, false)
	defer file.Close()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	offset := int64(0)
	for range b.N {
		if offset+int64(len(body)) > size {
			offset = 0
		}
		if _, err := file.WriteAt(body, offset); err != nil {
			b.Fatal(err)
		}
		if err := syncData(file); err != nil {
			b.Fatal(err)
		}
		offset += int64(len(body))
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*benchTransfersPerBody)/elapsed.Seconds(), "transfers/s")
}

// BenchmarkAppendVsRaw alternates rounds of 64 Appends (SyncEvery, defaults) and 64 raw
// write+fdatasync of the same bytes, so that both see the same machine load (this VM is
// shared and noisy), and reports both throughputs and their ratio, the figure the goal
// (Append >= 0.8 x raw) is about. Background segment preparation is charged to Append.
func BenchmarkAppendVsRaw(b *testing.B) {
	const round = 64
	bodies := benchBodies(16)
	l, err := Open(Options{Dir: b.TempDir(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	file, size := preallocatedFile(b, b.TempDir(), "raw", int64(len(bodies[0]))*256, false)
	defer file.Close()
	var appendTime, rawTime time.Duration
	offset := int64(0)
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		start := time.Now()
		for range round {
			op := l.LastOp() + 1
			e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: bodies[op%16]}
			if err := l.Append(e); err != nil {
				b.Fatal(err)
			}
		}
		for l.Durable() < l.LastOp() {
			<-l.DurableNotify()
		}
		// The next segment's zero-filling is the log's cost: wait for it inside the
		// append time rather than let it slow the raw round.
		for len(l.prepared) == 0 {
			time.Sleep(50 * time.Microsecond)
		}
		appendTime += time.Since(start)
		start = time.Now()
		for i := range round {
			if offset+int64(len(bodies[0])) > size {
				offset = 0
			}
			if _, err := file.WriteAt(bodies[i%16], offset); err != nil {
				b.Fatal(err)
			}
			if err := syncData(file); err != nil {
				b.Fatal(err)
			}
			offset += int64(len(bodies[0]))
		}
		rawTime += time.Since(start)
	}
	rounds := (b.N + round - 1) / round
	bytes := float64(rounds * round * len(bodies[0]))
	b.ReportMetric(bytes/appendTime.Seconds()/1e6, "append-MB/s")
	b.ReportMetric(bytes/rawTime.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(rawTime.Seconds()/appendTime.Seconds(), "append/raw")
}

// preallocatedFile creates a file of size bytes, zero-filled or fallocated, synced.
func preallocatedFile(b testing.TB, dir, name string, size int64,
	allocate bool) (*os.File, int64) {
	b.Helper()
	file, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if allocate {
		err = fallocate(file, size)
	} else {
		var filler zeroFiller
		err = filler.fill(file, 0, size)
	}
	if err == nil {
		err = file.Sync()
	}
	if err != nil {
		b.Fatal(err)
	}
	return file, size
}

// BenchmarkPreallocation measures the latency of a 1 MiB write+fdatasync into fresh
// space prepared three ways: zero-filled (what segments use), fallocated, and appended
// to the end of the file. Reports p50 and p99 in ns.
func BenchmarkPreallocation(b *testing.B) {
	const writeBytes = 1 << 20
	const fileWrites = 64
	body := append(benchBodies(1)[0], make([]byte, writeBytes)...)[:writeBytes]
	for _, mode := range []string{"zerofill", "fallocate", "append"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			latencies := make([]time.Duration, 0, b.N)
			var file *os.File
			for i := range b.N {
				if i%fileWrites == 0 {
					b.StopTimer()
					if file != nil {
						file.Close()
					}
					if mode == "append" {
						file, _ = preallocatedFile(b, dir, "append", 0, false)
					} else {
						file, _ = preallocatedFile(b, dir, mode, writeBytes*fileWrites, mode == "fallocate")
					}
					b.StartTimer()
				}
				start := time.Now()
				if _, err := file.WriteAt(body, int64(i%fileWrites)*writeBytes); err != nil {
					b.Fatal(err)
				}
				if err := syncData(file); err != nil {
					b.Fatal(err)
				}
				latencies = append(latencies, time.Since(start))
			}
			file.Close()
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2]), "p50-ns")
			b.ReportMetric(float64(latencies[len(latencies)*99/100]), "p99-ns")
		})
	}
}

// BenchmarkRead replays a log of full batches (Read with decompression and checksums)
// and reports transfers/s; core's apply is not included.
func BenchmarkRead(b *testing.B) {
	for _, codec := range []Codec{CodecAuto, CodecNone} {
		b.Run("codec="+codec.String(), func(b *testing.B) {
			const entries = 64
			dir := b.TempDir()
			l, err := Open(Options{Dir: dir, Compression: codec, Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			for i, body := range benchBodies(entries) {
				op := uint64(i + 1)
				e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}
				if err := l.Append(e); err != nil {
					b.Fatal(err)
				}
			}
			for l.Durable() < entries {
				<-l.DurableNotify()
			}
			b.SetBytes(int64(entries * benchTransfersPerBody * model.TransferSize))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				transfers := 0
				if err := l.Read(0, func(e *Entry) error {
					transfers += len(e.Body) / model.TransferSize
					return nil
				}); err != nil || transfers != entries*benchTransfersPerBody {
					b.Fatalf("read %d transfers: %v", transfers, err)
				}
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*entries*benchTransfersPerBody)/elapsed.Seconds(), "transfers/s")
			l.Close()
		})
	}
}

// BenchmarkCodecs compares s2 and zstd on full transfer batches: raw MB/s to compress
// and to decompress, and the ratio. This measurement chose s2 (doc.go).
func BenchmarkCodecs(b *testing.B) {
	bodies := benchBodies(8)
	decoder, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	zstdDecode := func(d, s []byte) ([]byte, error) { return decoder.DecodeAll(s, d[:0]) }
	codecs := []struct {
		name   string
		encode func(dst, src []byte) []byte
		decode func(dst, src []byte) ([]byte, error)
	}{
		{"s2-64KiB-blocks", compressS2, func(d, s []byte) ([]byte, error) {
			return decompressS2(d, s, len(d))
		}},
		{"s2-one-block", func(d, s []byte) []byte { return s2.Encode(d, s) }, s2.Decode},
		{"s2-better-one-block", func(d, s []byte) []byte { return s2.EncodeBetter(d, s) }, s2.Decode},
		{"zstd-fastest", zstdEncode(zstd.SpeedFastest), zstdDecode},
		{"zstd-default", zstdEncode(zstd.SpeedDefault), zstdDecode},
	}
	for _, c := range codecs {
		compressed := make([]byte, compressBound(len(bodies[0])))
		decompressed := make([]byte, len(bodies[0]))
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(bodies[0])))
			stored := 0
			for i := range b.N {
				stored += len(c.encode(compressed, bodies[i%len(bodies)]))
			}
			b.ReportMetric(float64(b.N*len(bodies[0]))/float64(stored), "ratio")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			stored := c.encode(compressed, bodies[0])
			b.SetBytes(int64(len(bodies[0])))
			for range b.N {
				if _, err := c.decode(decompressed, stored); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func zstdEncode(level zstd.EncoderLevel) func(dst, src []byte) []byte {
	encoder, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return func(dst, src []byte) []byte { return encoder.EncodeAll(src, dst[:0]) }
}

// BenchmarkSnapshot writes and reads back a 256 MiB state of account-like records
// (what a 2M-account ledger takes) and reports MB/s of raw state each way.
func BenchmarkSnapshot(b *testing.B) {
	state := make(stateBytes, 256<<20)
	for from, body := 0, benchBodies(1)[0]; from < len(state); from += len(body) {
		copy(state[from:], body)
	}
	dir := b.TempDir()
	b.Run("write", func(b *testing.B) {
		b.SetBytes(int64(len(state)))
		for range b.N { // the same op each time: each write replaces the last
			if _, err := WriteSnapshot(dir, SnapshotMeta{Op: 1}, state); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		infos, err := ListSnapshots(dir)
		if err != nil || len(infos) == 0 {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(state)))
		for range b.N {
			_, reader, err := OpenSnapshot(infos[0].Path)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, reader); err != nil || n != int64(len(state)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			reader.Close()
		}
	})
}

// BenchmarkOpen measures recovery: opening a cleanly closed log of 10 M transfers (1222
// full batches, ~250 MB stored), which scans every segment and checks every checksum and
// chain hash. Reports the stored MB/s scanned.
func BenchmarkOpen(b *testing.B) {
	const entries = 10_000_000/benchTransfersPerBody + 1
	dir := b.TempDir()
	l, err := Open(Options{Dir: dir, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	bodies := benchBodies(16)
	for i := range entries {
		op := uint64(i + 1)
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: bodies[i%len(bodies)]}
		if err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	stored := l.Stats().StoredBytes
	b.SetBytes(int64(stored))
	b.ResetTimer()
	for range b.N {
		l, err := Open(Options{Dir: dir, Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if l.LastOp() != entries {
			b.Fatalf("reopened at op %d", l.LastOp())
		}
		l.Close()
	}
}

// appendVsRawPerSyncRound is how many requests BenchmarkAppendVsRawPerSync makes in one
// round of each kind before the other takes over: short rounds, so both see the same load.
const appendVsRawPerSyncRound = 16

// BenchmarkAppendVsRawPerSync is BenchmarkAppendVsRaw for one request at a time: each
// entry is made durable before the next is appended (one entry per fdatasync, as a lone
// client's requests are), against a raw write+fdatasync of the same body bytes into a
// zero-filled preallocated file, in alternated rounds of appendVsRawPerSyncRound. Small
// bodies go through AppendDeferred and WriteDeferred, as the sequencer's lone requests
// do (the write and fdatasync then run on the appending goroutine); full batches through
// Append (encoded and written by the log's goroutines). Reports both rates, their ratio
// (the goal: append >= 0.8 x raw), both latencies' p50 and p99, and the log's own parts.
func BenchmarkAppendVsRawPerSync(b *testing.B) {
	cases := []struct {
		name string
		body []byte
	}{
		{"body=one-transfer", transfersBody(newRand(1), 1, 1)},
		{"body=64-transfers", transfersBody(newRand(1), 1, 64)},
		{"body=full-batch", benchBodies(1)[0]},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l, err := Open(Options{Dir: b.TempDir(), Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			file, size := preallocatedFile(b, b.TempDir(), "raw",
				max(int64(len(c.body))*64, 1<<20), false)
			defer file.Close()
			// Open's own preparation of the second segment (64 MiB zero-filled and
			// synced) is not a request's: let it end before timing. Preparations the
			// appends cause are charged to them below.
			for len(l.prepared) == 0 {
				time.Sleep(50 * time.Microsecond)
			}
			appendLatencies := make([]time.Duration, 0, b.N+appendVsRawPerSyncRound)
			rawLatencies := make([]time.Duration, 0, b.N+appendVsRawPerSyncRound)
			var appendTime, rawTime time.Duration
			offset := int64(0)
			b.ResetTimer()
			for done := 0; done < b.N; done += appendVsRawPerSyncRound {
				for range appendVsRawPerSyncRound {
					start := time.Now()
					op := l.LastOp() + 1
					e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: c.body}
					if err := l.AppendDeferred(e); err != nil {
						b.Fatal(err)
					}
					l.WriteDeferred()
					for l.Durable() < op {
						<-l.DurableNotify()
					}
					latency := time.Since(start)
					appendTime += latency
					appendLatencies = append(appendLatencies, latency)
				}
				// The next segment's zero-filling is the log's cost: wait for it inside
				// the append time rather than let it slow the raw round.
				start := time.Now()
				for len(l.prepared) == 0 {
					time.Sleep(50 * time.Microsecond)
				}
				appendTime += time.Since(start)
				for range appendVsRawPerSyncRound {
					if offset+int64(len(c.body)) > size {
						offset = 0
					}
					start := time.Now()
					if _, err := file.WriteAt(c.body, offset); err != nil {
						b.Fatal(err)
					}
					if err := syncData(file); err != nil {
						b.Fatal(err)
					}
					latency := time.Since(start)
					rawTime += latency
					rawLatencies = append(rawLatencies, latency)
					offset += int64(len(c.body))
				}
			}
			b.StopTimer()
			slices.Sort(appendLatencies)
			slices.Sort(rawLatencies)
			requests := float64(len(appendLatencies))
			b.ReportMetric(requests/appendTime.Seconds(), "append-req/s")
			b.ReportMetric(requests/rawTime.Seconds(), "raw-req/s")
			b.ReportMetric(rawTime.Seconds()/appendTime.Seconds(), "append/raw")
			b.ReportMetric(float64(appendLatencies[len(appendLatencies)/2]), "append-p50-ns")
			b.ReportMetric(float64(rawLatencies[len(rawLatencies)/2]), "raw-p50-ns")
			b.ReportMetric(float64(appendLatencies[len(appendLatencies)*99/100]),
				"append-p99-ns")
			b.ReportMetric(float64(rawLatencies[len(rawLatencies)*99/100]), "raw-p99-ns")
			b.ReportMetric(float64(l.Stats().InlineGroups)/requests, "inline-share")
			reportLogParts(b, l)
		})
	}
}

// reportLogParts reports the log's own parts of an append, p50 of each (encoding only for
// offloaded bodies): what the append's p50 has beyond their sum is hand-offs and waits.
// The log's histograms count microseconds (LatencyQuantiles); the metrics are in ns, as
// the benchmark's other latencies.
func reportLogParts(b *testing.B, l *Log) {
	const nanosecondsPerMicrosecond = 1e3
	write, sync := l.Latencies()
	b.ReportMetric(float64(l.EncodeLatency().P50)*nanosecondsPerMicrosecond, "encode-p50-ns")
	b.ReportMetric(float64(write.P50)*nanosecondsPerMicrosecond, "write-p50-ns")
	b.ReportMetric(float64(sync.P50)*nanosecondsPerMicrosecond, "sync-p50-ns")
}
