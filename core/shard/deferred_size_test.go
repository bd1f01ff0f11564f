package shard

import (
	"log/slog"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestLargeEntryGoesToTheLogWriter: with nothing else in the ring, a one-account request
// is written and synced by the sequencer itself (an inline group), while a large one
// (1024 accounts, 128 KiB; a full batch is 1 MiB) goes to the log's writer, so that its
// encoding, write and fdatasync overlap its apply instead of following it (issue 15,
// latency of full batches). Both replies are ok.
func TestLargeEntryGoesToTheLogWriter(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), SegmentBytes: wal.SegmentBytesMin,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	ids := make([]uint64, 1024) // 128 KiB: above any size the log defers.
	for i := range ids {
		ids[i] = uint64(2 + i)
	}
	bodies := [][]byte{accountsBody(1), accountsBody(ids...)}
	for i, body := range bodies {
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: uint64(i + 1), Operation: model.OperationCreateAccounts,
			Body: body}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", i, status)
		}
		if reply := replier.waitFor(t, i+1)[i]; reply.Status != model.StatusOK {
			t.Fatalf("reply %d: %s", i, reply.Status)
		}
		if stats := log.Stats(); stats.Groups != uint64(i+1) || stats.InlineGroups != 1 {
			t.Fatalf("after request %d (%d bytes) log stats %+v: want %d groups, 1 inline "+
				"(the one-account request's)", i, len(body), stats, i+1)
		}
	}
}
