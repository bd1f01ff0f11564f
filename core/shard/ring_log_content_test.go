package shard

import (
	"bytes"
	"encoding/binary"
	"flag"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

var ringLogSeed = flag.Uint64("ring-log-seed", 1, "seed of TestRequestsReachTheLogIntact")

// ringLogBody is the create_accounts body of session's request number: count accounts
// with ids unique to the request, so that a body written over by another shows.
func ringLogBody(session, number uint64, count int) []byte {
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = session<<40 | number<<16 | uint64(i+1)
	}
	return accountsBody(ids...)
}

// TestRequestsReachTheLogIntact runs a shard on a real log with a small input ring: one
// client sends a request at a time (the ring empties and restarts at its front, the log's
// lone entries take the last slot's buffers, small ones written by the sequencer itself)
// while two others send bursts, small requests mixed with requests of up to 256 KiB
// (compressed by the log's encoders, skipping the ring's tail). Every request must be in
// the reopened log once, with the body it was submitted with. Seed: -ring-log-seed.
func TestRequestsReachTheLogIntact(t *testing.T) {
	seed := *ringLogSeed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -ring-log-seed %d)", seed, seed)
		}
	})
	options := wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	replier := newDurabilityReplier(t, log)
	s, err := New(Config{RingBytes: 2 * EntryBytesMaxDefault}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(replier))
	const clients, perClient = 3, 120
	var mutex sync.Mutex
	submitted := map[[2]uint64][]byte{} // By session and number.
	var group sync.WaitGroup
	for client := range uint64(clients) {
		group.Go(func() {
			random := rand.New(rand.NewPCG(seed, client))
			session := client + 1
			for number := uint64(1); number <= perClient; number++ {
				count := 1 + random.IntN(16)
				if client > 0 && random.IntN(6) == 0 {
					count = 500 + random.IntN(1500)
				}
				body := ringLogBody(session, number, count)
				mutex.Lock()
				submitted[[2]uint64{session, number}] = body
				mutex.Unlock()
				for s.Submit(&backend.Request{Connection: session, Client: 7, Session: session,
					Number: number, Operation: model.OperationCreateAccounts,
					Body: body}) == model.StatusBusy {
					time.Sleep(time.Millisecond)
				}
				if client == 0 {
					replier.waitAnswered(session, int(number)) // One at a time.
				}
			}
		})
	}
	group.Wait()
	for session := uint64(1); session <= clients; session++ {
		replier.waitAnswered(session, perClient)
	}
	stats := log.Stats()
	t.Logf("log: %d groups, %d written by the sequencer", stats.Groups, stats.InlineGroups)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if log, err = wal.Open(options); err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	found := 0
	err = log.Read(0, func(e *wal.Entry) error {
		for body := e.Body; len(body) > 0; {
			length := int(binary.LittleEndian.Uint32(body[28:]))
			var request core.Request
			if err := core.DecodeRequest(body[:core.RequestHeaderSize+length], &request); err != nil {
				t.Fatalf("seed %d: entry at op %d: %v", seed, e.FirstOp, err)
			}
			body = body[core.RequestHeaderSize+length:]
			if request.Client == 0 {
				continue // The server's own (pulse, grants).
			}
			key := [2]uint64{request.Session, request.Number}
			want, ok := submitted[key]
			if !ok {
				t.Fatalf("seed %d: entry at op %d holds session %d request %d twice or never "+
					"submitted", seed, e.FirstOp, request.Session, request.Number)
			}
			if !bytes.Equal(request.Body, want) {
				t.Fatalf("seed %d: session %d request %d: the logged body differs from the "+
					"submitted one", seed, request.Session, request.Number)
			}
			delete(submitted, key)
			found++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(submitted) != 0 {
		t.Fatalf("seed %d: %d requests missing from the log (%d found)", seed, len(submitted),
			found)
	}
}
