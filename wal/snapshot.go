package wal

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/klauspost/compress/s2"
)

// Snapshot header offsets. Disk format: never change them.
const (
	snapshotOffsetMagic       = 0  // [8] snapshotMagic
	snapshotOffsetVersion     = 8  // u32 formatVersion
	snapshotOffsetHeaderCRC   = 12 // u32 CRC32C of the header with this field zero
	snapshotOffsetCodec       = 16 // u8 Codec of the body stream
	snapshotOffsetReserved    = 17 // [3] zero
	snapshotOffsetBodyCRC     = 20 // u32 CRC32C of the stored body
	snapshotOffsetOp          = 24 // u64
	snapshotOffsetEpoch       = 32 // u64
	snapshotOffsetTimestamp   = 40 // u64
	snapshotOffsetRawBytes    = 48 // u64 state bytes before compression
	snapshotOffsetStoredBytes = 56 // u64 body bytes in the file
	snapshotOffsetDigest      = 64 // [32] core's state digest at op
	snapshotOffsetChain       = 96 // [32] the log's chain hash at op
	snapshotHeaderSize        = 128
)

const (
	snapshotMagic  = "SQSNAPSH"
	snapshotPrefix = "snapshot-"
	snapshotSuffix = ".snap"
)

// SnapshotMeta identifies the state a snapshot holds: the core's state right after
// applying op.
type SnapshotMeta struct {
	Op        uint64   // last op applied
	Epoch     uint64   // epoch of the entry holding op
	Timestamp uint64   // timestamp of the entry holding op
	Digest    [32]byte // core's state digest at Op
	Chain     [32]byte // the log's chain hash at Op (ties the snapshot to the history)
}

// ChainReader tells the chain hash of the entry whose last op is op, if it holds one
// (Log.ChainAt).
type ChainReader interface {
	ChainAt(op uint64) ([32]byte, bool)
}

// OfAnotherHistory reports whether the snapshot was taken on another history than the
// one log holds: log has an entry ending at the snapshot's op, and that entry's chain
// hash differs from the one the snapshot recorded. Such a snapshot meets the log by op
// number only (a node killed while starting over from its primary's snapshot kept it
// beside its own divergent log), and the log replayed over it would build a state of
// neither history. Every reader that picks a snapshot to replay the log from asks this
// (shard recovery, change capture). A snapshot the log cannot place (its op retired, or
// no entry ending there) or one recording no chain is not known to be of another history.
func (m SnapshotMeta) OfAnotherHistory(log ChainReader) bool {
	if m.Chain == ([32]byte{}) {
		return false
	}
	chain, found := log.ChainAt(m.Op)
	return found && chain != m.Chain
}

// MarshalJSON writes the hashes in hex.
func (m SnapshotMeta) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Op        uint64 `json:"op"`
		Epoch     uint64 `json:"epoch"`
		Timestamp uint64 `json:"timestamp_ns"`
		Digest    string `json:"digest"`
		Chain     string `json:"chain"`
	}{m.Op, m.Epoch, m.Timestamp, hex.EncodeToString(m.Digest[:]), hex.EncodeToString(m.Chain[:])})
}

// SnapshotInfo describes a snapshot file. A damaged file has Err set (and Meta.Op from
// its name only).
type SnapshotInfo struct {
	Path        string       `json:"path"`
	Meta        SnapshotMeta `json:"meta"`
	Codec       Codec        `json:"codec"`
	RawBytes    int64        `json:"raw_bytes"`
	StoredBytes int64        `json:"stored_bytes"`
	Err         error        `json:"-"`
	Problem     string       `json:"error,omitempty"` // Err as text, for JSON
}

func snapshotName(op uint64) string {
	return fmt.Sprintf("%s%020d%s", snapshotPrefix, op, snapshotSuffix)
}

// WriteSnapshot writes state as a snapshot at meta.Op into dir: the body streamed through
// s2 (one goroutine, so a background snapshot leaves the other core to the sequencer),
// checksummed, into a temporary file that is then synced, renamed and the directory
// synced, so that a snapshot file with its final name is always complete. A directory it
// makes has its parent synced: the log is retired behind the snapshot, which must not
// then vanish with its directory's entry in a crash. It must not run concurrently with
// PruneSnapshots on the same directory.
func WriteSnapshot(dir string, meta SnapshotMeta, state io.WriterTo) (SnapshotInfo, error) {
	if err := MakeDirectoryDurably(dir); err != nil {
		return SnapshotInfo{}, err
	}
	final := filepath.Join(dir, snapshotName(meta.Op))
	var info SnapshotInfo
	err := WriteFileDurably(final, FileMode, func(file *os.File) error {
		var err error
		info, err = writeSnapshotFile(file, meta, state)
		return err
	})
	if err != nil {
		return SnapshotInfo{}, err
	}
	info.Path = final
	return info, nil
}

// writeSnapshotFile streams the body after room for the header, then writes the header
// (the caller fsyncs).
func writeSnapshotFile(file *os.File, meta SnapshotMeta, state io.WriterTo) (SnapshotInfo, error) {
	buffered := bufio.NewWriterSize(io.NewOffsetWriter(file, snapshotHeaderSize), snapshotBufferBytes)
	stored := &checksumWriter{w: buffered, crc: crc32.New(castagnoli)}
	encoder := s2.NewWriter(stored, s2.WriterConcurrency(1))
	raw := &countingWriter{w: encoder}
	if _, err := state.WriteTo(raw); err != nil {
		return SnapshotInfo{}, err
	}
	if err := encoder.Close(); err != nil {
		return SnapshotInfo{}, err
	}
	if err := buffered.Flush(); err != nil {
		return SnapshotInfo{}, err
	}
	info := SnapshotInfo{Meta: meta, Codec: CodecS2, RawBytes: raw.n, StoredBytes: stored.n}
	var header [snapshotHeaderSize]byte
	encodeSnapshotHeader(header[:], &info, stored.crc.Sum32())
	if _, err := file.WriteAt(header[:], 0); err != nil {
		return SnapshotInfo{}, err
	}
	return info, nil // WriteFileDurably syncs.
}

func encodeSnapshotHeader(b []byte, info *SnapshotInfo, bodyCRC uint32) {
	le := binary.LittleEndian
	clear(b[:snapshotHeaderSize])
	copy(b[snapshotOffsetMagic:], snapshotMagic)
	le.PutUint32(b[snapshotOffsetVersion:], formatVersion)
	b[snapshotOffsetCodec] = byte(info.Codec)
	le.PutUint32(b[snapshotOffsetBodyCRC:], bodyCRC)
	le.PutUint64(b[snapshotOffsetOp:], info.Meta.Op)
	le.PutUint64(b[snapshotOffsetEpoch:], info.Meta.Epoch)
	le.PutUint64(b[snapshotOffsetTimestamp:], info.Meta.Timestamp)
	le.PutUint64(b[snapshotOffsetRawBytes:], uint64(info.RawBytes))
	le.PutUint64(b[snapshotOffsetStoredBytes:], uint64(info.StoredBytes))
	copy(b[snapshotOffsetDigest:], info.Meta.Digest[:])
	copy(b[snapshotOffsetChain:], info.Meta.Chain[:])
	putHeaderCRC(b[:snapshotHeaderSize], snapshotOffsetHeaderCRC)
}

// decodeSnapshotHeader validates a snapshot header; fileBytes is the file's size, which
// must be the header plus the stored body. It returns the body checksum.
func decodeSnapshotHeader(b []byte, fileBytes int64, info *SnapshotInfo) (uint32, error) {
	le := binary.LittleEndian
	switch {
	case len(b) < snapshotHeaderSize:
		return 0, fmt.Errorf("%w: file shorter than a snapshot header", ErrSnapshotCorrupt)
	case string(b[:8]) != snapshotMagic:
		return 0, fmt.Errorf("%w: bad snapshot magic", ErrSnapshotCorrupt)
	case !headerCRCValid(b[:snapshotHeaderSize], snapshotOffsetHeaderCRC):
		return 0, fmt.Errorf("%w: snapshot header checksum mismatch", ErrSnapshotCorrupt)
	case le.Uint32(b[snapshotOffsetVersion:]) != formatVersion:
		version := le.Uint32(b[snapshotOffsetVersion:])
		return 0, fmt.Errorf("%w: snapshot format version %d", ErrVersion, version)
	case !isZero(b[snapshotOffsetReserved:snapshotOffsetBodyCRC]):
		return 0, fmt.Errorf("%w: reserved snapshot header bytes not zero", ErrSnapshotCorrupt)
	}
	info.Codec = Codec(b[snapshotOffsetCodec])
	info.Meta.Op = le.Uint64(b[snapshotOffsetOp:])
	info.Meta.Epoch = le.Uint64(b[snapshotOffsetEpoch:])
	info.Meta.Timestamp = le.Uint64(b[snapshotOffsetTimestamp:])
	info.RawBytes = int64(le.Uint64(b[snapshotOffsetRawBytes:]))
	info.StoredBytes = int64(le.Uint64(b[snapshotOffsetStoredBytes:]))
	copy(info.Meta.Digest[:], b[snapshotOffsetDigest:snapshotOffsetChain])
	copy(info.Meta.Chain[:], b[snapshotOffsetChain:snapshotHeaderSize])
	switch {
	case info.Codec != CodecS2 && info.Codec != CodecNone:
		return 0, fmt.Errorf("%w: snapshot codec %v", ErrSnapshotCorrupt, info.Codec)
	case info.StoredBytes < 0 || info.RawBytes < 0:
		return 0, fmt.Errorf("%w: negative snapshot length", ErrSnapshotCorrupt)
	case fileBytes != snapshotHeaderSize+info.StoredBytes:
		return 0, fmt.Errorf("%w: file has %d bytes, header says %d", ErrSnapshotCorrupt,
			fileBytes, snapshotHeaderSize+info.StoredBytes)
	}
	return le.Uint32(b[snapshotOffsetBodyCRC:]), nil
}

// readSnapshotHeader opens a snapshot and validates its header.
func readSnapshotHeader(path string) (*os.File, SnapshotInfo, uint32, error) {
	info := SnapshotInfo{Path: path}
	if err := injectedFault(&testHookReadSnapshotHeader, path); err != nil {
		return nil, info, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, info, 0, err
	}
	stat, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, info, 0, err
	}
	var reader io.Reader = file
	if hook := testHookSnapshotHeaderRead.Load(); hook != nil {
		reader = (*hook)(path, file)
	}
	var b [snapshotHeaderSize]byte
	n, err := io.ReadFull(reader, b[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		// The header did not read: EIO (a bad sector) is damage; another error (out of
		// memory, interrupted) says nothing of the bytes, and is returned as it is, so
		// that the file is not taken for damaged (marked, pruned) for a passing failure.
		// A file shorter than a header (EOF) is damage, which decoding reports.
		file.Close()
		return nil, info, 0, SnapshotReadFailure(path, int64(n), err)
	}
	bodyCRC, err := decodeSnapshotHeader(b[:n], stat.Size(), &info)
	if err != nil {
		file.Close()
		return nil, info, 0, fmt.Errorf("%s: %w", path, err)
	}
	return file, info, bodyCRC, nil
}

// testHookSnapshotHeaderRead, when set by a test, wraps the reader a snapshot's header
// is read through (readSnapshotHeader): a test makes that read fail after the open.
var testHookSnapshotHeaderRead atomic.Pointer[func(path string, file io.Reader) io.Reader]

// OpenSnapshot opens a snapshot and returns its meta and a reader of the state. The reader
// returns an error wrapping ErrSnapshotCorrupt at or before EOF if the body's checksum,
// framing or length is wrong, so a caller decoding while reading learns the state is bad
// and falls back to an older snapshot. Close the reader.
func OpenSnapshot(path string) (SnapshotMeta, io.ReadCloser, error) {
	file, info, bodyCRC, err := readSnapshotHeader(path)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	body := &checkedReader{r: io.NewSectionReader(file, snapshotHeaderSize, info.StoredBytes),
		crc: crc32.New(castagnoli), want: bodyCRC, path: path}
	r := &snapshotReader{file: file, body: body, rawBytes: info.RawBytes, path: path}
	r.decoded = bufio.NewReaderSize(body, snapshotBufferBytes)
	if info.Codec == CodecS2 {
		r.decoded = s2.NewReader(r.decoded)
	}
	return info.Meta, r, nil
}

// checkedReader reads the stored body and, at its end, turns EOF into an error if the
// checksum does not match.
type checkedReader struct {
	r    io.Reader
	crc  hash.Hash32
	want uint32
	path string
	done bool // EOF reached with a matching checksum
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	if err == io.EOF {
		if c.crc.Sum32() != c.want {
			return n, fmt.Errorf("%w: %s: body checksum mismatch", ErrSnapshotCorrupt, c.path)
		}
		c.done = true
	}
	return n, err
}

// snapshotReader returns the decoded state and checks, at EOF, that the whole stored body
// was read with a valid checksum and that the state has its recorded length.
type snapshotReader struct {
	file     *os.File
	body     *checkedReader
	decoded  io.Reader
	rawBytes int64
	read     int64
	path     string
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	n, err := r.decoded.Read(p)
	r.read += int64(n)
	switch {
	case err == nil:
		if r.read > r.rawBytes {
			return n, fmt.Errorf("%w: %s: state longer than recorded", ErrSnapshotCorrupt, r.path)
		}
		return n, nil
	case err != io.EOF:
		if errors.Is(err, ErrSnapshotCorrupt) {
			return n, err
		}
		return n, fmt.Errorf("%w: %s: %v", ErrSnapshotCorrupt, r.path, err)
	case !r.body.done:
		// The decoder stopped before the stored body ended: drain it to check the sum.
		if _, drainErr := io.Copy(io.Discard, r.body); drainErr != nil {
			return n, drainErr
		}
		if !r.body.done {
			return n, fmt.Errorf("%w: %s: trailing bytes after the state", ErrSnapshotCorrupt, r.path)
		}
	}
	if r.read != r.rawBytes {
		return n, fmt.Errorf("%w: %s: state has %d bytes, header says %d", ErrSnapshotCorrupt,
			r.path, r.read, r.rawBytes)
	}
	return n, io.EOF
}

func (r *snapshotReader) Close() error { return r.file.Close() }

// ListSnapshots returns the snapshots in dir, newest first, each with a validated header.
// Damaged files are listed with Err set rather than dropped, so that an operator sees
// them; callers skip them. A missing directory has no snapshots.
func ListSnapshots(dir string) ([]SnapshotInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var infos []SnapshotInfo
	for _, entry := range entries {
		op, ok := parseSnapshotName(entry.Name())
		if !ok {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		file, info, _, err := readSnapshotHeader(path)
		if err == nil {
			file.Close()
			if info.Meta.Op != op {
				err = fmt.Errorf("%w: %s: header says op %d", ErrSnapshotCorrupt, path, info.Meta.Op)
			}
		}
		if err != nil {
			info = SnapshotInfo{Path: path, Meta: SnapshotMeta{Op: op}, Err: err, Problem: err.Error()}
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b SnapshotInfo) int { return compareUint64(b.Meta.Op, a.Meta.Op) })
	return infos, nil
}

func parseSnapshotName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, snapshotPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, snapshotSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	op, err := strconv.ParseUint(digits, 10, 64)
	return op, err == nil
}

// PruneSnapshots keeps the newest keep valid snapshots and deletes everything older,
// damaged files included (not a file it could not read for another reason: out of file
// descriptors, an I/O error), plus temporary files left by interrupted writes. keep must be
// at least 1. It must not run concurrently with WriteSnapshot on the same directory.
func PruneSnapshots(dir string, keep int) error {
	return PruneSnapshotsHolding(dir, keep, 0)
}

// PruneSnapshotsHolding is PruneSnapshots that also keeps the newest valid snapshot at or
// before heldOp (when heldOp is not 0): a consumer that must rebuild state at heldOp (change
// capture catching up) starts from it.
func PruneSnapshotsHolding(dir string, keep int, heldOp uint64) error {
	if keep < 1 {
		return fmt.Errorf("wal: PruneSnapshots keep %d: at least one snapshot must stay", keep)
	}
	infos, err := ListSnapshots(dir)
	if err != nil {
		return err
	}
	valid, holdKept := 0, heldOp == 0
	for _, info := range infos {
		keepForHold := !holdKept && info.Err == nil && info.Meta.Op <= heldOp
		holdKept = holdKept || keepForHold
		switch {
		case info.Err != nil && !errors.Is(info.Err, ErrSnapshotCorrupt) &&
			!errors.Is(info.Err, ErrVersion):
			// Not read this time (out of file descriptors, an I/O error), not known to be
			// damaged: it may be sound, and the one a hold needs. A later prune decides.
		case valid >= keep && !keepForHold:
			if err := os.Remove(info.Path); err != nil {
				return err
			}
		case info.Err == nil:
			valid++
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if strings.HasPrefix(entry.Name(), snapshotPrefix) &&
			strings.HasSuffix(entry.Name(), snapshotSuffix+temporarySuffix) {
			if err := os.Remove(filepath.Join(dir, entry.Name())); err != nil {
				return err
			}
		}
	}
	return SyncDirectory(dir)
}

// countingWriter counts bytes on their way to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// checksumWriter counts and checksums bytes on their way to w.
type checksumWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   int64
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// SnapshotFileCheck checks a snapshot file's stored body against the checksum and length
// its header records, from the file's bytes as a sender copies them whole from its start
// (Write them in order, then Err): a replication primary sends its snapshot as it reads
// it, and learns this way, at no extra read, whether the file it sent is damaged. It
// checks what is stored (not the decoded state, which OpenSnapshot's reader checks too).
type SnapshotFileCheck struct {
	crc    uint32
	want   uint32
	stored int64 // Body bytes the header records.
	seen   int64 // File bytes written so far, the header's included.
}

// NewSnapshotFileCheck reads the header of the snapshot at path (an error when it does
// not read: wrapping ErrSnapshotCorrupt or ErrVersion, or the file's).
func NewSnapshotFileCheck(path string) (*SnapshotFileCheck, error) {
	file, info, bodyCRC, err := readSnapshotHeader(path)
	if err != nil {
		return nil, err
	}
	file.Close()
	return &SnapshotFileCheck{want: bodyCRC, stored: info.StoredBytes}, nil
}

// Write takes the file's next bytes.
func (c *SnapshotFileCheck) Write(p []byte) (int, error) {
	n := len(p)
	if skip := int64(snapshotHeaderSize) - c.seen; skip > 0 {
		p = p[min(int64(len(p)), skip):]
	}
	c.crc = crc32.Update(c.crc, castagnoli, p)
	c.seen += int64(n)
	return n, nil
}

// Err says whether the bytes written were the whole file with its body's checksum right.
func (c *SnapshotFileCheck) Err() error {
	if c.seen != snapshotHeaderSize+c.stored {
		return fmt.Errorf("%w: %d bytes sent, the header says %d", ErrSnapshotCorrupt, c.seen,
			snapshotHeaderSize+c.stored)
	}
	if c.crc != c.want {
		return fmt.Errorf("%w: body checksum mismatch", ErrSnapshotCorrupt)
	}
	return nil
}

// SnapshotReadFailure classifies an error from reading a snapshot file part way, for a
// sender that reads the file itself (a replication primary sending it in chunks, checking
// it with a SnapshotFileCheck). EIO is the device saying it cannot read those bytes (a bad
// sector): they will not read next time either, so the file is as damaged as one whose
// checksum does not match, and the error comes back wrapping ErrSnapshotCorrupt (the
// sender marks the file and offers it no more). Any other error (out of memory, the file
// handle closed under the read) says nothing about the bytes: it comes back as it is, the
// send fails and the next one may read the file whole. OpenSnapshot's reader needs no such
// step: it takes any read error as damage, as start-up must not apply a state it could not
// read, and falls back to an older snapshot.
func SnapshotReadFailure(path string, offset int64, err error) error {
	if err == nil || errors.Is(err, ErrSnapshotCorrupt) || !errors.Is(err, syscall.EIO) {
		return err
	}
	return fmt.Errorf("%w: %s: unreadable at byte %d or after: %w", ErrSnapshotCorrupt, path,
		offset, err)
}
