package netio_test

import (
	"context"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// startShardServer serves s on a random loopback port; stop shuts the server down and
// closes the shard (the log stays open: the caller owns it).
func startShardServer(t *testing.T, s *shard.Shard) (server *netio.Server, stop func()) {
	t.Helper()
	return startShardServerWith(t, s, netio.MarketDataConfig{})
}

// startShardServerWith is startShardServer with marketData as the server's market-data
// configuration (its Serving word for a node whose role can change), and the server's
// configuration then changed by each of adjust (heartbeats, timeouts).
func startShardServerWith(t *testing.T, s *shard.Shard, marketData netio.MarketDataConfig,
	adjust ...func(*netio.Config)) (server *netio.Server, stop func()) {
	t.Helper()
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	config := netio.Config{Address: "127.0.0.1:0", Keys: keys, Logger: testLogger(),
		MarketData: marketData}
	for _, change := range adjust {
		change(&config)
	}
	server, err = netio.NewServer(config, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server))
	if err := server.Start(); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("shard close: %v", err)
		}
	}
	t.Cleanup(stop)
	return server, stop
}

// TestResubscribeAfterRestartFromSnapshot (section 8): a client whose reports 1..3 came
// before the snapshot a server restarted from, and later ones after it, resubscribes from
// 1 after the restart. The server holds only the reports of the log after the snapshot,
// so subscribed must say oldest_sequence above 1 (the client reconciles by queries) and
// every report it sends must be the real one. Before the fix the replay sent sequences
// 1..3 as all-zero records and oldest_sequence 1.
func TestResubscribeAfterRestartFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	machineConfig := core.Config{RulesVersion: core.RulesVersionCurrent}
	written := make(chan shard.SnapshotResult, 4)
	shardConfig := shard.Config{PulseInterval: time.Hour, CloseTimeout: time.Second,
		Logger: testLogger(), Snapshots: &shard.SnapshotConfig{Dir: dir + "/snapshots",
			OnWritten: func(r shard.SnapshotResult) { written <- r }}}
	s, err := shard.New(shardConfig, core.New(machineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	server, stop := startShardServer(t, s)
	r := dialRaw(t, server.Address())
	r.login(clientAll, 1, secretOne, 1)
	// Orders for an instrument that does not exist: each is refused, and the refusal is
	// the client's next report, whose client order id is the order's number here.
	order := func(number uint64) {
		t.Helper()
		body := make([]byte, model.OrderSize)
		(&model.Order{ClientOrderID: number, Account: 1, BaseAccountID: model.U128(1),
			QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
			Side: model.SideBuy, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}).Encode(body)
		if reply := r.roundTrip(number, model.OperationPlaceOrders, 0, body); reply.Status != 0 {
			t.Fatalf("order %d: status %s", number, model.Status(reply.Status))
		}
	}
	for number := uint64(1); number <= 3; number++ {
		order(number)
	}
	s.RequestSnapshot()
	order(4) // A turn: the snapshot is taken at its op or just before it.
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatalf("snapshot: %v", result.Err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("no snapshot within %v", waitLimit)
	}
	order(5)
	stop()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	if log, err = wal.Open(wal.Options{Dir: dir + "/log"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	reports := shard.NewReportStore()
	machine, recovery, err := shard.Recover(machineConfig, log, dir+"/snapshots", nil,
		func(_ *core.Entry, output *core.Output) { reports.Add(output) })
	if err != nil {
		t.Fatal(err)
	}
	if recovery.SnapshotPath == "" {
		t.Fatalf("the restart did not use the snapshot: %+v", recovery)
	}
	shardConfig.Reports, shardConfig.Snapshots = reports, nil
	restarted, err := shard.New(shardConfig, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	server, _ = startShardServer(t, restarted)

	again := dialRaw(t, server.Address())
	again.login(clientAll, 1, secretOne, 2)
	again.subscribeReports(2, 1)
	var sequences []uint64
	for {
		frame := again.next()
		if frame.Kind == wire.KindSubscribed {
			if frame.Status != 0 || len(frame.Body) != wire.SubscribedSize {
				t.Fatalf("subscribed: status %d, %d bytes", frame.Status, len(frame.Body))
			}
			var subscribed wire.Subscribed
			subscribed.Decode(frame.Body)
			// The snapshot holds report 3 at least, 4 too if the sequencer took it after
			// order 4: what follows it is exactly what the server may replay.
			if subscribed.OldestSequence < 4 || subscribed.ReplayedThrough != 5 ||
				len(sequences) == 0 || sequences[0] != subscribed.OldestSequence {
				t.Fatalf("snapshot at op %d: replayed %v, subscribed oldest_sequence %d "+
					"replayed_through %d; want oldest_sequence 4 or 5 (report 3 is in the "+
					"snapshot, not retained), the replay from it through 5",
					recovery.SnapshotOp, sequences, subscribed.OldestSequence,
					subscribed.ReplayedThrough)
			}
			break
		}
		if frame.Kind != wire.KindReport {
			t.Fatalf("during the replay: %s", frame.Kind)
		}
		var report model.ExecutionReport
		report.Decode(frame.Body)
		if report.ClientOrderID != frame.Aux {
			t.Errorf("report %d is of client order id %d, want %d (a record never stored?)",
				frame.Aux, report.ClientOrderID, frame.Aux)
		}
		sequences = append(sequences, frame.Aux)
	}
	for i := 1; i < len(sequences); i++ {
		if sequences[i] != sequences[i-1]+1 {
			t.Fatalf("replayed sequences %v: not one after the other", sequences)
		}
	}
}
