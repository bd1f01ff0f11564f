package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
)

// The tests of a request applied late: answered busy first (not applied), it is applied
// on a resend after a later request, so its reply sits in the server's cache of replies
// (2 MiB per session, oldest evicted first, PROTOCOL.md §7) after that request's. Sizes:
// the late request's reply is 576,000 bytes, the one applied before it 1,179,216 (a full
// batch with balances) and the newer one 900,000. The newer one fits in 2 MiB from the
// full batch on (2,079,216 bytes), not with the late one's reply too: if the client
// numbers it while the full batch's reply is needed for a resend, the server evicts
// that reply and answers the resend request_too_old, although it was applied.
const (
	lateReplyEvents  = 4000
	newerReplyEvents = 6250
)

// createBatchWithBalances creates count transfers, ids from first, with balances, and
// requires every one created.
func createBatchWithBalances(ctx context.Context, c *Client, first uint64, count int) error {
	transfers := make([]model.Transfer, count)
	for i := range transfers {
		transfers[i] = transfer(first+uint64(i), 1, 3, 1, 0)
	}
	results, err := c.CreateTransfersWithBalances(ctx, transfers)
	if err != nil {
		return fmt.Errorf("batch from %d: %w", first, err)
	}
	for i := range results {
		if results[i].Status != model.StatusOK {
			return fmt.Errorf("batch from %d, transfer %d: %s", first, i, results[i].Status)
		}
	}
	return nil
}

// waitForTransfer waits until lookups through observer (a session of its own, not
// through the proxy) find transfer id: the request that carries it was applied.
func waitForTransfer(t *testing.T, observer *Client, id uint64, what string) {
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		found, err := observer.LookupTransfers(ctx, []model.Uint128{model.U128(id)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitForAppliedOrInWindowQueue waits until transfer id is found (its request applied)
// or a goroutine waits for room in the exactly-once window; the limit guards a hang.
func waitForAppliedOrInWindowQueue(t *testing.T, observer *Client, id uint64) {
	deadline := time.Now().Add(waitLimit)
	buffer := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buffer, true)
		if strings.Contains(string(buffer[:n]), "(*Client).waitInsideWindow(") {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		found, err := observer.LookupTransfers(ctx, []model.Uint128{model.U128(id)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the newer request")
		}
		time.Sleep(time.Millisecond)
	}
}

// lateReplySetUp is the start the tests share: a request answered busy (its caller
// waits with lateContext; with loseBusyReply the proxy drops that answer, so the client
// learns of no refusal, only of a copy left unanswered by the connection), then, with
// every reply dropped by the proxy, a full batch applied (its caller's error comes on appliedDone); the busy answers stop and the
// connection is dropped, so the busy request is applied on a resend, after the batch.
// From then on the proxy drops the replies to the batch (and to the late request, with
// muteLate).
type lateReplySetUp struct {
	c, observer *Client
	busy        *busyShard
	proxy       *wireProxy
	ctx         context.Context
	late        uint64 // Number of the request answered busy.
	full        uint64 // Number of the full batch.
	lateDone    chan error
	appliedDone chan error
}

func startLateReply(t *testing.T, ctx, lateContext context.Context, coalesce int,
	muteLate, loseBusyReply bool) *lateReplySetUp {
	server, busy := startBusyShardServer(t)
	proxy := startWireProxy(t, newResendLog())
	proxy.mutex.Lock()
	proxy.framewise = true
	proxy.mutex.Unlock()
	proxy.setTarget(server.Address())
	s := &lateReplySetUp{busy: busy, proxy: proxy, ctx: ctx,
		lateDone: make(chan error, 1), appliedDone: make(chan error, 1)}
	s.c = dialTestClient(t, proxy.address(), func(config *Config) {
		config.CoalesceEventsMax = coalesce
	})
	// The observer's numbers never meet the one busyShard holds (it looks at no session).
	s.observer = dialTestClient(t, server.Address(), func(config *Config) {
		config.FirstNumber = 1 << 40
	})
	createTestAccounts(t, s.c)

	s.late = s.c.NextNumber()
	busy.held.Store(s.late)
	proxy.muteNumber(s.late, loseBusyReply)
	go func() {
		s.lateDone <- createBatchWithBalances(lateContext, s.c, 10_000, lateReplyEvents)
	}()
	if loseBusyReply {
		waitFor(t, s.c, "the request answered busy, the answer dropped", func() bool {
			return busy.refused.Load() > 0
		})
	} else {
		waitFor(t, s.c, "the request answered busy", func() bool {
			call := s.c.pending[s.late]
			return call != nil && call.busyRetries > 0
		})
	}
	proxy.muteReplies(true)
	s.full = s.c.NextNumber()
	go func() { s.appliedDone <- createFullBatchWithBalances(ctx, s.c, 100_000) }()
	waitForTransfer(t, s.observer, 100_000, "the full batch applied")
	busy.held.Store(0)
	proxy.muteNumber(s.full, true)
	proxy.muteNumber(s.late, muteLate)
	proxy.muteReplies(false) // The next connection logs in.
	proxy.dropAll()
	waitForTransfer(t, s.observer, 10_000, "the request answered busy applied on a resend")
	return s
}

// lateReplyCase is one way into the late-reply tests: merging off (-1, Go) or on (0,
// submit), and the busy answer to the late request's first copy received or dropped.
type lateReplyCase struct {
	coalesce      int
	loseBusyReply bool
}

func (c lateReplyCase) name() string {
	return fmt.Sprintf("coalesce=%d/busy_reply_lost=%t", c.coalesce, c.loseBusyReply)
}

var lateReplyCases = []lateReplyCase{{-1, false}, {0, false}, {-1, true}, {0, true}}

// TestAbandonedResendKeepsItsPlaceInTheWindow: a request answered busy is resent, and
// its caller stops waiting (its context ends) while a resend is on its way, which the
// server applies after a later request whose reply was lost with the connection. The
// client must go on counting the abandoned request's reply in the server's cache: were
// it to forget it, it would number a newer request that fits beside the later one's
// reply but not beside both, the server would evict the later one's reply, and the
// later one's resend (after the connection drops again) would be answered
// request_too_old for transfers that were created. Merging off (Go) and on (submit);
// and with the busy answer dropped (busy_reply_lost): the client then knows of no
// refusal, only of a copy lost with the connection, which may as well be applied after
// the later request (PROTOCOL.md §7: the caller leaving does not stop the resends).
func TestAbandonedResendKeepsItsPlaceInTheWindow(t *testing.T) {
	for _, test := range lateReplyCases {
		coalesce := test.coalesce
		t.Run(test.name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			lateContext, abandonLate := context.WithCancel(ctx)
			defer abandonLate()
			s := startLateReply(t, ctx, lateContext, coalesce, true, test.loseBusyReply)
			abandonLate()
			if err := <-s.lateDone; !errors.Is(err, context.Canceled) {
				t.Fatalf("the abandoned call: %v", err)
			}
			newerDone := make(chan error, 1)
			go func() {
				newerDone <- createBatchWithBalances(ctx, s.c, 200_000, newerReplyEvents)
			}()
			waitForAppliedOrInWindowQueue(t, s.observer, 200_000)
			s.proxy.muteNumber(s.full, false)
			s.proxy.muteNumber(s.late, false)
			s.proxy.dropAll()
			if err := <-s.appliedDone; err != nil {
				t.Fatalf("the full batch, applied, its reply lost: %v", err)
			}
			if err := <-newerDone; err != nil {
				t.Fatalf("the newer request: %v", err)
			}
		})
	}
}

// TestLateReplyKeepsItsPlaceInTheWindow: a request answered busy is applied on a resend
// after a full batch whose reply was lost with the connection, and its own reply
// arrives; the full batch's reply to its resend is lost again. Its caller is answered,
// but its reply stays in the server's cache after the full batch's, which the batch's
// next resend needs: the client must count it until the batch is answered, or it
// numbers a newer request whose reply evicts the batch's, and the batch's caller gets
// request_too_old for transfers that were created. Merging off (Go) and on (submit);
// and with the busy answer dropped (busy_reply_lost): a copy lost with the connection
// makes a reply late as a refusal does.
func TestLateReplyKeepsItsPlaceInTheWindow(t *testing.T) {
	for _, test := range lateReplyCases {
		coalesce := test.coalesce
		t.Run(test.name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			s := startLateReply(t, ctx, ctx, coalesce, false, test.loseBusyReply)
			if err := <-s.lateDone; err != nil {
				t.Fatalf("the request applied late: %v", err)
			}
			newerDone := make(chan error, 1)
			go func() {
				newerDone <- createBatchWithBalances(ctx, s.c, 200_000, newerReplyEvents)
			}()
			waitForAppliedOrInWindowQueue(t, s.observer, 200_000)
			s.proxy.muteNumber(s.full, false)
			s.proxy.dropAll()
			if err := <-s.appliedDone; err != nil {
				t.Fatalf("the full batch, applied, its reply lost twice: %v", err)
			}
			if err := <-newerDone; err != nil {
				t.Fatalf("the newer request: %v", err)
			}
		})
	}
}

// TestSmallerReplyCacheIsRaisedToTheClientsBound: the client keeps the expected replies
// from its oldest pending request on within the server's default cache of replies per
// session (2 MiB; the handshake does not tell the size), so a server configured with a
// smaller cache (core.Config.SessionReplyBytesMax; no command-line flag sets it) must
// keep 2 MiB anyway. Here a full batch with balances (1,179,216 bytes of results) and a
// newer request (900,000) are applied with their replies lost, both in flight at once as
// the client allows; with a cache of 1,179,216 bytes the newer reply evicts the full
// batch's, and its resend after the connection drops would be answered request_too_old
// for transfers that were created.
func TestSmallerReplyCacheIsRaisedToTheClientsBound(t *testing.T) {
	server, _ := startBusyShardServerWith(t,
		core.Config{SessionReplyBytesMax: model.ReplyBodyBytesMax})
	proxy := startWireProxy(t, newResendLog())
	proxy.setTarget(server.Address())
	c := dialTestClient(t, proxy.address(), nil)
	observer := dialTestClient(t, server.Address(), nil)
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	proxy.muteReplies(true)
	fullDone, newerDone := make(chan error, 1), make(chan error, 1)
	go func() { fullDone <- createFullBatchWithBalances(ctx, c, 100_000) }()
	waitForTransfer(t, observer, 100_000, "the full batch applied")
	go func() { newerDone <- createBatchWithBalances(ctx, c, 200_000, newerReplyEvents) }()
	waitForAppliedOrInWindowQueue(t, observer, 200_000)
	proxy.muteReplies(false)
	proxy.dropAll()
	if err := <-fullDone; err != nil {
		t.Fatalf("the full batch, applied, its reply lost: %v", err)
	}
	if err := <-newerDone; err != nil {
		t.Fatalf("the newer request: %v", err)
	}
}
