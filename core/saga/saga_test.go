package saga

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
	"sequent/core/shardmap"
)

func TestIDs(t *testing.T) {
	id := SettlementAccountID(3, 7, 42)
	from, to, ledger, ok := SettlementAccount(id)
	if !ok || from != 3 || to != 7 || ledger != 42 || !model.IsSystemID(id) {
		t.Fatalf("settlement id %s parsed as %d %d %d %v", id, from, to, ledger, ok)
	}
	for _, other := range []model.Uint128{CreditTransferID(3, 1), PostTransferID(7, 1),
		VoidTransferID(7, 1), model.U128(5), {Hi: 1<<63 | 0x6d<<48 | 1<<40}} {
		if _, _, _, ok := SettlementAccount(other); ok {
			t.Errorf("%s parsed as a settlement account", other)
		}
	}
	if CreditTransferID(3, 9) == PostTransferID(3, 9) || PostTransferID(3, 9) == VoidTransferID(3, 9) {
		t.Fatal("step ids collide")
	}
}

// Every record survives its encoding; a reserved bit makes Decode refuse it.
func TestRecordsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u128 := func(label string) model.Uint128 {
			return model.Uint128{Lo: rapid.Uint64().Draw(t, label+" lo"), Hi: rapid.Uint64().Draw(t, label+" hi")}
		}
		c := Credit{Transfer: model.Transfer{ID: u128("id"), Amount: u128("amount"),
			Timestamp: rapid.Uint64().Draw(t, "ts")}, Sequence: rapid.Uint64().Draw(t, "seq"),
			From: rapid.Uint16().Draw(t, "from"), To: rapid.Uint16().Draw(t, "to"),
			Abort: rapid.Bool().Draw(t, "abort")}
		var cb [model.SagaCreditSize]byte
		c.Encode(cb[:])
		var c2 Credit
		if !c2.Decode(cb[:]) || c2 != c {
			t.Fatalf("credit %+v became %+v", c, c2)
		}
		cb[141] |= 0x80
		if c2.Decode(cb[:]) {
			t.Fatal("a reserved credit flag passed")
		}
		d := Decision{Sequence: rapid.Uint64().Draw(t, "dseq"), From: 1, To: 2,
			Status: model.Status(rapid.Uint32().Draw(t, "status")), Amount: u128("credited"),
			Credit: model.Balance{CreditsPosted: u128("posted")}, Timestamp: 9,
			Transfer: u128("transfer")}
		var db [model.SagaDecisionSize]byte
		d.Encode(db[:])
		var d2 Decision
		if !d2.Decode(db[:]) || d2 != d {
			t.Fatalf("decision %+v became %+v", d, d2)
		}
		db[120] = 1
		if d2.Decode(db[:]) {
			t.Fatal("a reserved decision byte passed")
		}
		s := State{ID: u128("state"), Phase: PhaseFinal, Result: model.TransferResult{
			EventResult:  model.EventResult{Timestamp: 5, Status: model.StatusExceedsDebits},
			DebitAccount: model.Balance{DebitsPosted: u128("debit")}}}
		var sb [model.SagaStateSize]byte
		s.Encode(sb[:])
		var s2 State
		s2.Decode(sb[:])
		if s2 != s {
			t.Fatalf("state %+v became %+v", s, s2)
		}
	})
}

// The window finds what it holds, forgets below a watermark and spans at most
// WindowSpanMax, whatever the order of arrival.
func TestWindow(t *testing.T) {
	var w window
	for _, sequence := range []uint64{5, 1, 700, 3, 256, 255} {
		if !w.fits(sequence) {
			t.Fatalf("%d does not fit", sequence)
		}
		w.add(sequence).Status = model.Status(sequence)
	}
	if w.count != 6 {
		t.Fatalf("count %d", w.count)
	}
	if d, ok := w.find(700); !ok || d.Status != 700 {
		t.Fatal("700 lost")
	}
	if _, ok := w.find(4); ok {
		t.Fatal("4 found but never added")
	}
	w.forget(256)
	for _, gone := range []uint64{1, 3, 5, 255} {
		if _, ok := w.find(gone); ok {
			t.Errorf("%d not forgotten", gone)
		}
	}
	if _, ok := w.find(256); !ok || w.count != 2 || w.fits(255) {
		t.Fatalf("after forgetting below 256: count %d", w.count)
	}
	if w.fits(w.first + WindowSpanMax) {
		t.Fatal("the window spans more than WindowSpanMax")
	}
	w.forget(10_000)
	if w.count != 0 || len(w.pages) != 0 {
		t.Fatalf("after forgetting everything: %d decisions, %d pages", w.count, len(w.pages))
	}
	w.add(10_001)
	if _, ok := w.find(10_001); !ok {
		t.Fatal("a window emptied by forget does not take new decisions")
	}
}

// take finds a decision as find does and, when there is none, takes the slot as add
// does: one decision per sequence, counted once, over pages made on the way.
func TestWindowTake(t *testing.T) {
	var w window
	w.add(3).Status = 3
	for _, sequence := range []uint64{3, 600, 600, 4} {
		_, had := w.find(sequence)
		d, decided := w.take(sequence)
		if decided != had || d.Sequence != sequence {
			t.Fatalf("take(%d): decided %v (find: %v), slot of %d", sequence, decided, had,
				d.Sequence)
		}
		if found, ok := w.find(sequence); !ok || found != d {
			t.Fatalf("take(%d) took a slot that find does not return", sequence)
		}
	}
	if d, _ := w.take(3); d.Status != 3 || w.count != 3 {
		t.Fatalf("decision 3 %+v, count %d; want status 3, count 3", d, w.count)
	}
}

// FuzzReadSnapshot: any bytes read as a saga section give an error or a book that
// encodes back to them. The seeds hold running and final sagas and kept decisions
// (TestSnapshotRoundTrip checks that they read back).
func FuzzReadSnapshot(f *testing.F) {
	placement := shardmap.Hashed(3)
	b := New(placement, 1)
	b.push(record{original: model.Transfer{ID: model.U128(7), Amount: model.U128(3)},
		reserved: model.U128(3), credit: 2, phase: PhaseRunning})
	b.push(record{original: model.Transfer{ID: model.U128(8), Amount: model.U128(4)},
		reserved: model.U128(4), moved: model.U128(4), credit: 0, phase: PhaseFinal})
	d := b.decided[0].add(5)
	d.From, d.To = 1, 0
	f.Add(b.AppendSnapshot(nil))
	rich, _ := snapshotBook() // Final results with statuses, watermarks, old decisions.
	f.Add(rich.AppendSnapshot(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		book, err := ReadSnapshot(bytes.NewReader(data), placement, 1)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, book.AppendSnapshot(nil)) {
			t.Fatal("a section read back encodes differently")
		}
	})
}

// Once no saga runs, the running list starts over in its own capacity: slicing off its
// finished front gave that capacity up, and the next sagas' appends reallocated the list
// every few batches.
func TestFinishRunningKeepsTheListsCapacity(t *testing.T) {
	b := New(shardmap.Hashed(2), 0)
	b.running = make([]uint64, 0, 4)
	for range 4 {
		b.running = append(b.running, b.push(record{phase: PhaseFinal}))
	}
	b.runs = 4
	b.finishRunning(4)
	if len(b.running) != 0 || cap(b.running) != 4 || b.runs != 0 {
		t.Fatalf("running list of length %d, capacity %d, %d runs; want 0, 4, 0",
			len(b.running), cap(b.running), b.runs)
	}
	b.running = append(b.running, b.push(record{phase: PhaseRunning}))
	b.runs++
	if summary := b.Summary(); summary.Lowest != 5 || summary.Running != 1 {
		t.Fatalf("summary %+v after a saga started on the emptied list", summary)
	}
}
