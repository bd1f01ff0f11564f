package e2e

import (
	"context"
	endian "encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// Kinds and status of PROTOCOL.md sections 4, 8a and 12 the slow subscriber sees.
const (
	docKindMDUpdate               = 22
	docKindMDStale                = 23
	docStatusMarketDataFellBehind = 231
)

// TestMarketDataSlowSubscriberIsToldStale: PROTOCOL.md section 8a against a real server
// with its default bound (1 MiB unsent per connection): a subscriber to instrument 5's
// book that reads nothing while 12 requests of 4,096 orders trade (about 50,000 trades,
// past the socket buffers) is skipped rather than slowing the server, and once it reads
// it is sent md_stale (status 231 market_data_fell_behind, shard 0) although nothing
// trades any more: the notice does not wait for the market to move ("When it comes,
// exactly"). Its dropped_from_op is the op of the first update the subscriber was not
// sent, the one after the last it read (sequence s+1): that update's op when it is in the
// same request as s (the request's updates share its op), else the op of the request that
// follows, which get_book read after it (the shard's last op). Then a trade every 100 ms:
// updates resume after the notice. The subscriber sends a heartbeat every 100 ms while it
// reads (bounded by count), so that it is not closed as silent. (The notice read first
// may have been sent while the flood went on, the subscriber having drained into growing
// socket buffers: netio's TestMarketDataDrainedSubscriberIsToldStaleInAQuietMarket pins,
// every time, the notice that only a drain with no update can send.)
func TestMarketDataSlowSubscriberIsToldStale(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	defer func() {
		if t.Failed() {
			t.Logf("server output:\n%s", s.output.String())
		}
	}()
	trader := dial(t, data, 1, s.address)
	tradingSetup(t, trader)
	slow := docLogin(t, s.address, data, 77)
	slow.write(docMarketDataSubscribe(77, 5, wire.ChannelBook, 0))
	if answer := slow.next(); answer.kind != docKindMDSubscribed || answer.status != 0 {
		t.Fatalf("md_subscribe answered kind %d status %d", answer.kind, answer.status)
	}

	const requests, ordersPerRequest = 12, 4096
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	next := uint64(1)
	// After request k: instrument 5's last sequence and the shard's last op (get_book).
	var books []model.BookHeader
	for range requests {
		orders := make([]model.Order, ordersPerRequest)
		for i := range orders {
			// Sells then buys at one price: every buy trades (a trade and level changes).
			side, account, base, quote := model.SideSell, uint64(1+model.SideSell), 11, 12
			if i%2 == 1 {
				side, account, base, quote = model.SideBuy, uint64(1+model.SideBuy), 21, 22
			}
			orders[i] = model.Order{ClientOrderID: next, Account: account,
				BaseAccountID: model.U128(uint64(base)), QuoteAccountID: model.U128(uint64(quote)),
				Price: 100, Quantity: 1, Instrument: 5, Side: side, Type: model.OrderLimit,
				TimeInForce: model.GoodTillCancel}
			next++
		}
		results, err := trader.PlaceOrders(ctx, orders)
		if err != nil || results[0].Status != model.StatusOK {
			t.Fatalf("orders from %d: %v %+v", next-ordersPerRequest, err, results[:1])
		}
		book, _, err := trader.GetBook(ctx, 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, book)
		slow.write(docEncode(docKindHeartbeat, 0, 0, 0, 0, nil))
	}

	// Nothing trades from here until the notice is read: a heartbeat every tick (bounded
	// by count), so that the subscriber, busy reading, is not closed as silent; once the
	// notice is read, a trade every tick too.
	stop := make(chan struct{})
	ticker := make(chan error, 1)
	var trading atomic.Bool
	go func() {
		const ticksMax = 300 // A hang guard by count: 30 s at most.
		for tick := range ticksMax {
			select {
			case <-stop:
				ticker <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := slow.conn.Write(docEncode(docKindHeartbeat, 0, 0, 0, 0, nil)); err != nil {
				ticker <- err
				return
			}
			if !trading.Load() {
				continue
			}
			if err := tradeOnce(ctx, trader, next+2*uint64(tick)); err != nil {
				ticker <- err
				return
			}
		}
		ticker <- nil
	}()
	defer func() {
		close(stop)
		if err := <-ticker; err != nil {
			t.Errorf("heartbeats and trades while the subscriber reads: %v", err)
		}
	}()
	updates, lastSequence, lastOp := 0, uint64(0), uint64(0)
	const framesMax = 1 << 20 // Far more than the flood makes; a hang guard by count.
	for range framesMax {
		frame := slow.next()
		switch frame.kind {
		case docKindMDUpdate:
			updates++
			for record := 0; record+128 <= len(frame.body); record += 128 {
				// Section 10's MarketDataUpdate: sequence at 0, instrument at 16, op at 120.
				if endian.LittleEndian.Uint32(frame.body[record+16:]) == 5 {
					lastSequence = endian.LittleEndian.Uint64(frame.body[record:])
					lastOp = endian.LittleEndian.Uint64(frame.body[record+120:])
				}
			}
			continue
		case docKindMDStale:
		default:
			t.Fatalf("frame kind %d status %d before any md_stale", frame.kind, frame.status)
		}
		if frame.status != docStatusMarketDataFellBehind || len(frame.body) != 16 {
			t.Fatalf("md_stale status %d, %d bytes; want 231, 16", frame.status, len(frame.body))
		}
		instrument := endian.LittleEndian.Uint32(frame.body)
		shard := endian.LittleEndian.Uint32(frame.body[4:])
		droppedFromOp := endian.LittleEndian.Uint64(frame.body[8:])
		want := uint64(0) // The op of sequence lastSequence+1.
		for k, book := range books {
			if book.Sequence > lastSequence { // Request k holds sequence lastSequence+1.
				want = book.Op
				if (k == 0 && lastSequence > 0) || (k > 0 && books[k-1].Sequence < lastSequence) {
					want = lastOp // And sequence lastSequence, read at lastOp.
				}
				break
			}
		}
		if instrument != 0 || shard != 0 || want == 0 || droppedFromOp != want {
			t.Fatalf("md_stale instrument %d shard %d dropped_from_op %d after sequence %d "+
				"(op %d); want instrument 0, shard 0, dropped_from_op %d (requests' books %+v)",
				instrument, shard, droppedFromOp, lastSequence, lastOp, want, books)
		}
		t.Logf("md_stale after %d md_update frames: dropped from op %d", updates,
			droppedFromOp)
		// Updates resume after it: the ticks trade, and the subscriber reads on (past
		// updates and notices still on their way: this one may have been sent while the
		// flood went on) to an update of a sequence above the flood's.
		trading.Store(true)
		flood := books[len(books)-1].Sequence
		for range framesMax {
			frame := slow.next()
			if frame.kind == docKindMDUpdate &&
				endian.LittleEndian.Uint64(frame.body[len(frame.body)-128:]) > flood {
				return
			} else if frame.kind != docKindMDUpdate && frame.kind != docKindMDStale {
				t.Fatalf("frame kind %d after the md_stale", frame.kind)
			}
		}
		t.Fatal("no update after the md_stale")
	}
	t.Fatalf("%d md_update frames and no md_stale", updates)
}

// tradeOnce places a sell and a buy of one lot at 100 on instrument 5 (they trade), with
// client order ids first and first + 1.
func tradeOnce(ctx context.Context, trader *client.Client, first uint64) error {
	for i, side := range []model.Side{model.SideSell, model.SideBuy} {
		base, quote := uint64(11), uint64(12)
		if side == model.SideBuy {
			base, quote = 21, 22
		}
		results, err := trader.PlaceOrders(ctx, []model.Order{{ClientOrderID: first + uint64(i),
			Account: uint64(1 + side), BaseAccountID: model.U128(base),
			QuoteAccountID: model.U128(quote), Price: 100, Quantity: 1, Instrument: 5,
			Side: side, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}})
		if err != nil {
			return err
		}
		if results[0].Status != model.StatusOK {
			return fmt.Errorf("order %d: %s", first+uint64(i), results[0].Status)
		}
	}
	return nil
}
