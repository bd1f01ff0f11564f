package match

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"pgregory.net/rapid"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// accountOrdersFromHead is get_account_orders as it was before session 45: every page
// walks the account's list from its head and skips the orders up to the cursor. The
// paging property test holds AccountOrders to its pages.
func accountOrdersFromHead(e *Engine, client uint64, f *model.OrderFilter,
	out []model.OrderState) []model.OrderState {
	instrumentIndex := indexNone
	if f.Instrument != 0 {
		instrumentIndex, _ = e.findInstrument(f.Instrument)
	}
	account, _, found := e.findTradingAccount(client, f.Account)
	if !found {
		return out
	}
	count := uint32(0)
	for slot := e.accounts[account].head; slot != indexNone && count < f.Limit; {
		o := &e.orders[slot]
		if o.id > f.AfterOrderID && (instrumentIndex == indexNone || o.instrument == instrumentIndex) {
			out = append(out, e.orderState(slot))
			count++
		}
		slot = o.accountNext
	}
	return out
}

// pagingSecondInstrument trades the same two ledgers as the test instrument, so that an
// account's list mixes both and the instrument filter skips some of it.
const pagingSecondInstrument = testInstrument + 1

// TestAccountOrdersPagesAsFromTheHead pages through random books, with orders placed,
// filled (crossing orders) and canceled between pages, under cursors of every kind: the
// last order of the previous page (the usual one, often gone by then), zero, any order id
// ever given out (another account's, a filled one), and ids never given out. Every page
// AccountOrders returns equals the page the walk from the list's head returns.
func TestAccountOrdersPagesAsFromTheHead(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		second := testInstrumentRecord()
		second.ID = pagingSecondInstrument
		h := newHarness(rt, Config{}, testInstrumentRecord(), second)
		for n := uint64(1); n <= 3; n++ {
			h.trader(n, 1_000_000_000, 1_000_000_000)
		}
		var ids []uint64
		clientOrderID := uint64(0)
		cursors := map[[2]uint64]uint64{} // Last id of the previous page, per (client, account).
		steps := rapid.IntRange(1, 200).Draw(rt, "steps")
		for range steps {
			client := rapid.Uint64Range(1, 3).Draw(rt, "client")
			account := rapid.Uint64Range(1, 2).Draw(rt, "account")
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3:
				clientOrderID++
				o := limitOrder(client, clientOrderID, model.Side(rapid.IntRange(1, 2).Draw(rt, "side")),
					5*rapid.Uint64Range(18, 24).Draw(rt, "tick"), 10*rapid.Uint64Range(1, 5).Draw(rt, "lots"))
				o.Account = account
				if rapid.Bool().Draw(rt, "second instrument") {
					o.Instrument = pagingSecondInstrument
				}
				if result := h.place(client, o)[0]; result.Status == model.StatusOK {
					ids = append(ids, result.OrderID)
				}
			case 4:
				if len(ids) > 0 {
					clientOrderID++
					h.cancel(client, model.OrderCancel{ClientOrderID: clientOrderID, Account: account,
						OrderID: rapid.SampledFrom(ids).Draw(rt, "canceled")})
				}
			default:
				key := [2]uint64{client, account}
				f := model.OrderFilter{Account: account, AfterOrderID: cursors[key],
					Limit: rapid.Uint32Range(1, 4).Draw(rt, "limit")}
				switch rapid.IntRange(0, 3).Draw(rt, "cursor") {
				case 1:
					f.AfterOrderID = 0
				case 2:
					if len(ids) > 0 {
						f.AfterOrderID = rapid.SampledFrom(ids).Draw(rt, "any id")
					}
				case 3:
					f.AfterOrderID = rapid.Uint64Range(0, uint64(len(ids))+3).Draw(rt, "raw id")
				}
				if rapid.IntRange(0, 2).Draw(rt, "filtered") == 0 {
					f.Instrument = rapid.SampledFrom([]uint32{testInstrument,
						pagingSecondInstrument}).Draw(rt, "instrument")
				}
				page, status := h.e.AccountOrders(client, &f, nil)
				want := accountOrdersFromHead(h.e, client, &f, nil)
				if status != model.StatusOK || !reflect.DeepEqual(page, want) {
					rt.Fatalf("filter %+v: %s %+v, from the head %+v", f, status, page, want)
				}
				cursors[key] = 0 // A short page: the next one starts again.
				if len(page) == int(f.Limit) {
					cursors[key] = page[len(page)-1].OrderID
				}
			}
		}
	})
}

// Bounds of the paging benchmark: one trading account with pagingOrders open orders,
// read pagingPageLimit at a time (pagingOrders / pagingPageLimit = 512 pages).
const (
	pagingOrders    = 65_536
	pagingPageLimit = 128
)

// BenchmarkAccountOrdersPage reads one page of get_account_orders from an account with
// 65,536 open orders: the 1st page and the 500th (cursor: the 499th page's last id), by
// AccountOrders ("after-cursor") and by the walk from the list's head it replaced
// ("from-head", the test's copy), alternated in one run. cpu-ns/page is the thread's own
// CPU time.
func BenchmarkAccountOrdersPage(b *testing.B) {
	h := newHarness(b, Config{OrdersMax: 2 * pagingOrders, OrdersPerClientMax: 2 * pagingOrders},
		testInstrumentRecord())
	h.trader(1, 0, 1_000_000_000_000)
	orders := make([]model.Order, 1024)
	results := make([]model.OrderResult, len(orders))
	var ids []uint64
	for len(ids) < pagingOrders {
		for i := range orders {
			orders[i] = limitOrder(1, uint64(len(ids)+i+1), model.SideBuy, 100, 10)
		}
		h.e.PlaceOrders(&h.clock, 1, orders, results, &h.sink)
		for _, result := range results {
			if result.Status != model.StatusOK {
				b.Fatalf("place: %s", result.Status)
			}
			ids = append(ids, result.OrderID)
		}
		h.sink.reset()
	}
	out := make([]model.OrderState, 0, pagingPageLimit)
	for _, page := range []int{1, 500} {
		f := model.OrderFilter{Account: 1, Limit: pagingPageLimit}
		if page > 1 {
			f.AfterOrderID = ids[(page-1)*pagingPageLimit-1]
		}
		for _, variant := range []struct {
			name string
			read func() []model.OrderState
		}{
			{"after-cursor", func() []model.OrderState {
				found, _ := h.e.AccountOrders(1, &f, out[:0])
				return found
			}},
			{"from-head", func() []model.OrderState {
				return accountOrdersFromHead(h.e, 1, &f, out[:0])
			}},
		} {
			b.Run(fmt.Sprintf("page=%d/%s", page, variant.name), func(b *testing.B) {
				if found := variant.read(); len(found) != pagingPageLimit ||
					found[0].OrderID != ids[(page-1)*pagingPageLimit] {
					b.Fatalf("page %d: %d orders", page, len(found))
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ResetTimer()
				cpuStart := threadcpu.Now()
				for range b.N {
					variant.read()
				}
				cpu := threadcpu.Now() - cpuStart
				if threadcpu.Supported && cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/page")
				}
			})
		}
	}
}
