package match

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// newSnapshotScenario builds a state that uses every part of the snapshot: two
// instruments, both sides with several levels and queues, partial fills, reserve prices,
// good-till-time orders, two trading accounts, and a window with every command kind.
func newSnapshotScenario(t tb) *harness {
	other := feeInstrument()
	other.ID = testInstrument + 1
	h := newHarness(t, Config{ClientOrderIDsMax: 64}, testInstrumentRecord(), other)
	for n := uint64(1); n <= 3; n++ {
		h.trader(n, 100_000, 1_000_000)
	}
	gtt := limitOrder(1, 1, model.SideSell, 120, 30)
	gtt.ExpireTimestamp = h.clock + 1_000_000
	h.placeOK(1, gtt)
	h.placeOK(1, limitOrder(1, 2, model.SideSell, 120, 20))
	h.placeOK(2, limitOrder(2, 1, model.SideSell, 125, 40))
	reserve := limitOrder(2, 2, model.SideBuy, 100, 50)
	reserve.ReservePrice = 110
	h.placeOK(2, reserve)
	h.placeOK(3, limitOrder(3, 1, model.SideBuy, 95, 20))
	h.placeOK(3, limitOrder(3, 2, model.SideBuy, 120, 10)) // Partially fills order 1.
	onOther := limitOrder(1, 3, model.SideBuy, 50, 10)
	onOther.Instrument, onOther.Account = other.ID, 2
	h.placeOK(1, onOther)
	h.replace(2, model.OrderReplace{ClientOrderID: 3, Account: 1, OrderID: 4, Price: 105,
		Quantity: 50, ReservePrice: 110})
	h.cancel(3, model.OrderCancel{ClientOrderID: 3, Account: 1, OrderID: 5})
	results := make([]model.MassCancelResult, 1)
	h.e.MassCancel(&h.clock, 3, []model.MassCancel{{ClientOrderID: 4, Account: 1}}, results,
		&h.sink)
	h.place(1, limitOrder(1, 4, model.SideBuy, 101, 10)) // Refused: off tick.
	h.check()
	return h
}

// TestSnapshotRoundTrip: a restored engine encodes to the same bytes, and then behaves
// exactly like the original under the same commands (same results, reports, market data
// and final digests).
func TestSnapshotRoundTrip(t *testing.T) {
	original := newSnapshotScenario(t)
	restored := newSnapshotScenario(t)
	restored.restoreRoundTrip()
	if restored.e.OpenOrderCount() != original.e.OpenOrderCount() || original.e.OpenOrderCount() < 5 {
		t.Fatalf("open orders %d / %d", restored.e.OpenOrderCount(), original.e.OpenOrderCount())
	}
	for _, h := range []*harness{original, restored} {
		h.sink.reset()
		h.place(3, limitOrder(3, 10, model.SideBuy, 125, 100))
		h.place(1, limitOrder(1, 10, model.SideSell, 95, 30))
		h.replace(2, model.OrderReplace{ClientOrderID: 3, Account: 1, OrderID: 4, Price: 105,
			Quantity: 50, ReservePrice: 110}) // A resend: the original result.
		h.e.Expire(&h.clock, h.clock+2_000_000, &h.sink)
		h.e.CancelAllForClient(&h.clock, 1, &h.sink)
	}
	expectEqual(t, "reports", restored.sink.reports, original.sink.reports)
	expectEqual(t, "market data", restored.sink.updates, original.sink.updates)
	expectEqual(t, "engine digest", restored.e.Digest(), original.e.Digest())
	expectEqual(t, "ledger digest", restored.l.Digest(), original.l.Digest())
}

// snapshotBytes returns the ledger's and the engine's encodings.
func snapshotBytes(t tb, h *harness) ([]byte, []byte) {
	var ledgerBytes, engineBytes bytes.Buffer
	if _, err := h.l.Snapshot().WriteTo(&ledgerBytes); err != nil {
		t.Fatalf("ledger snapshot: %v", err)
	}
	if _, err := h.e.Snapshot().WriteTo(&engineBytes); err != nil {
		t.Fatalf("engine snapshot: %v", err)
	}
	return ledgerBytes.Bytes(), engineBytes.Bytes()
}

// TestRestoreRefusesDamage: each kind of damage is refused with ErrSnapshotInvalid.
func TestRestoreRefusesDamage(t *testing.T) {
	h := newSnapshotScenario(t)
	_, good := snapshotBytes(t, h)
	firstOrder := snapshotHeaderSize + 2*snapshotInstrumentSize
	damages := []snapshotDamage{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"bad magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"reserved header byte", func(b []byte) []byte { b[60] = 1; return b }},
		{"order count beyond the data", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[16:], 1000)
			return b
		}},
		{"next order id too low", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[24:], 2)
			return b
		}},
		{"order leaves changed (hold mismatch)", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[firstOrder+80:], 20)
			binary.LittleEndian.PutUint64(b[firstOrder+72:], 20)
			return b
		}},
		{"hold sequence changed", func(b []byte) []byte {
			b[firstOrder+128]++
			return b
		}},
		{"reserved amount changed", func(b []byte) []byte {
			b[firstOrder+136]++
			return b
		}},
		{"another format version", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], snapshotVersion+1)
			return b
		}},
		{"orders swapped (book order)", func(b []byte) []byte {
			first := append([]byte(nil), b[firstOrder:firstOrder+snapshotOrderSize]...)
			copy(b[firstOrder:], b[firstOrder+snapshotOrderSize:firstOrder+2*snapshotOrderSize])
			copy(b[firstOrder+snapshotOrderSize:], first)
			return b
		}},
		{"window entry kind", func(b []byte) []byte { b[len(b)-12] = 9; return b }},
	}
	expectDamagesRefused(t, h, good, damages)
	small := h.config
	small.OrdersMax = 2
	if _, err := Restore(h.l, small, bytes.NewReader(good)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("more orders than the config allows: %v", err)
	}
}

// FuzzRestore feeds damaged snapshots to Restore over the matching ledger: it must never
// panic, and whatever it accepts must satisfy every invariant and encode back to exactly
// the bytes it read (the format is canonical).
func FuzzRestore(f *testing.F) {
	h := newSnapshotScenario(f)
	ledgerBytes, engineBytes := snapshotBytes(f, h)
	l, err := ledger.Restore(ledger.Config{}, bytes.NewReader(ledgerBytes))
	if err != nil {
		f.Fatalf("ledger restore: %v", err)
	}
	f.Add(engineBytes)
	f.Add(engineBytes[:snapshotHeaderSize])
	// Version 2: orders held by pending transfers, over the ledger of that state.
	legacyLedger, _, oldEngine := versionTwoScenario(f)
	f.Add(oldEngine)
	_, increasingEngine := snapshotBytes(f, newIncreasingScenario(f))
	f.Add(increasingEngine)
	f.Fuzz(func(t *testing.T, data []byte) {
		over := l
		if len(data) >= 12 && binary.LittleEndian.Uint32(data[8:]) == 2 {
			over = legacyLedger
		}
		e, err := Restore(over, h.config, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("error does not wrap ErrSnapshotInvalid: %v", err)
			}
			return
		}
		if err := e.CheckInvariants(); err != nil {
			t.Fatalf("restored engine breaks invariants: %v", err)
		}
		var again bytes.Buffer
		if _, err := e.Snapshot().WriteTo(&again); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		want := again.Bytes()
		if over == legacyLedger {
			want = versionTwoEngine(t, want) // Re-encoded as version 3.
		}
		if !bytes.HasPrefix(data, want) {
			t.Fatalf("restored engine encodes differently")
		}
	})
}

// FuzzRecords decodes arbitrary bytes as every matching record: decoding never fails,
// and encoding what was decoded gives back the same bytes (no field is lost or moved).
func FuzzRecords(f *testing.F) {
	f.Add(make([]byte, 128))
	seed := make([]byte, 128)
	for i := range seed {
		seed[i] = byte(i*37 + 11)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 128 {
			data = append(data, make([]byte, 128-len(data))...)
		}
		type codec interface {
			Encode([]byte)
			Decode([]byte)
		}
		records := []struct {
			record codec
			size   int
		}{
			{&model.Instrument{}, model.InstrumentSize}, {&model.Order{}, model.OrderSize},
			{&model.OrderCancel{}, model.OrderCancelSize},
			{&model.OrderReplace{}, model.OrderReplaceSize},
			{&model.MassCancel{}, model.MassCancelSize},
			{&model.OrderResult{}, model.OrderResultSize},
			{&model.MassCancelResult{}, model.MassCancelResultSize},
			{&model.ExecutionReport{}, model.ExecutionReportSize},
			{&model.MarketDataUpdate{}, model.MarketDataUpdateSize},
			{&model.OrderState{}, model.OrderStateSize},
			{&model.OrderFilter{}, model.OrderFilterSize},
			{&model.DepthFilter{}, model.DepthFilterSize},
			{&model.DepthLevel{}, model.DepthLevelSize},
		}
		for _, r := range records {
			r.record.Decode(data[:r.size])
			encoded := make([]byte, r.size)
			r.record.Encode(encoded)
			if !bytes.Equal(encoded, data[:r.size]) {
				t.Fatalf("%T: round trip changed bytes:\n%x\n%x", r.record, data[:r.size], encoded)
			}
		}
	})
}

// TestRecordLayouts pins a few offsets of the wire formats, so that a change of field
// order shows up here and not in a client.
func TestRecordLayouts(t *testing.T) {
	var b [128]byte
	o := model.Order{ClientOrderID: 1, Price: 2, Instrument: 3, Side: model.SideSell,
		Timestamp: 4}
	o.Encode(b[:])
	expectEqual(t, "order", []uint64{binary.LittleEndian.Uint64(b[0:]),
		binary.LittleEndian.Uint64(b[48:]), uint64(binary.LittleEndian.Uint32(b[96:])),
		uint64(b[100]), binary.LittleEndian.Uint64(b[120:])}, []uint64{1, 2, 3, 2, 4})
	r := model.ExecutionReport{OrderID: 5, TradeID: 6, Fee: model.U128(7), Timestamp: 8}
	r.Encode(b[:])
	expectEqual(t, "report", []uint64{binary.LittleEndian.Uint64(b[0:]),
		binary.LittleEndian.Uint64(b[48:]), binary.LittleEndian.Uint64(b[96:]),
		binary.LittleEndian.Uint64(b[112:])}, []uint64{5, 6, 7, 8})
	for _, operation := range []model.Operation{model.OperationCreateInstruments,
		model.OperationPlaceOrders, model.OperationGetDepth} {
		info, ok := operation.Info()
		if !ok || !info.Matching || info.ResultsMax*info.ResultSize > model.ReplyBodyBytesMax ||
			info.EventsMax*info.EventSize > model.RequestBodyBytesMax {
			t.Fatalf("operation %s: %+v", operation, info)
		}
	}
	if model.StatusInsufficientFunds.String() != "insufficient_funds" || !model.StatusExpired.Known() {
		t.Fatal("matching status names")
	}
}

// toLegacy turns every open order's reservation into the pending hold transfer the
// engine made before reservations (snapshot version 2), through the engine's own chain
// builders: the state an older server would have left.
//
// An older server made an order's hold when the order was placed, so an order resting
// from an account closed since holds a pending transfer that was made before the close
// (the ledger lets a closing transfer close an account with pending debits). Making the
// hold now, after the close, is refused (debit_account_already_closed), so the closed
// accounts are reopened (their closing transfers voided) while the holds are made and
// closed again afterwards: the same order of events as on the older server.
func (h *harness) toLegacy() {
	h.t.Helper()
	e := h.e
	reopened := h.reopenClosed()
	e.eachReservation(func(_ model.Uint128, o *order) {
		slot, _, found := e.findOrder(o.id)
		if !found {
			h.t.Fatalf("order %d not indexed", o.id)
		}
		e.scratch.chain.reset()
		e.chainRelease(slot)
		sequence := e.chainAdd(e.holdTransfer(o, o.holdAmount), slot)
		if failed := e.chainSubmit(&h.clock, true); failed >= 0 {
			h.t.Fatalf("legacy hold of order %d: %s", o.id, e.scratch.chain.results[failed].Status)
		}
		o.holdSequence = sequence
	})
	for _, c := range reopened {
		h.closeAccount(c.account, c.ledger, c.bank)
	}
	h.check()
}

// versionTwo re-encodes version-3 snapshots whose orders all hold legacy holds (and whose
// ledger reserves nothing) as the version-2 files of the same state.
func versionTwo(t tb, ledgerBytes, engineBytes []byte) ([]byte, []byte) {
	t.Helper()
	oldLedger := append([]byte(nil), ledgerBytes[:len(ledgerBytes)-4]...)
	if binary.LittleEndian.Uint32(ledgerBytes[len(ledgerBytes)-4:]) != 0 {
		t.Fatalf("the ledger still reserves")
	}
	binary.LittleEndian.PutUint32(oldLedger[8:], 2)
	return oldLedger, versionTwoEngine(t, engineBytes)
}

func versionTwoEngine(t tb, engineBytes []byte) []byte {
	instruments := int(binary.LittleEndian.Uint32(engineBytes[12:]))
	orders := int(binary.LittleEndian.Uint32(engineBytes[16:]))
	first := snapshotHeaderSize + instruments*snapshotInstrumentSize
	if binary.LittleEndian.Uint32(engineBytes[48:]) != 0 {
		t.Fatalf("accounts with increasing client order ids: no version-2 engine had them")
	}
	old := append([]byte(nil), engineBytes[:first]...)
	binary.LittleEndian.PutUint32(old[8:], 2)
	for i := range orders {
		record := engineBytes[first+i*snapshotOrderSize:][:snapshotOrderSize]
		if binary.LittleEndian.Uint64(record[128:]) == 0 {
			t.Fatalf("order %d is held by a reservation", i)
		}
		old = append(old, record[:136]...)
		old = append(old, make([]byte, 8)...)
	}
	return append(old, engineBytes[first+orders*snapshotOrderSize:]...)
}

// restoredVersionTwoScenario is the snapshot scenario with its orders held by pending
// transfers, run through version-2 files and restored by this engine.
func restoredVersionTwoScenario(t *testing.T) *harness {
	t.Helper()
	l, legacy, oldEngine := versionTwoScenario(t)
	e, err := Restore(l, legacy.config, bytes.NewReader(oldEngine))
	if err != nil {
		t.Fatalf("engine version 2: %v", err)
	}
	legacy.l, legacy.e = l, e
	return legacy
}

// versionTwoScenario builds the snapshot scenario with legacy holds and returns the
// ledger restored from its version-2 file, the harness, and the engine's version-2 file.
func versionTwoScenario(t tb) (*ledger.Ledger, *harness, []byte) {
	legacy := newSnapshotScenario(t)
	legacy.toLegacy()
	ledgerBytes, engineBytes := snapshotBytes(t, legacy)
	oldLedger, oldEngine := versionTwo(t, ledgerBytes, engineBytes)
	l, err := ledger.Restore(ledger.Config{}, bytes.NewReader(oldLedger))
	if err != nil {
		t.Fatalf("ledger version 2: %v", err)
	}
	return l, legacy, oldEngine
}

// TestRestoresVersion2Holds: a version-2 pair (orders held by pending transfers) restores,
// its orders settle the old way (post, void) or turn into reservations when their hold
// changes, and the engine behaves exactly as one whose orders were reserved from the
// start: same reports, market data and posted balances, every invariant after each
// command, and nothing pending or reserved once every order has ended.
func TestRestoresVersion2Holds(t *testing.T) {
	original := newSnapshotScenario(t)
	legacy := restoredVersionTwoScenario(t)
	transfers := legacy.l.TransferCount()
	for _, h := range []*harness{original, legacy} {
		h.sink.reset()
		h.place(3, limitOrder(3, 10, model.SideBuy, 125, 100)) // Fills legacy asks.
		h.check()
		replaced := h.replace(2, model.OrderReplace{ClientOrderID: 5, Account: 1, OrderID: 4,
			Price: 110, Quantity: 60}) // A legacy bid's hold changes: void and reserve.
		expectEqual(t, "replace", replaced[0].Status, model.StatusOK)
		h.check()
		h.place(1, limitOrder(1, 10, model.SideSell, 95, 30))
		h.check()
		h.e.Expire(&h.clock, h.clock+2_000_000, &h.sink)
		h.check()
		for client := uint64(1); client <= 3; client++ {
			h.e.CancelAllForClient(&h.clock, client, &h.sink)
			h.check()
		}
	}
	if legacy.l.TransferCount() <= transfers {
		t.Fatal("the legacy holds were not posted or voided")
	}
	expectSameEnd(t, original, legacy)
}

// snapshotDamage is one way to damage a good snapshot (in place; it returns the bytes).
type snapshotDamage struct {
	name   string
	damage func(b []byte) []byte
}

// expectDamagesRefused checks that Restore refuses each damage of good with
// ErrSnapshotInvalid, and restores good itself.
func expectDamagesRefused(t *testing.T, h *harness, good []byte, damages []snapshotDamage) {
	t.Helper()
	for _, d := range damages {
		damaged := d.damage(append([]byte(nil), good...))
		if _, err := Restore(h.l, h.config, bytes.NewReader(damaged)); !errors.Is(err,
			ErrSnapshotInvalid) {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	if _, err := Restore(h.l, h.config, bytes.NewReader(good)); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
}
