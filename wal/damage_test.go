package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damageBodyBytes is the body size of every entry of a damage-test log: random bytes, so
// stored raw, all entries the same size, which lets tests swap and duplicate entries.
const damageBodyBytes = 300 << 10

// damageLog is a log built for damage tests: several segments, each entry its own synced
// group commit (as under light load), closed cleanly.
type damageLog struct {
	dir     string
	entries []damageEntry // every entry, in order
}

type damageEntry struct {
	segment uint64
	path    string
	offset  int64
	header  entryHeader
}

func (d *damageLog) size() int64 { return entryHeaderSize + damageBodyBytes }

// inSegment returns the entries of the n-th segment (1-based).
func (d *damageLog) inSegment(n uint64) []damageEntry {
	var list []damageEntry
	for _, e := range d.entries {
		if e.segment == n {
			list = append(list, e)
		}
	}
	return list
}

func (d *damageLog) segmentPath(n uint64) string {
	return filepath.Join(d.dir, segmentName(n))
}

func buildDamageLog(t *testing.T, seed uint64) *damageLog {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir)
	r := rand.New(rand.NewPCG(seed, 7))
	body := make([]byte, damageBodyBytes)
	for op := uint64(1); op <= 20; op++ {
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		e := Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: 1000 + op, Body: body}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
		waitDurable(t, l, op)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	d := &damageLog{dir: dir}
	_, err := scanDirectory(dir, func(scan *segmentScan, e *scannedEntry) error {
		d.entries = append(d.entries, damageEntry{scan.File.Number, scan.File.Path, e.Offset, e.Header})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.inSegment(3)) < 3 || len(d.inSegment(4)) != 0 {
		t.Fatalf("damage log layout: %d, %d, %d entries in segments 1-3: need 3 segments",
			len(d.inSegment(1)), len(d.inSegment(2)), len(d.inSegment(3)))
	}
	return d
}

// modify applies fn to the bytes of a file.
func modify(t *testing.T, path string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// damageCase is one row of the damage table.
type damageCase struct {
	name string
	// damage changes the log and returns where the damage is and, for a torn tail, the
	// last op that must survive.
	damage func(t *testing.T, d *damageLog) (segment uint64, offset int64, lastOp uint64)
	want   error // sentinel Open must fail with; nil when the tail is truncated
	clean  bool  // a clean (shorter) end: nothing to log
}

func flipByte(t *testing.T, path string, offset int64) {
	modify(t, path, func(b []byte) []byte { b[offset] ^= 0x40; return b })
}

func zeroRange(t *testing.T, path string, from, to int64) {
	modify(t, path, func(b []byte) []byte { clear(b[from:to]); return b })
}

func damageCases() []damageCase {
	middle := func(d *damageLog) damageEntry { return d.inSegment(2)[1] }
	last := func(d *damageLog) damageEntry { return d.entries[len(d.entries)-1] }
	tailMiddle := func(d *damageLog) damageEntry { return d.inSegment(3)[1] }
	return []damageCase{
		{"header flip mid-log",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				flipByte(t, e.path, e.offset+entryOffsetFirstOp)
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"body flip mid-log",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				flipByte(t, e.path, e.offset+entryHeaderSize+1000)
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"body flip in the last segment before synced entries",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := tailMiddle(d)
				flipByte(t, e.path, e.offset+entryHeaderSize+5)
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"header flip of the last entry (torn tail)",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := last(d)
				flipByte(t, e.path, e.offset+entryOffsetTimestamp)
				return e.segment, e.offset, e.header.FirstOp - 1
			}, nil, false},
		{"body flip of the last entry (torn tail)",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := last(d)
				flipByte(t, e.path, e.offset+d.size()-1)
				return e.segment, e.offset, e.header.FirstOp - 1
			}, nil, false},
		{"last segment file truncated inside its last entry",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := last(d)
				if err := os.Truncate(e.path, e.offset+d.size()/2); err != nil {
					t.Fatal(err)
				}
				return e.segment, e.offset, e.header.FirstOp - 1
			}, nil, false},
		{"middle segment file truncated",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				if err := os.Truncate(e.path, e.offset+100); err != nil {
					t.Fatal(err)
				}
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"zeroed entry mid-log",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				zeroRange(t, e.path, e.offset, e.offset+d.size())
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"zeroed entry in the last segment before synced entries",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := tailMiddle(d)
				zeroRange(t, e.path, e.offset, e.offset+d.size())
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
		{"zeroed header of the last entry (torn tail)",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := last(d)
				zeroRange(t, e.path, e.offset, e.offset+entryHeaderSize)
				return e.segment, e.offset, e.header.FirstOp - 1
			}, nil, false},
		{"zeroed last entry (indistinguishable from a shorter log)",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := last(d)
				zeroRange(t, e.path, e.offset, e.offset+d.size())
				return e.segment, e.offset, e.header.FirstOp - 1
			}, nil, true},
		{"zeroed whole middle segment body",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				stat, err := os.Stat(d.segmentPath(2))
				if err != nil {
					t.Fatal(err)
				}
				zeroRange(t, d.segmentPath(2), segmentHeaderSize, stat.Size())
				return 2, segmentHeaderSize, 0
			}, ErrCorrupt, false},
		{"duplicated entry",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				a, b := d.inSegment(2)[0], d.inSegment(2)[1]
				modify(t, a.path, func(f []byte) []byte {
					copy(f[b.offset:b.offset+d.size()], f[a.offset:a.offset+d.size()])
					return f
				})
				return b.segment, b.offset, 0
			}, ErrCorrupt, false},
		{"duplicated last entry",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				entries := d.inSegment(3)
				a, b := entries[len(entries)-2], entries[len(entries)-1]
				modify(t, a.path, func(f []byte) []byte {
					copy(f[b.offset:b.offset+d.size()], f[a.offset:a.offset+d.size()])
					return f
				})
				return b.segment, b.offset, 0
			}, ErrCorrupt, false},
		{"reordered entries",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				a, b := d.inSegment(3)[0], d.inSegment(3)[1]
				modify(t, a.path, func(f []byte) []byte {
					first := append([]byte(nil), f[a.offset:a.offset+d.size()]...)
					copy(f[a.offset:], f[b.offset:b.offset+d.size()])
					copy(f[b.offset:], first)
					return f
				})
				return a.segment, a.offset, 0
			}, ErrCorrupt, false},
		{"segment from another log",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				other := buildDamageLog(t, 99)
				b, err := os.ReadFile(other.segmentPath(2))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(d.segmentPath(2), b, 0o644); err != nil {
					t.Fatal(err)
				}
				return 2, segmentHeaderSize, 0
			}, ErrCorrupt, false},
		{"missing middle segment",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				if err := os.Remove(d.segmentPath(2)); err != nil {
					t.Fatal(err)
				}
				return 3, 0, 0
			}, ErrMissingSegment, false},
		{"wrong segment version",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				modify(t, d.segmentPath(2), func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[segmentOffsetVersion:], segmentVersionBase+1) // No reader knows it.
					binary.LittleEndian.PutUint32(b[segmentOffsetHeaderCRC:],
						headerCRC(b[:segmentHeaderSize], segmentOffsetHeaderCRC))
					return b
				})
				return 2, 0, 0
			}, ErrVersion, false},
		{"wrong entry version",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				modify(t, e.path, func(b []byte) []byte {
					h := b[e.offset : e.offset+entryHeaderSize]
					binary.LittleEndian.PutUint16(h[entryOffsetVersion:], formatVersion+1)
					binary.LittleEndian.PutUint32(h[entryOffsetHeaderCRC:], headerCRC(h, entryOffsetHeaderCRC))
					return b
				})
				return e.segment, e.offset, 0
			}, ErrVersion, false},
		{"segment header flip",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				flipByte(t, d.segmentPath(3), segmentOffsetNumber)
				return 3, 0, 0
			}, ErrCorrupt, false},
		{"edited body with recomputed checksums (tampering)",
			func(t *testing.T, d *damageLog) (uint64, int64, uint64) {
				e := middle(d)
				modify(t, e.path, func(b []byte) []byte {
					body := b[e.offset+entryHeaderSize : e.offset+d.size()]
					body[10] ^= 1
					h := b[e.offset : e.offset+entryHeaderSize]
					binary.LittleEndian.PutUint32(h[entryOffsetBodyCRC:], crc32c(body))
					binary.LittleEndian.PutUint32(h[entryOffsetHeaderCRC:], headerCRC(h, entryOffsetHeaderCRC))
					return b
				})
				return e.segment, e.offset, 0
			}, ErrCorrupt, false},
	}
}

// TestDamage damages a closed log in each way of the table and opens it. Damage that a
// crash can explain (a torn or partly written end of the last segment) must be truncated
// with a log line naming segment and offset, leaving a log that verifies and accepts
// appends; anything else must make Open fail with the right sentinel and a message naming
// the segment and offset. Every case is checked to differ from the undamaged outcome.
func TestDamage(t *testing.T) {
	for _, c := range damageCases() {
		t.Run(c.name, func(t *testing.T) {
			d := buildDamageLog(t, 1)
			segment, offset, lastOp := c.damage(t, d)
			logger, output := testLogger(t)
			l, err := Open(Options{Dir: d.dir, SegmentBytes: testSegmentBytes, Logger: logger})
			if c.want != nil {
				if err == nil {
					l.Close()
					t.Fatalf("Open succeeded on a damaged log")
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("Open error %v, want %v", err, c.want)
				}
				where := fmt.Sprintf("segment %d offset %d", segment, offset)
				t.Logf("Open: %v", err)
				if !strings.Contains(err.Error(), where) {
					t.Fatalf("Open error %q does not name %q", err, where)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			if l.LastOp() != lastOp {
				t.Fatalf("after truncation last op %d, want %d", l.LastOp(), lastOp)
			}
			logged := fmt.Sprintf("segment=%d path=%s offset=%d", segment, d.segmentPath(segment), offset)
			if !c.clean && !strings.Contains(output.String(), "truncated torn tail") ||
				!c.clean && !strings.Contains(output.String(), logged) {
				t.Fatalf("no log line naming %q:\n%s", logged, output)
			}
			checkContinues(t, l)
		})
	}
}

// checkContinues appends to a recovered log and checks it reopens and verifies.
func checkContinues(t *testing.T, l *Log) {
	t.Helper()
	next := l.LastOp() + 1
	e := Entry{Epoch: 1, FirstOp: next, Count: 1, Timestamp: 1_000_000 + next, Body: []byte("after")}
	if err := l.Append(e); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, l, next)
	dir := l.options.Dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, "", &sumReplayer{}); err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
}

// TestDamageTruncateCorrupt opens a log damaged mid-log with TruncateCorrupt: the log
// must be cut right before the damaged entry, the damaged files kept as *.corrupt, and
// the log must continue.
func TestDamageTruncateCorrupt(t *testing.T) {
	d := buildDamageLog(t, 1)
	e := d.inSegment(2)[1]
	flipByte(t, e.path, e.offset+entryHeaderSize+7)
	l := openTest(t, d.dir, func(o *Options) { o.TruncateCorrupt = true })
	if l.LastOp() != e.header.FirstOp-1 {
		t.Fatalf("last op %d, want %d", l.LastOp(), e.header.FirstOp-1)
	}
	for _, name := range []string{segmentName(2) + preservedSuffix, segmentName(3) + preservedSuffix} {
		if _, err := os.Stat(filepath.Join(d.dir, name)); err != nil {
			t.Fatalf("damaged file not kept aside: %v", err)
		}
	}
	checkContinues(t, l)
}
