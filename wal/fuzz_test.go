package wal

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every decoder of bytes that come from disk or from a peer: entry
// headers and stored entries (AppendStored, DecodeStored), segment scanning (recovery,
// Read, Inspect, Verify), snapshot headers and snapshot bodies. Seeds are real encodings;
// the committed corpus under testdata/fuzz is written by -wal.writecorpus.

var writeCorpus = flag.Bool("wal.writecorpus", false, "rewrite the seed corpus under testdata/fuzz")

// seedLog returns the stored form of a few small entries (raw and compressed) and the
// bytes of their segment, from a real log.
func seedLog(t testing.TB) (stored [][]byte, segment []byte) {
	dir := t.TempDir()
	l := openTest(t, dir)
	var copies storedCopies
	l.SetObserver(copies.observe)
	bodies := [][]byte{[]byte("one"), transfersBody(newRand(1), 1, 8), bytes.Repeat([]byte("ab"), 300)}
	for i, body := range bodies {
		op := uint64(i + 1)
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: op, Body: body}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	end := segmentHeaderSize
	for _, s := range copies.entries {
		end += len(s)
	}
	return copies.entries, file[:end+256]
}

// seedSnapshot returns the bytes of a small real snapshot file.
func seedSnapshot(t testing.TB) []byte {
	dir := t.TempDir()
	state := sumReplayer{ops: 7, sum: 99}
	info, err := WriteSnapshot(dir, SnapshotMeta{Op: 7, Digest: state.Digest()}, &state)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// saveCorpus writes seeds in the go fuzz corpus format when -wal.writecorpus is set.
func saveCorpus(t testing.TB, name string, seeds ...[]any) {
	if !*writeCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, values := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint16:
				fmt.Fprintf(&b, "uint16(%d)\n", v)
			}
		}
		name := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
		if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzStoredEntry decodes arbitrary bytes as a stored entry: no panic, and whatever
// decodes must re-encode to the same header and decompress to its recorded length.
func FuzzStoredEntry(f *testing.F) {
	stored, _ := seedLog(f)
	var seeds [][]any
	for _, s := range stored {
		f.Add(s)
		seeds = append(seeds, []any{s})
	}
	saveCorpus(f, "FuzzStoredEntry", seeds...)
	f.Fuzz(func(t *testing.T, data []byte) {
		var h entryHeader
		if len(data) >= entryHeaderSize {
			if kind, _ := decodeEntryHeader(data, &h); kind == headerValid {
				var again [entryHeaderSize]byte
				h.encode(again[:])
				if !bytes.Equal(again[:], data[:entryHeaderSize]) {
					t.Fatal("a valid header does not re-encode to itself")
				}
			}
		}
		entry, meta, err := DecodeStored(data, nil)
		if err == nil && (len(entry.Body) != int(meta.RawBytes) || entry.Count == 0) {
			t.Fatalf("decoded body of %d bytes, header says %d", len(entry.Body), meta.RawBytes)
		}
	})
}

var largeWindow = make([]byte, readBufferBytes)

// scanAll scans a whole segment image with a given window size and describes what it
// found, so that two window sizes can be compared.
func scanAll(data []byte, bufferBytes int) string {
	var header segmentHeader
	if len(data) < segmentHeaderSize {
		return "short"
	}
	if reason, err := decodeSegmentHeader(data, &header); err != nil {
		return "header: " + reason
	}
	var s scanner
	s.reader.buffer = make([]byte, bufferBytes)
	if bufferBytes == len(largeWindow) {
		s.reader.buffer = largeWindow // allocating 4 MiB per input would slow the fuzzer
	}
	s.verifyChain, s.checkTail = true, true
	s.startAt(bytes.NewReader(data), int64(len(data)), &header)
	var out bytes.Buffer
	var entry scannedEntry
	var link chainLink
	for {
		done, problem, err := s.next(&entry)
		switch {
		case err != nil:
			return out.String() + "error " + err.Error()
		case done:
			return out.String() + "end"
		case problem != nil:
			evidence, nonZeroEnd, err := tornEvidence(bytes.NewReader(data), int64(len(data)),
				&header, problem.Offset)
			return out.String() + fmt.Sprintf("problem %d at %d: %s (%v %d %v)", problem.Kind,
				problem.Offset, problem.Reason, evidence, nonZeroEnd, err)
		}
		reason := link.check(&entry.Header)
		link.advance(&entry.Header)
		fmt.Fprintf(&out, "entry %d ops %d..%d %q; ", entry.Offset, entry.Header.FirstOp,
			entry.Header.LastOp(), reason)
	}
}

// FuzzSegmentScan scans arbitrary bytes as a segment: no panic, and the same result
// whatever the reader's window size, so that entries split across reads (at any point)
// decode as whole ones do. Bytes that do not start with a segment header get a valid one
// so that the fuzzer explores the entries.
func FuzzSegmentScan(f *testing.F) {
	_, segment := seedLog(f)
	f.Add(segment, uint16(200))
	f.Add(segment[segmentHeaderSize:], uint16(1000))
	// A version-2 header (a recorded base): its checksum keeps mutations of a version-1
	// header from ever reaching that decoder branch.
	based := bytes.Clone(segment)
	var header segmentHeader
	if _, err := decodeSegmentHeader(based, &header); err != nil {
		f.Fatal(err)
	}
	header.Base = ChainPoint{LastOp: 7, Chain: [32]byte{7}}
	header.encode(based)
	f.Add(based, uint16(300))
	saveCorpus(f, "FuzzSegmentScan", []any{segment, uint16(200)},
		[]any{segment[segmentHeaderSize:], uint16(1000)})
	f.Fuzz(func(t *testing.T, data []byte, bufferBytes uint16) {
		if !bytes.HasPrefix(data, []byte(segmentMagic)) {
			var header [segmentHeaderSize]byte
			s := segmentHeader{Number: 1, Bytes: int64(segmentHeaderSize + max(len(data), entryHeaderSize))}
			s.encode(header[:])
			data = append(header[:], data...)
		}
		small := scanAll(data, entryHeaderSize+int(bufferBytes))
		large := scanAll(data, len(largeWindow))
		if small != large {
			t.Fatalf("window size changes the scan:\n%s\n%s", small, large)
		}
	})
}

// FuzzSnapshot opens arbitrary bytes as a snapshot file and reads it whole: no panic;
// a header that decodes re-encodes to itself; a read that succeeds returns exactly the
// recorded number of state bytes.
func FuzzSnapshot(f *testing.F) {
	seed := seedSnapshot(f)
	f.Add(seed)
	f.Add(seed[:snapshotHeaderSize])
	saveCorpus(f, "FuzzSnapshot", []any{seed}, []any{seed[:snapshotHeaderSize]})
	path := filepath.Join(f.TempDir(), snapshotName(1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var info SnapshotInfo
		if bodyCRC, err := decodeSnapshotHeader(data, int64(len(data)), &info); err == nil {
			var again [snapshotHeaderSize]byte
			encodeSnapshotHeader(again[:], &info, bodyCRC)
			if !bytes.Equal(again[:], data[:snapshotHeaderSize]) {
				t.Fatal("a valid snapshot header does not re-encode to itself")
			}
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		meta, reader, err := OpenSnapshot(path)
		if err != nil {
			return
		}
		defer reader.Close()
		state, err := io.ReadAll(io.LimitReader(reader, 64<<20))
		if err == nil && int64(len(state)) != info.RawBytes {
			t.Fatalf("read %d state bytes, header says %d (op %d)", len(state), info.RawBytes, meta.Op)
		}
	})
}
