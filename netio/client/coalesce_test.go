package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
)

// waitLimit bounds every wait in these tests: a guard against hangs, not a timing
// assertion (conditions are expected within milliseconds; a minute leaves room for -race
// on the loaded 2-core CI machine).
const waitLimit = time.Minute

var testSecret = bytes.Repeat([]byte{0x01}, 32)

// testingT is what the helpers need of *testing.T and *rapid.T.
type testingT interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(f func())
}

// testServer is a netio server on a random loopback port in front of a fake shard.
type testServer struct {
	server  *netio.Server
	backend *fakeshard.Backend
}

func startTestServer(t testingT) *testServer { return startTestServerWith(t, nil) }

// startTestServerWith is startTestServer with configure applied to the server's Config
// (nil: nothing).
func startTestServerWith(t testingT, configure func(*netio.Config)) *testServer {
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{{ID: 1, Name: "all",
			Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	backend := fakeshard.New(fakeshard.Config{})
	config := netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if configure != nil {
		configure(&config)
	}
	server, err := netio.NewServer(config, backend)
	if err != nil {
		t.Fatal(err)
	}
	backend.Start(server)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		backend.Close()
	})
	return &testServer{server: server, backend: backend}
}

func (s *testServer) dial(t testingT, configure func(*Config)) *Client {
	return dialTestClient(t, s.server.Address(), configure)
}

// dialTestClient connects client 1 (key 1, testSecret) to address, with configure
// applied to its Config; the client is closed when the test ends.
func dialTestClient(t testingT, address string, configure func(*Config)) *Client {
	config := Config{Addresses: []string{address}, Client: 1, Key: 1, Secret: testSecret}
	if configure != nil {
		configure(&config)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Accounts of the tests: ids 1..testAccounts on ledger 1; the odd ones may not go
// negative (debits must not exceed credits), so transfers of different callers interact.
const testAccounts = 4

func createTestAccounts(t testingT, c *Client) { createAccountsAt(t, c, 0) }

// createAccountsAt creates accounts base+1..base+testAccounts.
func createAccountsAt(t testingT, c *Client, base uint64) {
	accounts := make([]model.Account, testAccounts)
	for i := range accounts {
		accounts[i] = model.Account{ID: model.U128(base + uint64(i+1)), Ledger: 1, Code: 1}
		if i%2 == 1 {
			accounts[i].Flags = model.AccountDebitsMustNotExceedCredits
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	results, err := c.CreateAccounts(ctx, accounts)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i+1, result.Status)
		}
	}
}

func transfer(id, debit, credit, amount uint64, flags uint16) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1,
		Flags: flags}
}

// waitFor polls condition (under the client's mu) until it holds; the limit only guards
// against a hang.
func waitFor(t testingT, c *Client, what string, condition func() bool) {
	deadline := time.Now().Add(waitLimit)
	for {
		c.mu.Lock()
		ok := condition()
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdWindow sends one transfer that fills a window of one request (the shard paused),
// so that the calls after it queue; the channel gets the call's error once it completes.
func holdWindow(ctx context.Context, t testingT, c *Client, blocker model.Transfer) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.CreateTransfers(ctx, []model.Transfer{blocker})
		done <- err
	}()
	waitFor(t, c, "the first request in flight", func() bool { return len(c.pending) == 1 })
	return done
}

// heldWindow starts a server and a client with a window of one request, creates the
// accounts, pauses the shard and fills the window with transfer id (holdWindow): the
// calls after it queue and merge until the shard resumes.
func heldWindow(t *testing.T, id uint64) (*testServer, *Client, context.Context, <-chan error) {
	return heldWindowConfigured(t, id, nil)
}

// heldWindowConfigured is heldWindow with configure applied to the client's Config
// after the window of one (nil: nothing more).
func heldWindowConfigured(t *testing.T, id uint64, configure func(*Config)) (*testServer,
	*Client, context.Context, <-chan error) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) {
		config.InflightMax = 1
		if configure != nil {
			configure(config)
		}
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	s.backend.Pause()
	return s, c, ctx, holdWindow(ctx, t, c, transfer(id, 1, 2, 1, 0))
}

func statuses(results []model.EventResult) []model.Status {
	out := make([]model.Status, len(results))
	for i := range results {
		out[i] = results[i].Status
	}
	return out
}

// TestCoalescingMergesAndClosesOpenChains: with the window full (one request in flight,
// the shard paused), four callers arrive one after the other: B (one transfer), C (two,
// the last linked: an open chain), D (one), E (one). B forms a request, C joins it and
// closes it (nothing may follow an open chain), D forms the next one and E joins that.
// Four calls take two requests; each caller gets its own results, the same as alone
// (C's open chain fails at the end of its request as it would in a request of its own;
// without the close, D's transfer would have continued C's chain and failed with it).
func TestCoalescingMergesAndClosesOpenChains(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	submittedBefore := s.backend.Submitted()

	s.backend.Pause()
	blocker := holdWindow(ctx, t, c, transfer(100, 1, 2, 1, 0))

	calls := [][]model.Transfer{
		{transfer(101, 1, 2, 1, 0)},
		{transfer(102, 1, 2, 1, model.TransferLinked), transfer(103, 1, 2, 1, model.TransferLinked)},
		{transfer(104, 1, 2, 1, 0)},
		{transfer(105, 1, 2, 1, 0)},
	}
	waiters := []int{1, 2, 1, 2} // Waiters of the latest forming request after each call.
	results := make([][]model.EventResult, len(calls))
	errs := make([]error, len(calls))
	var group sync.WaitGroup
	for i, transfers := range calls {
		group.Go(func() { results[i], errs[i] = c.CreateTransfers(ctx, transfers) })
		switch i {
		case 1: // C closed the request it joined: none is forming.
			waitFor(t, c, "C to join B's request", func() bool {
				return len(c.forming) == 0
			})
		default:
			waitFor(t, c, "the caller to form or join", func() bool {
				call := c.forming[coalesceKey{model.OperationCreateTransfers, 0, 0}]
				return call != nil && call.waiters == waiters[i]
			})
		}
	}
	s.backend.Resume()
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	want := [][]model.Status{{model.StatusOK},
		{model.StatusLinkedEventFailed, model.StatusLinkedEventChainOpen},
		{model.StatusOK}, {model.StatusOK}}
	for i := range calls {
		if errs[i] != nil || !slices.Equal(statuses(results[i]), want[i]) {
			t.Errorf("call %d: %v %v, want %v", i, statuses(results[i]), errs[i], want[i])
		}
	}
	if requests := s.backend.Submitted() - submittedBefore; requests != 3 {
		t.Errorf("%d requests for 5 calls, want 3 (the first alone, then 2 + 2 merged)",
			requests)
	}
}

// TestCoalescingOffSendsOneRequestPerCall: CoalesceEventsMax -1 keeps one request per
// call even when callers queue behind a full window.
func TestCoalescingOffSendsOneRequestPerCall(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1; config.CoalesceEventsMax = -1 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	submittedBefore := s.backend.Submitted()
	s.backend.Pause()
	var group sync.WaitGroup
	for i := range 4 {
		group.Go(func() {
			results, err := c.CreateTransfers(ctx,
				[]model.Transfer{transfer(uint64(200+i), 1, 2, 1, 0)})
			if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
				t.Errorf("call %d: %v %v", i, results, err)
			}
		})
	}
	waitFor(t, c, "one request in flight", func() bool { return len(c.pending) == 1 })
	s.backend.Resume()
	group.Wait()
	if requests := s.backend.Submitted() - submittedBefore; requests != 4 {
		t.Errorf("%d requests for 4 calls with coalescing off, want 4", requests)
	}
}

// TestCoalescedRequestIsResentWhole: a merged request in flight when the connection
// drops is resent with its number after the reconnect and applied once; each caller
// gets its own result.
func TestCoalescedRequestIsResentWhole(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 300)
	var group sync.WaitGroup
	results := make([][]model.EventResult, 3)
	for i := range results {
		group.Go(func() {
			var err error
			results[i], err = c.CreateTransfers(ctx,
				[]model.Transfer{transfer(uint64(301+i), 1, 2, uint64(i+1), 0)})
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	var merged *Call // Read under the client's mu (waitFor): the admitting goroutine writes forming.
	waitFor(t, c, "three callers in one request", func() bool {
		merged = c.forming[key]
		return merged != nil && merged.waiters == 3
	})
	dropWithMergedInFlight(t, s, c, merged)
	group.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	for i := range results {
		if len(results[i]) != 1 || results[i][0].Status != model.StatusOK {
			t.Errorf("call %d: %v", i, results[i])
		}
	}
	if applied := s.backend.Applications(1, c.Session(), merged.Number); applied != 1 {
		t.Errorf("merged request %d applied %d times, want once", merged.Number, applied)
	}
}

// dropWithMergedInFlight resumes the paused shard until the merged request is sent, then
// drops the connection with the shard paused again (the request is resent with its number
// after the reconnect) and resumes it.
func dropWithMergedInFlight(t *testing.T, s *testServer, c *Client, merged *Call) {
	s.backend.Resume()
	waitFor(t, c, "the merged request in flight", func() bool {
		return merged.Number != 0 && merged.outboxSlot < 0
	})
	s.backend.Pause()
	c.mu.Lock()
	c.lostLocked(c.generation, errors.New("test: connection dropped"))
	c.mu.Unlock()
	s.backend.Resume()
}

// TestCoalescingMatchesOneByOne is the property: callers' calls (random transfers over
// accounts that interact through balance limits and shared ids; valid and invalid
// events; closed and open linked chains) sent concurrently through one client get
// exactly the per-event statuses that the same calls, sent one request each in the order
// the merged requests applied them, get on a fresh server.
func TestCoalescingMatchesOneByOne(t *testing.T) {
	// One pair of servers for every case; each case has its own ids (base), so cases do
	// not interact and both servers see the same calls in the same order.
	merged, alone := startTestServer(t), startTestServer(t)
	c := merged.dial(t, func(config *Config) { config.InflightMax = 1 })
	reference := alone.dial(t, func(config *Config) { config.CoalesceEventsMax = -1 })
	var base uint64
	rapid.Check(t, func(rt *rapid.T) {
		base += 1 << 20
		createAccountsAt(rt, c, base)
		createAccountsAt(rt, reference, base)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()

		calls := rapid.SliceOfN(rapid.Custom(drawCall), 1, 12).Draw(rt, "calls")
		for _, transfers := range calls {
			for i := range transfers {
				rebase(&transfers[i], base)
			}
		}
		// Hold the window with a blocker so that every call queues and merges.
		merged.backend.Pause()
		blocker := holdWindow(ctx, rt, c, transfer(base+1<<19, base+1, base+2, 1, 0))
		parts := make([]part, len(calls))
		errs := make([]error, len(calls))
		var group sync.WaitGroup
		for i, transfers := range calls {
			group.Go(func() {
				parts[i], errs[i] = c.submit(ctx, coalesceKey{model.OperationCreateTransfers, 0, 0},
					encodeTransfers(transfers), len(transfers),
					transfers[len(transfers)-1].Flags&model.TransferLinked != 0)
			})
		}
		group.Wait()
		if err := errors.Join(errs...); err != nil {
			rt.Fatal(err)
		}
		merged.backend.Resume()
		got := make([][]model.EventResult, len(calls))
		for i, p := range parts {
			body, err := p.wait(ctx)
			if err != nil {
				rt.Fatalf("call %d: %v", i, err)
			}
			got[i] = appendEventResults(nil, body)
		}
		if err := <-blocker; err != nil {
			rt.Fatal(err)
		}
		order := make([]int, len(calls))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			if parts[a].call.Number != parts[b].call.Number {
				return int(parts[a].call.Number) - int(parts[b].call.Number)
			}
			return parts[a].first - parts[b].first
		})
		if _, err := reference.CreateTransfers(ctx,
			[]model.Transfer{transfer(base+1<<19, base+1, base+2, 1, 0)}); err != nil {
			rt.Fatal(err)
		}
		for _, i := range order {
			want, err := reference.CreateTransfers(ctx, calls[i])
			if err != nil {
				rt.Fatal(err)
			}
			if !slices.Equal(statuses(got[i]), statuses(want)) {
				rt.Fatalf("call %d (request %d, from event %d): merged %v, alone %v", i,
					parts[i].call.Number, parts[i].first, statuses(got[i]), statuses(want))
			}
		}
	})
}

// drawCall draws one caller's transfers: 1 to 4, ids from a small shared range (so
// callers collide: exists, exists_with_different_*), accounts 0..testAccounts+1 (0 and
// testAccounts+1 are invalid or unknown), amounts 0..3 against balance limits, and the
// linked flag on any event (the last one's opens a chain).
func drawCall(t *rapid.T) []model.Transfer {
	count := rapid.IntRange(1, 4).Draw(t, "count")
	transfers := make([]model.Transfer, count)
	for i := range transfers {
		var flags uint16
		if rapid.IntRange(0, 3).Draw(t, "linked") == 0 {
			flags = model.TransferLinked
		}
		transfers[i] = transfer(rapid.Uint64Range(1, 12).Draw(t, "id"),
			rapid.Uint64Range(0, testAccounts+1).Draw(t, "debit"),
			rapid.Uint64Range(1, testAccounts).Draw(t, "credit"),
			rapid.Uint64Range(0, 3).Draw(t, "amount"), flags)
	}
	return transfers
}

// rebase moves a drawn transfer's ids into the case's range (0 stays 0: invalid).
func rebase(t *model.Transfer, base uint64) {
	t.ID = model.U128(base + t.ID.Lo)
	if t.DebitAccountID.Lo != 0 {
		t.DebitAccountID = model.U128(base + t.DebitAccountID.Lo)
	}
	t.CreditAccountID = model.U128(base + t.CreditAccountID.Lo)
}

func encodeTransfers(transfers []model.Transfer) []byte {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	return body
}

// TestCoalescingConcurrentCallers runs many goroutines of small CreateTransfers and
// CreateTransfersWithBalances calls through one client (for the race detector): every
// call gets one created result per transfer and every request is applied once.
func TestCoalescingConcurrentCallers(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const callers, callsEach = 32, 40
	var group sync.WaitGroup
	for caller := range callers {
		group.Go(func() {
			for call := range callsEach {
				id := uint64(1000 + (caller*callsEach+call)*2)
				transfers := []model.Transfer{transfer(id, 1, 3, 1, model.TransferLinked),
					transfer(id+1, 3, 1, 1, 0)}[:1+call%2]
				transfers[len(transfers)-1].Flags = 0
				if call%3 == 0 {
					results, err := c.CreateTransfersWithBalances(ctx, transfers)
					if err != nil || len(results) != len(transfers) ||
						results[0].Status != model.StatusOK {
						t.Errorf("caller %d call %d: %v %v", caller, call, results, err)
					}
					continue
				}
				results, err := c.CreateTransfers(ctx, transfers)
				if err != nil || len(results) != len(transfers) ||
					slices.ContainsFunc(results, func(r model.EventResult) bool {
						return r.Status != model.StatusOK
					}) {
					t.Errorf("caller %d call %d: %v %v", caller, call, results, err)
				}
			}
		})
	}
	group.Wait()
	next := c.NextNumber()
	for number := c.config.FirstNumber + 1; number < next; number++ {
		if applied := s.backend.Applications(1, c.Session(), number); applied != 1 {
			t.Fatalf("request %d applied %d times", number, applied)
		}
	}
	t.Logf("%d calls in %d requests", callers*callsEach, next-c.config.FirstNumber-1)
}

// BenchmarkCallers: 512 goroutines each calling CreateTransfers with one transfer at a
// time through one client, against the fake shard (no log: the client's and the
// network layer's cost per call), with merging on and off. cpu-ns/call is the whole
// process's CPU time (every goroutine, client and server: getrusage) per call.
func BenchmarkCallers(b *testing.B) {
	for _, coalesce := range []int{0, -1} {
		b.Run(fmt.Sprintf("coalesce=%d", coalesce), func(b *testing.B) {
			s := startTestServer(b)
			c := s.dial(b, func(config *Config) { config.CoalesceEventsMax = coalesce })
			createTestAccounts(b, c)
			ctx := context.Background()
			const callers = 512
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart := processCPUNanoseconds()
			var group sync.WaitGroup
			for range callers {
				group.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						results, err := c.CreateTransfers(ctx,
							[]model.Transfer{transfer(uint64(n)+1<<32, 1, 3, 1, 0)})
						if err != nil || results[0].Status != model.StatusOK {
							b.Errorf("%v %v", results, err)
							return
						}
					}
				})
			}
			group.Wait()
			cpu := processCPUNanoseconds() - cpuStart
			b.StopTimer()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}

// TestCoalescedCallerLeaving: callers whose contexts end stop waiting without failing
// the request they share. B and C share a request queued behind a full window; B gives
// up (context canceled) and C still gets its result, and B's transfer is applied (its
// outcome was unknown to B, as for any abandoned call). D forms a request alone and gives
// up before it is admitted: it is never sent and takes no request number.
func TestCoalescedCallerLeaving(t *testing.T) {
	s, c, ctx, blocker := heldWindow(t, 400)
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}

	leaving, leave := context.WithCancel(ctx)
	bDone := make(chan error, 1)
	go func() {
		_, err := c.CreateTransfers(leaving, []model.Transfer{transfer(401, 1, 2, 1, 0)})
		bDone <- err
	}()
	waitFor(t, c, "B to form a request", func() bool { return c.forming[key] != nil })
	var cResults []model.EventResult
	var cErr error
	cDone := make(chan struct{})
	go func() {
		cResults, cErr = c.CreateTransfers(ctx,
			[]model.Transfer{transfer(402, 1, 2, 1, model.TransferLinked)}) // Closes it.
		close(cDone)
	}()
	waitFor(t, c, "C to join and close B's request", func() bool { return c.forming[key] == nil })
	leave()
	if err := <-bDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("B: %v, want context.Canceled", err)
	}

	dContext, dLeave := context.WithCancel(ctx)
	dDone := make(chan error, 1)
	go func() {
		_, err := c.CreateTransfers(dContext, []model.Transfer{transfer(403, 1, 2, 1, 0)})
		dDone <- err
	}()
	waitFor(t, c, "D to form a request", func() bool { return c.forming[key] != nil })
	dLeave()
	if err := <-dDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("D: %v, want context.Canceled", err)
	}
	waitFor(t, c, "D's request dropped", func() bool { return c.forming[key] == nil })
	numberAfterD := c.NextNumber()

	s.backend.Resume()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	<-cDone
	if cErr != nil || len(cResults) != 1 || cResults[0].Status != model.StatusLinkedEventChainOpen {
		t.Fatalf("C: %v %v, want its open chain refused as alone", cResults, cErr)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(401), model.U128(403)})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != model.U128(401) {
		t.Fatalf("found %v: want B's transfer applied (once) and D's never sent", found)
	}
	// B and C's request was numbered once admitted, then the lookup; D took none.
	if numberAfterD+2 != c.NextNumber() {
		t.Fatalf("numbers: %d after D, %d now", numberAfterD, c.NextNumber())
	}
}

// processCPUNanoseconds is the user and system CPU time of the whole process so far.
func processCPUNanoseconds() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
