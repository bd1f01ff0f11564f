package shard

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/internal/hugepage"
	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/wal"
)

// growLedger creates two accounts and transferCount transfers between them in l, in full
// batches, as a sequencer would (the calling goroutine plays it).
func growLedger(l *ledger.Ledger, transferCount int) error {
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}}
	l.CreateAccounts(1, accounts, make([]model.EventResult, 2))
	batch := make([]model.Transfer, model.EventsPerRequestMax)
	results := make([]model.TransferResult, len(batch))
	timestamp, id := uint64(10), uint64(1)
	for created := 0; created < transferCount; created += len(batch) {
		for i := range batch {
			batch[i] = model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(1 + id%2),
				CreditAccountID: model.U128(2 - id%2), Amount: model.U128(1), Ledger: 1, Code: 1}
			id++
		}
		l.CreateTransfers(timestamp, batch, results)
		if results[0].Status != model.StatusOK {
			return fmt.Errorf("transfer %d: %s", id, results[0].Status)
		}
		timestamp += uint64(len(batch))
	}
	return nil
}

// TestStuckPopulaterNeverBlocksTheSequencer attaches a populater whose goroutine gets
// stuck in its first step to a ledger that then grows through several chunks and table
// doublings (many more offers than the queue holds). The sequencer must finish all of it
// (a blocking Offer would hang here; waitMax is only the hang guard), the queue must hold
// exactly freshRangesQueuedMax ranges, every other offer must have been refused at once,
// and the populater must still stop once its step returns.
func TestStuckPopulaterNeverBlocksTheSequencer(t *testing.T) {
	p := newPopulater()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	p.step = func(*ledger.FreshRange) (bool, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return true, nil
	}
	p.start()
	l := ledger.New(ledger.Config{HashSeed: 1})
	l.SetPopulater(p)
	grown := make(chan error, 1)
	go func() { grown <- growLedger(l, 3<<16) }()
	select {
	case err := <-grown:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitMax):
		t.Fatalf("the sequencer is still growing the ledger after %v", waitMax)
	}
	select {
	case <-entered: // The goroutine holds one range in its stuck step.
	case <-time.After(waitMax):
		t.Fatalf("the populater took no range in %v", waitMax)
	}
	// The goroutine took its first range either before the queue filled (then 9 offers
	// were accepted, 8 of them still queued) or only after the sequencer had finished (8
	// accepted, 7 queued): which depends on when it got a CPU, not on the code.
	offered, refused := p.offered.Load(), p.refused.Load()
	accepted := offered - refused
	if refused == 0 || accepted < freshRangesQueuedMax || accepted > freshRangesQueuedMax+1 {
		t.Fatalf("%d offered, %d refused: want all but %d or %d refused", offered, refused,
			freshRangesQueuedMax, freshRangesQueuedMax+1)
	}
	if uint64(len(p.ranges)) != accepted-1 {
		t.Fatalf("%d ranges queued, want %d (accepted %d, one taken)", len(p.ranges),
			accepted-1, accepted)
	}
	l.SetPopulater(nil)
	close(release)
	p.stopAndWait()
	if p.populated.Load() > accepted {
		t.Fatalf("%d ranges populated of %d accepted", p.populated.Load(), accepted)
	}
}

// TestUnsupportedKernelTurnsOffersAway: once a step reports that the kernel cannot
// populate (hugepage.ErrPopulateUnsupported), Offer refuses at once, so that the
// sequencer faults its memory in itself (a growing id table then touches its next table
// as it did before populaters).
func TestUnsupportedKernelTurnsOffersAway(t *testing.T) {
	p := newPopulater()
	stepped := make(chan struct{})
	p.step = func(*ledger.FreshRange) (bool, error) {
		defer close(stepped)
		return false, hugepage.ErrPopulateUnsupported
	}
	p.start()
	defer p.stopAndWait()
	l := ledger.New(ledger.Config{HashSeed: 1})
	l.SetPopulater(p)
	// The first chunk grows full: spares are offered.
	if err := growLedger(l, 1<<16); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stepped:
	case <-time.After(waitMax):
		t.Fatalf("no step after %v", waitMax)
	}
	for !p.unsupported.Load() {
		runtime.Gosched() // Set right after the step returns.
	}
	refusedBefore := p.refused.Load()
	if p.Offer(nil) || p.refused.Load() != refusedBefore+1 {
		t.Fatal("an offer was taken after the kernel refused to populate")
	}
}

// TestShardPopulatesAndStopsItsPopulater runs a shard (default config) through more than
// one chunk of transfers and checks that the sequencer offered fresh memory to the
// shard's populater (the wiring of Start), that the populater faulted ranges in where the
// kernel can, and that once Close has returned the populater's goroutine has returned
// too. PopulateOff gets no populater at all.
func TestShardPopulatesAndStopsItsPopulater(t *testing.T) {
	s, replier := startShard(t, Config{}, wal.NewMemoryLog())
	operatorGrants(t, s, 7)
	submitted := 0
	submit := func(operation model.Operation, body []byte) {
		submitted++
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: uint64(submitted), Operation: operation, Body: body}); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
	}
	submit(model.OperationCreateAccounts, plainAccountsBody(1, 2))
	id := uint64(1)
	for created := 0; created < 1<<16+model.EventsPerRequestMax; created += model.EventsPerRequestMax {
		body := make([]byte, 0, model.EventsPerRequestMax*model.TransferSize)
		for range model.EventsPerRequestMax {
			body = append(body, transferBody(id, 1+id%2, 2-id%2, 1, 0, 0)...)
			id++
		}
		submit(model.OperationCreateTransfers, body)
	}
	replier.waitFor(t, submitted)
	p := s.populater
	// The populater runs on its own goroutine: give it time to finish a range before the
	// shard stops it (on a loaded machine it may not have had a CPU yet).
	for deadline := time.Now().Add(waitMax); p.populated.Load() == 0 && !p.unsupported.Load() &&
		time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if count := s.machine.Ledger().TransferCount(); count != uint32(id-1) {
		t.Fatalf("%d transfers stored, %d sent", count, id-1)
	}
	select {
	case <-p.done:
	default:
		t.Fatal("the populater's goroutine is still running after Close")
	}
	if p.offered.Load() == 0 {
		t.Fatal("the sequencer offered no fresh memory")
	}
	if !p.unsupported.Load() && p.populated.Load() == 0 {
		t.Fatal("no range populated")
	}

	off, err := New(Config{PopulateOff: true}, core.New(testMachineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	off.Start(RepliesOnly(newRecordingReplier()))
	if err := off.Close(); err != nil || off.populater != nil {
		t.Fatalf("PopulateOff: populater %v, close error %v", off.populater, err)
	}
}
