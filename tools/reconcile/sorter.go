package reconcile

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// sorter sorts entries in bounded memory: it keeps at most runEntries in memory, and when
// that is full it sorts them and writes them to a temporary file (a run). finish merges
// the runs (a k-way merge through a heap), or, when nothing was spilled, hands back the
// in-memory run. Memory is runEntries × entrySize plus one read buffer per run, whatever
// the input size; disk is the input's size once.
type sorter struct {
	compare    func(a, b *entry) int
	runEntries int
	directory  string // Where runs go ("" = the system's temporary directory).
	buffer     []entry
	runs       []*os.File
	count      int // Entries added.
}

// Bounds of the sorter.
const (
	// RunEntriesDefault is the entries kept in memory per sorter before a run is spilled
	// (16 MiB of entries).
	RunEntriesDefault = 1 << 18
	// runsMax bounds the run files of one sorter (and so the open files and read buffers
	// of its merge): at RunEntriesDefault, 1,024 runs are 268 million entries.
	runsMax = 1_024
	// runBufferBytes is each run's read and write buffer.
	runBufferBytes = 64 << 10
)

// ErrTooManyRuns: the input outgrew runsMax runs of runEntries.
var ErrTooManyRuns = errors.New("reconcile: too many entries for the sort's run limit")

func newSorter(compare func(a, b *entry) int, runEntries int, directory string) *sorter {
	runEntries = max(runEntries, 1)
	return &sorter{compare: compare, runEntries: runEntries, directory: directory,
		buffer: make([]entry, 0, min(runEntries, 4096))}
}

// add appends an entry, spilling a run when the memory bound is reached.
func (s *sorter) add(e *entry) error {
	if len(s.buffer) == s.runEntries {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.buffer = append(s.buffer, *e)
	s.count++
	return nil
}

// spill sorts the buffer and writes it to a new run file.
func (s *sorter) spill() error {
	if len(s.runs) == runsMax {
		return fmt.Errorf("%w (%d runs of %d)", ErrTooManyRuns, runsMax, s.runEntries)
	}
	slices.SortFunc(s.buffer, func(a, b entry) int { return s.compare(&a, &b) })
	file, err := os.CreateTemp(s.directory, "sequent-reconcile-*.run")
	if err != nil {
		return fmt.Errorf("reconcile: sort run: %w", err)
	}
	// Unlinked at once: the file lives as long as it is open, and nothing is left behind
	// if the process dies.
	os.Remove(file.Name())
	s.runs = append(s.runs, file)
	writer := bufio.NewWriterSize(file, runBufferBytes)
	var encoded [entrySize]byte
	for i := range s.buffer {
		s.buffer[i].encode(encoded[:])
		if _, err := writer.Write(encoded[:]); err != nil {
			return fmt.Errorf("reconcile: sort run: %w", err)
		}
	}
	if err := writer.Flush(); err != nil {
		return fmt.Errorf("reconcile: sort run: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reconcile: sort run: %w", err)
	}
	s.buffer = s.buffer[:0]
	return nil
}

// finish returns an iterator over every entry added, in order. The sorter is spent.
func (s *sorter) finish() (iterator, error) {
	if len(s.runs) == 0 {
		slices.SortFunc(s.buffer, func(a, b entry) int { return s.compare(&a, &b) })
		return &memoryIterator{entries: s.buffer}, nil
	}
	if len(s.buffer) > 0 {
		if err := s.spill(); err != nil {
			s.close()
			return nil, err
		}
	}
	s.buffer = nil
	merge := &mergeIterator{compare: s.compare, files: s.runs}
	for _, file := range s.runs {
		run := &runReader{reader: bufio.NewReaderSize(file, runBufferBytes)}
		ok, err := run.advance()
		if err != nil {
			merge.close()
			return nil, err
		}
		if ok {
			merge.heap = append(merge.heap, run)
		}
	}
	heap.Init(merge)
	return merge, nil
}

// close removes the runs of a sorter that will not be finished.
func (s *sorter) close() {
	for _, file := range s.runs {
		file.Close()
	}
	s.runs = nil
}

// iterator yields entries in order. next's entry is valid until the following call.
type iterator interface {
	next() (*entry, bool, error)
	close()
}

type memoryIterator struct {
	entries []entry
	index   int
}

func (m *memoryIterator) next() (*entry, bool, error) {
	if m.index == len(m.entries) {
		return nil, false, nil
	}
	m.index++
	return &m.entries[m.index-1], true, nil
}

func (m *memoryIterator) close() { m.entries = nil }

// runReader is one run being merged, holding its next entry.
type runReader struct {
	reader  *bufio.Reader
	current entry
	bytes   [entrySize]byte
}

func (r *runReader) advance() (bool, error) {
	if _, err := io.ReadFull(r.reader, r.bytes[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("reconcile: reading a sort run: %w", err)
	}
	r.current.decode(r.bytes[:])
	return true, nil
}

// mergeIterator merges sorted runs through a min-heap of their next entries.
type mergeIterator struct {
	compare func(a, b *entry) int
	heap    []*runReader
	files   []*os.File
	last    entry      // The entry returned by the previous next.
	pending *runReader // The run whose entry was returned last: advanced on the next call.
}

func (m *mergeIterator) Len() int { return len(m.heap) }
func (m *mergeIterator) Less(i, j int) bool {
	return m.compare(&m.heap[i].current, &m.heap[j].current) < 0
}
func (m *mergeIterator) Swap(i, j int) { m.heap[i], m.heap[j] = m.heap[j], m.heap[i] }
func (m *mergeIterator) Push(x any)    { m.heap = append(m.heap, x.(*runReader)) }
func (m *mergeIterator) Pop() any {
	last := m.heap[len(m.heap)-1]
	m.heap = m.heap[:len(m.heap)-1]
	return last
}

func (m *mergeIterator) next() (*entry, bool, error) {
	if run := m.pending; run != nil {
		m.pending = nil
		ok, err := run.advance()
		if err != nil {
			return nil, false, err
		}
		if ok {
			heap.Fix(m, 0)
		} else {
			heap.Pop(m)
		}
	}
	if len(m.heap) == 0 {
		return nil, false, nil
	}
	m.last = m.heap[0].current
	m.pending = m.heap[0]
	return &m.last, true, nil
}

func (m *mergeIterator) close() {
	for _, file := range m.files {
		file.Close()
	}
	m.files, m.heap = nil, nil
}
