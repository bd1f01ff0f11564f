package ledger

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"sequent/core/internal/hugepage"
	"sequent/core/model"
)

// concurrentPopulater faults offered ranges in on a goroutine of its own, as the shard
// runtime's does, while the test's goroutine (the sequencer) goes on writing the ledger.
type concurrentPopulater struct {
	ranges      chan *FreshRange
	done        sync.WaitGroup
	offered     int // Sequencer's count.
	finished    int // The goroutine's count of ranges populated to the end (read after stop).
	unsupported bool
}

func newConcurrentPopulater() *concurrentPopulater {
	p := &concurrentPopulater{ranges: make(chan *FreshRange, 64)}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for fresh := range p.ranges {
			for {
				done, err := fresh.PopulateStep(1 << 20)
				if errors.Is(err, hugepage.ErrPopulateUnsupported) {
					p.unsupported = true
				}
				if err != nil || done {
					p.finished += btoi(done)
					break
				}
			}
		}
	}()
	return p
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (p *concurrentPopulater) Offer(fresh *FreshRange) bool {
	select {
	case p.ranges <- fresh:
		p.offered++
		return true
	default:
		return false
	}
}

func (p *concurrentPopulater) stop() {
	close(p.ranges)
	p.done.Wait()
}

// recordingPopulater takes every range and never populates it (a populater that is stuck
// as far as the sequencer can tell); it keeps what it was offered.
type recordingPopulater struct{ offered []*FreshRange }

func (p *recordingPopulater) Offer(fresh *FreshRange) bool {
	p.offered = append(p.offered, fresh)
	return true
}

// refusingPopulater refuses every range (a full queue, or a kernel without
// MADV_POPULATE_WRITE).
type refusingPopulater struct{ offered int }

func (p *refusingPopulater) Offer(*FreshRange) bool {
	p.offered++
	return false
}

// freshWorkload drives ledgers through growth: 16 accounts (the first four with balance
// history) and batches of 8,189 transfers (pending ones, posts of them, plain ones), so
// that the transfer arrays and the history take several chunks and the transfer table
// doubles many times from its smallest size. Each batch is applied to every ledger, and
// their results must match.
type freshWorkload struct {
	t         *testing.T
	ledgers   []*Ledger
	random    *rand.Rand
	batch     []model.Transfer
	results   [][]model.TransferResult
	timestamp uint64
	nextID    uint64
}

func newFreshWorkload(t *testing.T, ledgers ...*Ledger) *freshWorkload {
	t.Helper()
	accounts := make([]model.Account, 16)
	for i := range accounts {
		accounts[i] = model.Account{ID: model.U128(uint64(i) + 1), Ledger: 1, Code: 1}
		if i < 4 {
			accounts[i].Flags = model.AccountHistory
		}
	}
	accountResults := make([]model.EventResult, len(accounts))
	for _, l := range ledgers {
		l.CreateAccounts(1, accounts, accountResults)
		for i, result := range accountResults {
			if result.Status != model.StatusOK {
				t.Fatalf("account %d: %s", i, result.Status)
			}
		}
	}
	w := &freshWorkload{t: t, ledgers: ledgers, random: rand.New(rand.NewPCG(15, 41)),
		batch: make([]model.Transfer, model.EventsPerRequestMax), timestamp: 100, nextID: 1}
	w.results = make([][]model.TransferResult, len(ledgers))
	for i := range w.results {
		w.results[i] = make([]model.TransferResult, len(w.batch))
	}
	return w
}

// run applies batches until at least transferCount more transfers were sent.
func (w *freshWorkload) run(transferCount int) {
	w.t.Helper()
	for sent := 0; sent < transferCount; sent += len(w.batch) {
		w.fill()
		for i, l := range w.ledgers {
			l.CreateTransfers(w.timestamp, w.batch, w.results[i])
		}
		for i := 1; i < len(w.ledgers); i++ {
			for event := range w.batch {
				if w.results[i][event] != w.results[0][event] {
					w.t.Fatalf("ledger %d, event %d: %+v, ledger 0: %+v", i, event,
						w.results[i][event], w.results[0][event])
				}
			}
		}
		if w.results[0][0].Status != model.StatusOK || w.results[0][1].Status != model.StatusOK {
			w.t.Fatalf("batch before id %d: %s, %s", w.nextID, w.results[0][0].Status,
				w.results[0][1].Status)
		}
		w.timestamp += uint64(len(w.batch))
	}
}

// fill builds the next batch: a pending transfer, its post, two plain transfers, and so on.
func (w *freshWorkload) fill() {
	for i := range w.batch {
		debit := w.random.Uint64N(16) + 1
		transfer := model.Transfer{ID: model.U128(w.nextID), DebitAccountID: model.U128(debit),
			CreditAccountID: model.U128(debit%16 + 1), Amount: model.U128(1 + w.random.Uint64N(9)),
			Ledger: 1, Code: 1}
		switch i % 4 {
		case 0:
			transfer.Flags = model.TransferPending
		case 1:
			pending := &w.batch[i-1]
			transfer = model.Transfer{ID: model.U128(w.nextID), PendingID: pending.ID,
				Flags: model.TransferPostPending, Amount: pending.Amount}
		}
		w.batch[i] = transfer
		w.nextID++
	}
}

// TestPopulaterLeavesStateAndResultsUnchanged applies the same growing workload to a
// ledger without a populater, one whose populater faults everything in on another
// goroutine while the ledger is written (run it with -race), and one whose populater
// refuses everything: every batch's results, and the final digest (the snapshot's bytes),
// must be the same. It also checks that the populater was offered both kinds of fresh
// memory (spare chunks and growing tables), so that the comparison covers them.
func TestPopulaterLeavesStateAndResultsUnchanged(t *testing.T) {
	plain := New(Config{HashSeed: 9})
	populated := New(Config{HashSeed: 9})
	refused := New(Config{HashSeed: 9})
	populater, refusing := newConcurrentPopulater(), &refusingPopulater{}
	populated.SetPopulater(populater)
	refused.SetPopulater(refusing)
	newFreshWorkload(t, plain, populated, refused).run(3 * chunkRecordCount)
	populated.SetPopulater(nil)
	populater.stop()

	if plain.Digest() != populated.Digest() || plain.Digest() != refused.Digest() {
		t.Fatal("a populater changed the ledger's state")
	}
	if populater.offered < 8 || refusing.offered != populater.offered {
		t.Fatalf("offers: %d taken, %d refused; want the same number, at least 8",
			populater.offered, refusing.offered)
	}
	if len(populated.transfers.chunks) < 3 || len(populated.history.chunks) < 2 {
		t.Fatalf("%d transfer chunks, %d history chunks: the workload did not grow enough",
			len(populated.transfers.chunks), len(populated.history.chunks))
	}
	if !populater.unsupported && populater.finished != populater.offered {
		t.Fatalf("%d of %d ranges populated to the end", populater.finished, populater.offered)
	}
}

// TestSpareChunksAreBoundedAndUsed grows a ledger whose populater takes every range and
// never populates it. After every batch each transfer-path array holds at most
// chunkSparesMax spare chunk and all spares together at most freshChunkBytesAheadMax
// (exactly that once history is past its first chunk); every chunk the arrays took into
// use after the first was offered beforehand (so the populater works on memory that will
// be written); and without a populater nothing is allocated ahead.
func TestSpareChunksAreBoundedAndUsed(t *testing.T) {
	populater := &recordingPopulater{}
	l := New(Config{HashSeed: 3})
	l.SetPopulater(populater)
	bounded := New(Config{HashSeed: 3})
	workload := newFreshWorkload(t, l)
	for range 3 * chunkRecordCount / model.EventsPerRequestMax {
		workload.run(1)
		if spares := spareBytes(l); spares > freshChunkBytesAheadMax {
			t.Fatalf("%d bytes of spare chunks, bound %d", spares, freshChunkBytesAheadMax)
		}
	}
	if spares := spareBytes(l); spares != freshChunkBytesAheadMax {
		t.Fatalf("%d bytes of spare chunks with every array past its first chunk, want %d",
			spares, freshChunkBytesAheadMax)
	}
	offered := map[unsafe.Pointer]bool{}
	for _, fresh := range populater.offered {
		offered[fresh.start] = true
	}
	checkOffered := func(name string, starts []unsafe.Pointer) {
		for i, start := range starts[1:] {
			if !offered[start] {
				t.Fatalf("%s chunk %d was not offered before use", name, i+1)
			}
		}
	}
	checkOffered("transfers", chunkStarts(l.transfers.chunks))
	checkOffered("transferLinks", chunkStarts(l.transferLinks.chunks))
	checkOffered("pending", chunkStarts(l.pending.chunks))
	checkOffered("history", chunkStarts(l.history.chunks))

	newFreshWorkload(t, bounded).run(3 * chunkRecordCount)
	if spares := spareBytes(bounded); spares != 0 {
		t.Fatalf("%d bytes allocated ahead without a populater", spares)
	}
}

// spareBytes returns the bytes of the spare chunks the ledger holds.
func spareBytes(l *Ledger) uint64 {
	return spareOf(&l.transfers) + spareOf(&l.transferLinks) + spareOf(&l.pending) +
		spareOf(&l.history)
}

func spareOf[T any](c *chunked[T]) uint64 {
	var zero T
	if len(c.spare) != 0 && len(c.spare) != chunkRecordCount*chunkSparesMax {
		panic("a spare that is not one chunk")
	}
	return uint64(len(c.spare)) * uint64(unsafe.Sizeof(zero))
}

func chunkStarts[T any](chunks [][]T) []unsafe.Pointer {
	starts := make([]unsafe.Pointer, len(chunks))
	for i, chunk := range chunks {
		starts[i] = unsafe.Pointer(unsafe.SliceData(chunk))
	}
	return starts
}

// TestIDTableTouchesOnlyWhatThePopulaterHasNot grows an id table three ways and looks at
// how much of the next table the sequencer counts as faulted in right after allocating
// it: everything when the populater has finished it (the sequencer touches nothing), and
// only its per-insert share (as without a populater) when the populater refused it or
// took it and never got to it; the last two still have the whole table touched when it
// takes over. Lookups stay right throughout (idTableModel checks them against a map).
func TestIDTableTouchesOnlyWhatThePopulaterHasNot(t *testing.T) {
	finished := populaterFunc(func(fresh *FreshRange) bool {
		fresh.populated.Store(fresh.size) // As a populater that has finished.
		return true
	})
	stuck := populaterFunc(func(*FreshRange) bool { return true })
	refusing := populaterFunc(func(*FreshRange) bool { return false })
	for _, c := range []struct {
		name      string
		populater Populater
		finished  bool // The sequencer should find the next table faulted in already.
	}{
		{"finished", finished, true},
		{"stuck", stuck, false},
		{"refusing", refusing, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newIDTableModel(t, 5, true)
			m.table.ahead = &freshSink{populater: c.populater}
			prepared, switched := 0, 0
			for i := uint64(1); switched < 3; i++ {
				hadNext, slotsBefore := m.table.next != nil, len(m.table.slots)
				m.insert(idOf(i))
				if !hadNext && m.table.next != nil {
					prepared++
					untouched := len(m.table.next) - int(m.table.nextTouched)
					if (untouched == 0) != c.finished {
						t.Fatalf("%d of %d slots left for the sequencer to fault in after "+
							"allocating the next table", untouched, len(m.table.next))
					}
				}
				if len(m.table.slots) != slotsBefore {
					switched++
					// The table taking over is faulted in whole, one way or the other.
					if m.table.nextTouched != uint64(len(m.table.slots)) {
						t.Fatalf("switched to a table of %d slots with %d touched",
							len(m.table.slots), m.table.nextTouched)
					}
				}
			}
			if prepared != switched {
				t.Fatalf("%d tables prepared, %d switched to", prepared, switched)
			}
			m.check(rand.New(rand.NewPCG(1, 2)))
		})
	}
}

// populaterFunc is a Populater from a function.
type populaterFunc func(fresh *FreshRange) bool

func (f populaterFunc) Offer(fresh *FreshRange) bool { return f(fresh) }

func idOf(i uint64) model.Uint128 { return model.U128(i * 0x9e3779b97f4a7c15) }
