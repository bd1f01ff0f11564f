package wal_test

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"sequent/wal"
)

// The life of a log: open (recovering whatever is there), append batches from the one
// sequencer goroutine, wait for Durable before releasing replies, read back.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	log, err := wal.Open(wal.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	batches := []string{"first batch: two commands", "second batch: one command"}
	op := log.LastOp() + 1
	for i, body := range batches {
		entry := wal.Entry{Epoch: 1, FirstOp: op, Count: uint32(2 - i), Timestamp: uint64(1 + i),
			Body: []byte(body)}
		if err := log.Append(entry); err != nil {
			panic(err)
		}
		op += uint64(entry.Count)
	}
	for log.Durable() < log.LastOp() {
		<-log.DurableNotify() // replies of ops up to Durable() may go out now
	}
	err = log.Read(0, func(e *wal.Entry) error {
		fmt.Printf("ops %d..%d: %s\n", e.FirstOp, e.LastOp(), e.Body)
		return nil
	})
	if err != nil {
		panic(err)
	}
	if err := log.Close(); err != nil {
		panic(err)
	}
	// Output:
	// ops 1..2: first batch: two commands
	// ops 3..3: second batch: one command
}

// Snapshots are written by a background goroutine and read back at start-up, newest
// valid first.
func ExampleWriteSnapshot() {
	dir, err := os.MkdirTemp("", "wal-snapshots")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	state := bytes.NewBufferString("the whole core state")
	meta := wal.SnapshotMeta{Op: 42, Epoch: 1, Timestamp: 7}
	if _, err := wal.WriteSnapshot(dir, meta, state); err != nil {
		panic(err)
	}
	infos, err := wal.ListSnapshots(dir)
	if err != nil {
		panic(err)
	}
	for _, info := range infos {
		if info.Err != nil {
			continue // damaged: fall back to an older one
		}
		meta, reader, err := wal.OpenSnapshot(info.Path)
		if err != nil {
			continue
		}
		restored, err := io.ReadAll(reader) // an error here means: fall back too
		reader.Close()
		if err != nil {
			continue
		}
		fmt.Printf("op %d: %s\n", meta.Op, restored)
		break
	}
	// Output: op 42: the whole core state
}
