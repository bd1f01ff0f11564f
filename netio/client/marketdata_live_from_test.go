package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// subscribeLiveOn has a caller subscribe to instrument live, and answers it on
// connection generation with live_from_op liveFromOp (0: a server that predates it).
func subscribeLiveOn(t *testing.T, c *Client, instrument uint32, generation,
	liveFromOp uint64) {
	t.Helper()
	result := make(chan error, 1)
	go func() {
		_, err := c.SubscribeMarketData(context.Background(), instrument, wire.ChannelBook,
			nil)
		result <- err
	}()
	waitForMarketDataWaiters(c, c.marketData, instrument, 1)
	answer := marketDataSubscribedFrame(instrument, wire.ChannelBook, 0)
	answer.Aux = liveFromOp
	if err := c.handle(answer, generation); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("the call for instrument %d returned %v", instrument, err)
		}
	case <-time.After(waitLimit): // A bound on a wait of microseconds.
		t.Fatalf("the call for instrument %d was never answered", instrument)
	}
}

// TestMarketDataNewInstrumentAfterAFailoverStartsFromTheNewConnection: connection 1
// handed over updates up to op 100; connection 2 reaches a new primary behind it (an
// asynchronous standby at op 60), and a caller subscribes to instrument 9 there, live.
// Its stream is whole from the answer on, on connection 2: from the answer's
// live_from_op (61), or, from a server that does not send it, from the last op read on
// connection 2 (55). Before the fix it was taken to start at op 100, the newest read on
// any connection: connection 3 then asked for 9's updates from 100 and never got the
// new primary's 61 to 99 (a trades-only consumer sees no gap in sequences it skips).
func TestMarketDataNewInstrumentAfterAFailoverStartsFromTheNewConnection(t *testing.T) {
	for _, test := range []struct {
		name             string
		liveFromOp, want uint64
	}{{"live_from_op", 61, 61}, {"older_server", 0, 55}} {
		t.Run(test.name, func(t *testing.T) {
			s := newMarketDataSubscription(func(MarketDataEvent) {})
			s.instruments[7], s.lastOp = wire.ChannelBook, 100
			c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
			resumedMarketData(c) // Connection 2: instrument 7 from op 100.
			if test.liveFromOp == 0 {
				update := make([]byte, model.MarketDataUpdateSize)
				(&model.MarketDataUpdate{Instrument: 8, Sequence: 3, Op: 55}).Encode(update)
				if err := c.handle(&wire.Frame{Kind: wire.KindMarketData, Body: update},
					2); err != nil {
					t.Fatal(err)
				}
			}
			subscribeLiveOn(t, c, 9, 2, test.liveFromOp)
			if resumed := resumedMarketData(c); resumed[9].FromOp != test.want {
				t.Fatalf("connection 3 resumes instrument 9 from op %d, want %d",
					resumed[9].FromOp, test.want)
			}
		})
	}
}

// TestMarketDataResumptionAnsweredOnAQuietConnectionMovesOn: instrument 7's resumption
// asks from op 10 on connection 2 and is answered (ok, or market_data_resume_gap) with
// live_from_op 50; nothing is read there before it is lost. Connection 3 must ask from
// 50: every update from 10 to 49 was replayed before the answer (or its loss told by
// the gap), and the ones from 50 on were to come live. Before the fix it asked from 10
// again, which a busy feed may have pushed out of the server's history meanwhile (or a
// restart): a spurious market_data_resume_gap, at every reconnect, on a quiet
// instrument. A server that does not send live_from_op leaves the op as asked.
func TestMarketDataResumptionAnsweredOnAQuietConnectionMovesOn(t *testing.T) {
	for _, test := range []struct {
		name                    string
		status                  model.Status
		asked, liveFromOp, want uint64
	}{{"ok", model.StatusOK, 10, 50, 50},
		{"resume_gap", model.StatusMarketDataResumeGap, 10, 50, 50},
		{"older_server", model.StatusOK, 10, 0, 10},
		// A server whose feed lags its log (which holds op 99): its updates from 61 on
		// come live, and are asked for again if lost with the connection.
		{"lagging", model.StatusOK, 100, 61, 61},
		// A new primary whose log ends at op 60 (a failover lost entries): a gap, and its
		// own updates from 61 on are asked for after it.
		{"behind", model.StatusMarketDataResumeGap, 100, 61, 61}} {
		t.Run(test.name, func(t *testing.T) {
			s := newMarketDataSubscription(func(MarketDataEvent) {})
			s.instruments[7], s.lastOp = wire.ChannelBook, test.asked
			c := &Client{log: slog.New(slog.DiscardHandler), generation: 1, marketData: s}
			resumed := resumedMarketData(c) // Connection 2.
			answer := marketDataSubscribedFrame(7, wire.ChannelBook, resumed[7].FromOp)
			answer.Status, answer.Aux = uint32(test.status), test.liveFromOp
			if err := c.handle(answer, 2); err != nil {
				t.Fatal(err)
			}
			if resumed = resumedMarketData(c); resumed[7].FromOp != test.want {
				t.Fatalf("connection 3 resumes instrument 7 from op %d, want %d",
					resumed[7].FromOp, test.want)
			}
		})
	}
}
