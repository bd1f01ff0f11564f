package wal

import (
	"bytes"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
)

// testSegmentBytes is the smallest segment size allowed, so that tests roll segments
// after a few MiB.
const testSegmentBytes = SegmentBytesMin + 64<<10

// transfersBody encodes count realistic transfer records: sequential ids from firstID,
// random accounts among 1M, small amounts; what the sequencer logs for create_transfers.
func transfersBody(r *rand.Rand, firstID uint64, count int) []byte {
	b := make([]byte, count*model.TransferSize)
	for i := range count {
		t := model.Transfer{
			ID:              model.U128(firstID + uint64(i)),
			DebitAccountID:  model.U128(1 + r.Uint64N(1_000_000)),
			CreditAccountID: model.U128(1 + r.Uint64N(1_000_000)),
			Amount:          model.U128(1 + r.Uint64N(10_000)),
			Ledger:          1,
			Code:            1,
		}
		t.Encode(b[i*model.TransferSize:])
	}
	return b
}

// bodyFor is a deterministic body for the entry starting at firstOp: its content can be
// checked after recovery without keeping a copy. Sizes vary from a few bytes (stored raw)
// to tens of KiB; kinds alternate between compressible transfer records and random bytes.
func bodyFor(firstOp uint64, count uint32) []byte {
	r := rand.New(rand.NewPCG(firstOp, uint64(count)))
	switch firstOp % 4 {
	case 0:
		return transfersBody(r, firstOp, int(count))
	case 1:
		b := make([]byte, 1+r.IntN(200))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case 2:
		b := make([]byte, 1000+r.IntN(40_000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	return transfersBody(r, firstOp, int(count)*3)
}

// entryFor is the deterministic entry at firstOp.
func entryFor(firstOp uint64) Entry {
	count := uint32(1 + firstOp%7)
	return Entry{Epoch: 1 + firstOp/1000, FirstOp: firstOp, Count: count,
		Timestamp: 1_700_000_000_000_000_000 + firstOp*1000, Body: bodyFor(firstOp, count)}
}

// checkEntry fails the test unless e is entryFor(e.FirstOp).
func checkEntry(t testing.TB, e *Entry) {
	t.Helper()
	want := entryFor(e.FirstOp)
	if e.Epoch != want.Epoch || e.Count != want.Count || e.Timestamp != want.Timestamp ||
		!bytes.Equal(e.Body, want.Body) {
		t.Fatalf("entry at op %d differs from what was appended", e.FirstOp)
	}
}

// appendEntries appends deterministic entries until LastOp reaches at least op, and
// returns the last op.
func appendEntries(t testing.TB, l Appender, count int) uint64 {
	t.Helper()
	for range count {
		e := entryFor(l.LastOp() + 1)
		if err := l.Append(e); err != nil {
			t.Fatalf("append at op %d: %v", e.FirstOp, err)
		}
	}
	return l.LastOp()
}

// waitMax bounds the tests' waits for what a healthy log does (a signal, a retried
// preparation, a call's return): a hang guard, not a timing assertion, long enough for
// -race on the loaded 2-core CI machine.
const waitMax = time.Minute

// waitDurable waits until Durable reaches op, at most waitMax (a hang guard, not a timing
// assertion): a log that never gets there fails the test with what it reached.
func waitDurable(t testing.TB, l Appender, op uint64) {
	t.Helper()
	waitDurableWithin(t, l, op, waitMax)
}

// waitDurableWithin is waitDurable with its bound given.
func waitDurableWithin(t testing.TB, l Appender, op uint64, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for l.Durable() < op {
		if err := l.Err(); err != nil {
			t.Fatalf("waiting for op %d: %v", op, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for op %d: durable to op %d after %v", op, l.Durable(), bound)
		}
		select {
		case <-l.DurableNotify():
		case <-time.After(100 * time.Millisecond): // re-check; not an assertion
		}
	}
}

// readAll reads the whole log and checks every entry's content and continuity.
func readAll(t testing.TB, l *Log, afterOp uint64) (entries int, lastOp uint64) {
	t.Helper()
	next := afterOp + 1
	err := l.Read(afterOp, func(e *Entry) error {
		if entries == 0 && (e.FirstOp > next || e.LastOp() < next) {
			t.Fatalf("first entry read covers ops %d..%d, want op %d", e.FirstOp, e.LastOp(), next)
		}
		if entries > 0 && e.FirstOp != next {
			t.Fatalf("entry at op %d, want %d", e.FirstOp, next)
		}
		checkEntry(t, e)
		next = e.LastOp() + 1
		entries++
		return nil
	})
	if err != nil {
		t.Fatalf("read after op %d: %v", afterOp, err)
	}
	return entries, next - 1
}

// testLogger returns a logger writing to the test log, and a buffer with the same text,
// so that tests can check what recovery said.
func testLogger(t testing.TB) (*slog.Logger, *bytes.Buffer) {
	var buffer bytes.Buffer
	w := io.MultiWriter(&buffer, testWriter{t})
	return slog.New(slog.NewTextHandler(w, nil)), &buffer
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

// openTest opens a log in dir with small segments.
func openTest(t testing.TB, dir string, modify ...func(*Options)) *Log {
	t.Helper()
	logger, _ := testLogger(t)
	options := Options{Dir: dir, SegmentBytes: testSegmentBytes, Logger: logger}
	for _, m := range modify {
		m(&options)
	}
	l, err := Open(options)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

// holdHook makes the first call of hook (testHookWrite, testHookSync) for dir block until
// release is called; reached is closed once it blocks. Its cleanup clears the hook and
// releases the call: register the log's Close before calling holdHook, so that it runs
// after.
func holdHook(t *testing.T, hook *atomicHook, dir string) (reached <-chan struct{}, release func()) {
	t.Helper()
	blocked, letGo := make(chan struct{}), make(chan struct{})
	hold := sync.OnceFunc(func() { close(blocked); <-letGo })
	fn := func(at string) error {
		if at == dir {
			hold()
		}
		return nil
	}
	hook.Store(&fn)
	release = sync.OnceFunc(func() { close(letGo) })
	t.Cleanup(func() { hook.Store(nil); release() })
	return blocked, release
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// appendLargeEntries appends count uncompressed entries of 700 KiB each (two fit in a
// SegmentBytesMin segment), one op each, timestamps 1000 apart; it returns the last op.
func appendLargeEntries(t testing.TB, l *Log, count int) uint64 {
	t.Helper()
	for range count {
		op := l.LastOp() + 1
		if err := l.Append(Entry{Epoch: 1, FirstOp: op, Count: 1, Timestamp: largeEntryTimestamp(op),
			Body: make([]byte, 700<<10)}); err != nil {
			t.Fatalf("append at op %d: %v", op, err)
		}
	}
	return l.LastOp()
}

func largeEntryTimestamp(op uint64) uint64 { return 1_700_000_000_000_000_000 + op*1000 }

// largeSegments are the options appendLargeEntries expects.
func largeSegments(o *Options) { o.SegmentBytes, o.Compression = SegmentBytesMin, CodecNone }
