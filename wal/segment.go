package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Segment files are named by their number in 20 decimal digits, so that a plain
// directory listing sorts them in log order.
const (
	segmentSuffix   = ".wal"
	temporarySuffix = ".tmp"
	// preservedSuffix marks a damaged segment kept aside by Options.TruncateCorrupt.
	preservedSuffix = ".corrupt"
)

func segmentName(number uint64) string { return fmt.Sprintf("%020d%s", number, segmentSuffix) }

// segmentFile is a segment found in a directory listing.
type segmentFile struct {
	Number uint64
	Path   string
}

// listSegments returns the directory's segment files in number order. Files that are not
// segments (temporary, preserved, foreign) are ignored.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []segmentFile
	for _, entry := range entries {
		name := entry.Name()
		digits, found := strings.CutSuffix(name, segmentSuffix)
		if !found || len(digits) != 20 || !entry.Type().IsRegular() {
			continue
		}
		number, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || number == 0 {
			continue
		}
		files = append(files, segmentFile{Number: number, Path: filepath.Join(dir, name)})
	}
	slices.SortFunc(files, func(a, b segmentFile) int { return compareUint64(a.Number, b.Number) })
	return files, nil
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// removeTemporaryFiles deletes segment files whose preparation or rewrite a crash
// interrupted. They never carry log data: a file gets its final name only when complete.
func removeTemporaryFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if strings.HasSuffix(entry.Name(), segmentSuffix+temporarySuffix) {
			if err := os.Remove(filepath.Join(dir, entry.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// zeroFiller writes zeros; the buffer is allocated once per goroutine that prepares
// segments.
type zeroFiller struct{ zeros []byte }

// fill writes zeros into file[from:to).
func (z *zeroFiller) fill(file *os.File, from, to int64) error {
	if z.zeros == nil {
		z.zeros = make([]byte, zeroFillChunkBytes)
	}
	for from < to {
		n := min(int64(len(z.zeros)), to-from)
		if _, err := file.WriteAt(z.zeros[:n], from); err != nil {
			return err
		}
		from += n
	}
	return nil
}

// prepareSegment creates segment number in dir: header, zero-filled to its full size,
// synced, then renamed into place and the directory synced, so that a segment file with
// its final name is always complete. The file is returned open for writing (its Name is
// the temporary name: use the returned path). Zero-filling rather than fallocate was chosen by
// measurement (doc.go): writing into fallocated space converts unwritten extents, which
// costs a journal commit on every fdatasync.
func (z *zeroFiller) prepareSegment(dir string, number uint64,
	bytes int64) (*os.File, string, error) {
	final := filepath.Join(dir, segmentName(number))
	temporary := final + temporarySuffix
	file, err := os.OpenFile(temporary, os.O_RDWR|os.O_CREATE|os.O_TRUNC, FileMode)
	if err != nil {
		return nil, "", err
	}
	err = z.writeSegment(file, segmentHeader{Number: number, Bytes: bytes}, nil)
	if err == nil {
		err = RenameDurably(temporary, final)
	}
	if err != nil {
		file.Close()
		os.Remove(temporary)
		return nil, "", err
	}
	return file, final, nil
}

// writeSegment writes a segment header (s, stamped with the time now), then prefix
// (entries copied from an older file, or nothing), then zeros up to s.Bytes, and fsyncs
// the file.
func (z *zeroFiller) writeSegment(file *os.File, s segmentHeader, prefix io.Reader) error {
	var header [segmentHeaderSize]byte
	s.CreatedNs = uint64(time.Now().UnixNano())
	s.encode(header[:])
	if _, err := file.WriteAt(header[:], 0); err != nil {
		return err
	}
	offset := int64(segmentHeaderSize)
	if prefix != nil {
		copied, err := io.Copy(io.NewOffsetWriter(file, offset), prefix)
		if err != nil {
			return err
		}
		offset += copied
	}
	if err := z.fill(file, offset, s.Bytes); err != nil {
		return err
	}
	return file.Sync()
}

// rewriteSegment atomically replaces a segment by a copy that keeps its header and its
// bytes before cut, and is zero after: written to a temporary file, synced, renamed over
// the segment, directory synced. A crash leaves either the old or the new segment, never a
// partly zeroed one (which recovery could not tell from damage). If preserve is set, the
// old file is first hard-linked to name+".corrupt" for the operator. The header keeps
// the base it records (a torn first entry cut away leaves the log its base), unless base
// is not nil: then the copy records *base (none if its LastOp is 0).
func (z *zeroFiller) rewriteSegment(path string, cut int64, preserve bool,
	base *ChainPoint) error {
	old, err := os.Open(path)
	if err != nil {
		return err
	}
	defer old.Close()
	var header [segmentHeaderSize]byte
	if _, err := old.ReadAt(header[:], 0); err != nil {
		return err
	}
	var s segmentHeader
	if reason, err := decodeSegmentHeader(header[:], &s); err != nil {
		return fmt.Errorf("%w: %s: %s", err, path, reason)
	}
	if preserve {
		if err := os.Link(path, preservedName(path)); err != nil {
			return err
		}
	}
	temporary := path + temporarySuffix
	file, err := os.OpenFile(temporary, os.O_RDWR|os.O_CREATE|os.O_TRUNC, FileMode)
	if err != nil {
		return err
	}
	defer file.Close()
	prefix := io.NewSectionReader(old, segmentHeaderSize, cut-segmentHeaderSize)
	if base != nil {
		s.Base = *base
	}
	if err := z.writeSegment(file, s, prefix); err != nil {
		os.Remove(temporary)
		return err
	}
	return RenameDurably(temporary, path)
}

// preservedName returns a name for keeping a damaged file aside that does not exist yet.
func preservedName(path string) string {
	name := path + preservedSuffix
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s%s.%d", path, preservedSuffix, i)
	}
}
