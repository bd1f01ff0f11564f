package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/client"
)

// TestInterruptedCallsBarrierPrecedesLookup: an interrupt (Ctrl-C) ends the callers'
// calls at once, each with its copy still on its way (a proxy holds the second
// connection's requests, as a slow network would), so their outcome is unknown although
// nothing was abandoned at a drain deadline. The final lookup of their transfers, on the
// setup's connection, may not find them and they may be applied after it: the barrier
// (a lookup on the connection that sent them, answered only once they are applied) must
// come first on every connection with an unknown outcome. Without it the proxy releases
// them only when the final lookup has been answered, and has them submitted before the
// read-back, so the check finds balances moved by transfers it did not account for.
func TestInterruptedCallsBarrierPrecedesLookup(t *testing.T) {
	const guard = 20 * time.Second // Hang guards, not timing assertions.
	h := newHarness(t, lieNone)
	proxy := startHoldingProxy(t, h.address)
	config := h.config()
	config.Addresses = []string{proxy.address()}
	config.Connections, config.Callers, config.Inflight = 2, 2, 1
	config.Count, config.Duration = 0, time.Minute // Ended by the interrupt.
	var guardExpired atomic.Bool
	hook := func(replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Operation == model.OperationLookupTransfers {
				submitted := h.backend.Submitted()
				released := proxy.release()
				waitUntil(guard, &guardExpired,
					func() bool { return h.backend.Submitted() >= submitted+released })
			}
		}
	}
	h.replier.beforeDeliver.Store(&hook)
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	interrupt, interrupted := context.WithCancel(ctx)
	config.hooks.beforeLoad = func() {
		go func() { // The interrupt, once the second connection's first call is held.
			waitUntil(guard, &guardExpired, func() bool { return proxy.heldCount() > 0 })
			interrupted()
		}()
	}
	result, err := Run(interrupt, config)
	if err != nil {
		t.Fatal(err)
	}
	if guardExpired.Load() {
		t.Fatal("a guard expired: no call held, or the held ones never submitted")
	}
	report := &result.Report
	if report.Invariant.UnknownOutcomes < uint64(config.Events) || !report.InvariantOK {
		t.Fatalf("invariant ok %v %v; %d looked up (want at least the held call's %d)",
			report.InvariantOK, report.Invariant.Problems, report.Invariant.UnknownOutcomes,
			config.Events)
	}
}

// waitUntil polls done until it holds or limit passes (then it sets expired): a hang
// guard, not a timing assertion.
func waitUntil(limit time.Duration, expired *atomic.Bool, done func() bool) {
	for deadline := time.Now().Add(limit); !done(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			expired.Store(true)
			return
		}
	}
}

// heldCount returns how many request frames the proxy holds (or held, once released).
func (p *holdingProxy) heldCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// TestBarrierReachesEveryShard: on a server of several shards the barrier looks up one
// of the run's accounts on each shard that holds any (a lookup of one account is handed
// whole to its shard, and orders only after the connection's earlier requests there).
func TestBarrierReachesEveryShard(t *testing.T) {
	r := newRun(Config{Accounts: 6, Seed: 1, RunID: 1}.WithDefaults())
	if accounts := r.barrierAccounts(); len(accounts) != 1 {
		t.Fatalf("one shard: barrier on %d accounts, want 1", len(accounts))
	}
	r.shards, r.shardOf = 3, []uint16{2, 2, 0, 2, 1, 0}
	accounts := r.barrierAccounts()
	set := r.accountSets()[0]
	want := []model.Uint128{set.id(0), set.id(2), set.id(4)} // Shards 2, 0 and 1.
	if len(accounts) != len(want) {
		t.Fatalf("barrier on %v, want %v", accounts, want)
	}
	for i := range want {
		if accounts[i] != want[i] {
			t.Fatalf("barrier on %v, want %v", accounts, want)
		}
	}
}

// TestBarrierLooksUpEveryAccount: the wire driver's barrier and the client's each send a
// lookup of every account barrierAccounts gives (one on each shard), not only the first.
// Method: the fake shard (which has no instruments, so the transfer workloads) counts the
// requests it was handed.
func TestBarrierLooksUpEveryAccount(t *testing.T) {
	h := newHarness(t, lieNone)
	config := wireConfig(h)
	accounts := []model.Uint128{model.U128(1), model.U128(2), model.U128(3)}
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	wires, err := dialWire(ctx, &config)
	if err != nil {
		t.Fatal(err)
	}
	defer closeWire(wires)
	submitted := h.backend.Submitted()
	if err := wires[0].barrier(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	if got := h.backend.Submitted() - submitted; got != len(accounts) {
		t.Fatalf("wire barrier: %d lookups, want %d", got, len(accounts))
	}
	c, err := client.Dial(ctx, client.Config{Addresses: config.Addresses,
		Client: config.Client, Key: config.Key, Secret: config.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	r := newRun(Config{Mix: Mix{KindSingle: 1}}.WithDefaults())
	submitted = h.backend.Submitted()
	if err := r.clientBarrier(ctx, c, accounts); err != nil {
		t.Fatal(err)
	}
	if got := h.backend.Submitted() - submitted; got != len(accounts) {
		t.Fatalf("client barrier: %d lookups, want %d", got, len(accounts))
	}
}
