package client

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
)

// rateLimitedServer starts a test server whose client 1 may send eventsPerSecond events
// a second, on a clock the test moves (clockNs, Unix nanoseconds).
func rateLimitedServer(t *testing.T, eventsPerSecond float64) (*testServer, *atomic.Int64) {
	clockNs, admission := rateLimitedAdmission()
	s := startTestServerWith(t, func(config *netio.Config) {
		config.Keys = rateLimitedKeys(t, eventsPerSecond)
		config.Admission = admission
	})
	return s, clockNs
}

// rateLimitedKeys is a keyring of client 1 (every permission, key 1 of testSecret)
// allowed eventsPerSecond events a second.
func rateLimitedKeys(t *testing.T, eventsPerSecond float64) *netio.Keyring {
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{{ID: 1, Name: "all",
			Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}},
			Limits:      netio.ClientLimits{EventsPerSecond: eventsPerSecond}}}})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// rateLimitedAdmission is admission control on a clock the test moves (clockNs, Unix
// nanoseconds, from 2026-01-01): a rate bucket refills only when the test says.
func rateLimitedAdmission() (*atomic.Int64, *netio.Controls) {
	clockNs := new(atomic.Int64)
	clockNs.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clockNs.Load()) }
	return clockNs, netio.NewControls(netio.ControlsConfig{Now: now})
}

// holdWindowAdmitted is holdWindow (s's shard paused) that returns only once the
// server has admitted the blocker (taken its tokens from the rate bucket) and queued it
// in the paused shard. holdWindow returns once the request is pending in the client;
// the server's event loop reads it whenever it gets to it, which under load can be
// after the test has moved the clock again: the bucket would then be refilled before
// the blocker takes its token instead of after, one token short for the requests the
// test sends next (TestMergedRequestAboveTheBurstGetsEachCallerItsOwnOutcome saw C
// refused rate_limited so), and a count of submitted requests read before the blocker
// is queued would count it. Every request before it must be answered (submitted or
// refused) already.
func holdWindowAdmitted(ctx context.Context, t testingT, s *testServer, c *Client,
	blocker model.Transfer) <-chan error {
	submitted := s.backend.Submitted()
	done := holdWindow(ctx, t, c, blocker)
	waitFor(t, c, "the blocker admitted and queued in the paused shard", func() bool {
		return s.backend.Submitted() > submitted
	})
	return done
}

// mergeBehindHeldWindow pauses s's shard and fills c's window (of one) with transfer
// blockerID until holding ends (holdWindowAdmitted); behind it callers A and B, with
// contexts[0] and contexts[1], merge 3 transfers each (blockerID+1 to +3, +4 to +6,
// account 1 to 2) into one request of 6 events (mergeCalls). The clock moves 10 s
// before the blocker and again, once the server has taken the blocker's token, before
// returning: the rate bucket is full when the merged request goes. It returns the
// blocker's outcome and the wait for A and B.
func mergeBehindHeldWindow(t *testing.T, s *testServer, clockNs *atomic.Int64, c *Client,
	holding context.Context, blockerID uint64,
	contexts []context.Context) (<-chan error, func() ([][]model.EventResult, []error)) {
	clockNs.Add(int64(10 * time.Second))
	s.backend.Pause()
	blocker := holdWindowAdmitted(holding, t, s, c, transfer(blockerID, 1, 2, 1, 0))
	calls := [][]model.Transfer{make([]model.Transfer, 3), make([]model.Transfer, 3)}
	for i := range 6 {
		calls[i/3][i%3] = transfer(blockerID+1+uint64(i), 1, 2, 1, 0)
	}
	wait := mergeCalls(t, c, contexts, calls)
	clockNs.Add(int64(10 * time.Second))
	return blocker, wait
}

// mergeCalls starts one CreateTransfers call per entry of calls, each with its context
// of contexts, in order, each joining the request the first one forms (the window held
// by holdWindow); it returns a function that waits for them and their results.
func mergeCalls(t *testing.T, c *Client, contexts []context.Context,
	calls [][]model.Transfer) func() ([][]model.EventResult, []error) {
	results := make([][]model.EventResult, len(calls))
	errs := make([]error, len(calls))
	var group sync.WaitGroup
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	for i, transfers := range calls {
		group.Go(func() { results[i], errs[i] = c.CreateTransfers(contexts[i], transfers) })
		waitFor(t, c, "the caller to form or join the request", func() bool {
			call := c.forming[key]
			return call != nil && call.waiters == i+1
		})
	}
	return func() ([][]model.EventResult, []error) {
		group.Wait()
		return results, errs
	}
}

func allOK(results []model.EventResult, count int) bool {
	return len(results) == count && !slices.ContainsFunc(results,
		func(result model.EventResult) bool { return result.Status != model.StatusOK })
}

func isRateLimited(err error) bool {
	var refused *StatusError
	return errors.As(err, &refused) && refused.Status == model.StatusRateLimited
}

// TestMergedRequestAboveTheBurstGetsEachCallerItsOwnOutcome: a client may send 4 events
// a second (one second of burst: 4 at most in a request). Four callers merge into one
// request of 8 events, which the server can never admit: A (3 transfers), B (3), D (1,
// whose context ends before the request is sent) and C (1). Sent alone in that order
// with a full bucket, A is admitted (1 token left), B refused rate_limited, C admitted (1
// token); D, gone, sends nothing. Each caller must get exactly that, and D's transfer
// must not be applied. Before the fix every caller waited for a request refused
// rate_limited whole: A and C were refused for their neighbours' events.
func TestMergedRequestAboveTheBurstGetsEachCallerItsOwnOutcome(t *testing.T) {
	s, clockNs := rateLimitedServer(t, 4)
	c := s.dial(t, func(config *Config) { config.InflightMax = 1 })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	leaving, leave := context.WithCancel(ctx)
	defer leave()

	clockNs.Add(int64(10 * time.Second))
	s.backend.Pause()
	// Its token taken before the clock moves again below (holdWindowAdmitted).
	blocker := holdWindowAdmitted(ctx, t, s, c, transfer(500, 1, 2, 1, 0))
	wait := mergeCalls(t, c, []context.Context{ctx, ctx, leaving, ctx}, [][]model.Transfer{
		{transfer(501, 1, 2, 1, 0), transfer(502, 1, 2, 1, 0), transfer(503, 1, 2, 1, 0)},
		{transfer(504, 1, 2, 1, 0), transfer(505, 1, 2, 1, 0), transfer(506, 1, 2, 1, 0)},
		{transfer(507, 1, 2, 1, 0)},
		{transfer(508, 1, 2, 1, 0)},
	})
	leave()
	key := coalesceKey{model.OperationCreateTransfers, 0, 0}
	waitFor(t, c, "D to leave the request", func() bool { return c.forming[key].waiters == 3 })
	clockNs.Add(int64(10 * time.Second)) // The bucket full again: 4 events.
	s.backend.Resume()
	results, errs := wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}

	if errs[0] != nil || !allOK(results[0], 3) {
		t.Errorf("A (3 events, fits alone): %v %v, want 3 ok", statuses(results[0]), errs[0])
	}
	if !isRateLimited(errs[1]) {
		t.Errorf("B (3 events, 1 token left): %v %v, want rate_limited",
			statuses(results[1]), errs[1])
	}
	var unknown *OutcomeUnknownError
	if !errors.As(errs[2], &unknown) || !errors.Is(errs[2], context.Canceled) {
		t.Errorf("D (left): %v, want an *OutcomeUnknownError wrapping context.Canceled",
			errs[2])
	}
	if errs[3] != nil || !allOK(results[3], 1) {
		t.Errorf("C (1 event, 1 token left): %v %v, want ok", statuses(results[3]), errs[3])
	}
	clockNs.Add(int64(10 * time.Second)) // Room for the lookup: its 4 ids count as events.
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(504), model.U128(507),
		model.U128(501), model.U128(508)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, transfer := range found {
		ids = append(ids, transfer.ID.Lo)
	}
	if !slices.Equal(ids, []uint64{501, 508}) {
		t.Errorf("transfers found among 504 (B, refused), 507 (D, left), 501 (A), 508 (C): "+
			"%v, want 501 and 508", ids)
	}
}

// TestSplitRequestsKeepExactlyOnceAcrossAReconnect: the requests a merged request is
// split into are requests like any other: numbered, pending, resent with their numbers
// after a reconnect, applied once. A (3 transfers) and B (3) merge into a request of 6
// under a limit of 4 events a second; the shard is paused, the window's one slot freed
// by its holder leaving. Split, A's request is admitted by the rate and queued in the
// paused shard, B's refused rate_limited. The connection then ends with A's request
// unanswered; after the reconnect its resend is refused rate_limited (1 token left: an
// unknown outcome, resent after a back-off) until the clock refills the bucket; the
// shard resumes. A's caller must get ok for its 3 transfers (not exists: applied once,
// answered from the cache for the resend), and the shard must have applied that
// request number once.
func TestSplitRequestsKeepExactlyOnceAcrossAReconnect(t *testing.T) {
	s, clockNs := rateLimitedServer(t, 4)
	c := s.dial(t, func(config *Config) {
		config.InflightMax = 1
		config.BusyRetryDelay = time.Millisecond
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	holding, stopHolding := context.WithCancel(ctx)
	defer stopHolding()

	// 4 tokens when the merged request goes: the blocker took 1 before.
	blocker, wait := mergeBehindHeldWindow(t, s, clockNs, c, holding, 600,
		[]context.Context{ctx, ctx})
	submitted := s.backend.Submitted()
	stopHolding() // Its slot frees: the merged request goes, refused, split.
	var unknown *OutcomeUnknownError
	if err := <-blocker; !errors.As(err, &unknown) {
		t.Fatalf("the blocker, left while in the paused shard: %v", err)
	}
	var number uint64
	waitFor(t, c, "A's own request to be sent", func() bool {
		for _, call := range c.pending {
			if call.events == 3 && call.unanswered > 0 {
				number = call.Number
				return s.backend.Submitted() > submitted // Queued in the paused shard.
			}
		}
		return false
	})
	c.mu.Lock()
	c.lostLocked(c.generation, errors.New("test: connection dropped"))
	c.mu.Unlock()
	waitFor(t, c, "A's request resent on a new connection and refused", func() bool {
		call := c.pending[number]
		return c.conn != nil && call != nil && call.lostCopy && call.busyRetries > 0
	})
	clockNs.Add(int64(10 * time.Second))
	s.backend.Resume()
	results, errs := wait()

	if errs[0] != nil || !allOK(results[0], 3) {
		t.Errorf("A: %v %v, want 3 ok (applied once)", statuses(results[0]), errs[0])
	}
	if !isRateLimited(errs[1]) {
		t.Errorf("B: %v %v, want rate_limited", statuses(results[1]), errs[1])
	}
	c.mu.Lock()
	session := c.session
	c.mu.Unlock()
	if applied := s.backend.Applications(1, session, number); applied != 1 {
		t.Errorf("A's request %d applied %d times, want once", number, applied)
	}
}

// TestMergedRequestOfUnknownOutcomeIsNotSplit: a merged request a copy of which may have
// been applied (lost with a connection, or answered outcome_unknown) and whose resend is
// refused rate_limited (checked before the number is looked up) is resent whole, never
// split: its callers' events sent again under new numbers could be applied twice.
func TestMergedRequestOfUnknownOutcomeIsNotSplit(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		t.Run(unknown, func(t *testing.T) {
			f := newUnknownOutcomeFixture(t, time.Millisecond, unknown)
			f.c.mu.Lock()
			f.call.parts = []callerPart{{end: 1}, {end: 2}} // Two callers, one event each.
			f.call.events, f.call.waiters = 2, 2
			f.c.mu.Unlock()
			f.c.mu.Lock()
			splittable := f.call.splittable(model.StatusRateLimited)
			f.c.mu.Unlock()
			if splittable {
				// Split here it would panic: the fixture's frame is no real request.
				t.Fatal("a merged request of unknown outcome is taken as splittable")
			}
			f.answer(model.StatusRateLimited)
			f.expectResent(t, "rate_limited")
			f.c.mu.Lock()
			defer f.c.mu.Unlock()
			if f.call.split || f.c.pending[1] != f.call {
				t.Errorf("split %v, pending %v: want resent whole", f.call.split,
					f.c.pending[1] == f.call)
			}
		})
	}
}
