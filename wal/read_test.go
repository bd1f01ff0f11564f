package wal

import (
	"errors"
	"sync"
	"testing"
)

// TestReadFromTheMiddle reads from every kind of position: op 0, entry boundaries, ops
// inside an entry (the straddling entry comes whole), the last op, past the end.
func TestReadFromTheMiddle(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	last := appendEntries(t, l, 600)
	waitDurable(t, l, last)
	for _, after := range []uint64{0, 1, 2, 3, 100, 101, 1000, last / 2, last - 1, last, last + 5} {
		entries, readLast := readAll(t, l, after)
		if after >= last {
			if entries != 0 {
				t.Fatalf("read after %d (end %d) gave %d entries", after, last, entries)
			}
			continue
		}
		if readLast != last {
			t.Fatalf("read after %d ended at %d, want %d", after, readLast, last)
		}
	}
	stop := errors.New("stop")
	count := 0
	err := l.Read(0, func(e *Entry) error {
		count++
		if count == 3 {
			return stop
		}
		return nil
	})
	if err != stop || count != 3 {
		t.Fatalf("fn's error not returned at once: %v after %d entries", err, count)
	}
}

// TestReadConcurrentWithAppend runs a reader that follows the log (as replication
// catch-up does) while the appender writes across several segments; the reader must see
// every entry exactly once, in order, intact, and never beyond Durable.
func TestReadConcurrentWithAppend(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	const total = 1500
	var wait sync.WaitGroup
	wait.Add(1)
	failures := make(chan error, 1)
	go func() {
		defer wait.Done()
		position := uint64(0)
		for position < total {
			<-l.DurableNotify()
			err := l.Read(position, func(e *Entry) error {
				if e.LastOp() > l.Durable() {
					return errors.New("read an entry beyond Durable")
				}
				if e.FirstOp != position+1 {
					return errors.New("gap or repeat in concurrent read")
				}
				checkEntry(t, e)
				position = e.LastOp()
				return nil
			})
			if err != nil {
				failures <- err
				return
			}
		}
	}()
	for l.LastOp() < total {
		appendEntries(t, l, 1)
	}
	wait.Wait()
	select {
	case err := <-failures:
		t.Fatal(err)
	default:
	}
}
