package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestUnknownOutcomeThenEmptyNotPrimaryIsResent: a primary that fences itself (its
// witness lease ran out, or its log failed) answers the writes it had parked
// outcome_unknown; their resends on the same connection are answered not_primary with an
// empty body, since a self-fenced node does not know the new primary yet. That says
// nothing about the first attempt, which the standby may hold and, promoted, keeps
// (PROTOCOL.md §7: never report an unknown outcome as failed). The call must stay pending
// and be resent, until a not_primary names the new primary or a definite reply comes;
// handing the caller not_primary tells it "refused" for a write that may be applied.
func TestUnknownOutcomeThenEmptyNotPrimaryIsResent(t *testing.T) {
	// The fence answers the parked write outcome_unknown; its resend: fenced, primary
	// unknown.
	unknownOutcomeThenRefused(t, model.StatusNotPrimary)
}

// unknownOutcomeThenRefused answers a pending write outcome_unknown, then its resend
// refusal (with an empty body), and checks that the call is still pending, not handed
// to its caller, with two resends scheduled.
func unknownOutcomeThenRefused(t *testing.T, refusal model.Status) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: a, generation: 1,
		config: Config{BusyRetryDelay: time.Hour}} // The resend itself never fires here.
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{})} // A write: a read's refusal is its outcome.
	c.pending[1] = call
	c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
		Status: uint32(model.StatusOutcomeUnknown)}, 1)
	c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1, Status: uint32(refusal)}, 1)
	select {
	case <-call.complete:
		t.Fatalf("a write of unknown outcome was handed to its caller as %s", call.Reply.Status)
	default:
	}
	if c.pending[1] != call || call.busyRetries != 2 {
		t.Fatalf("call pending %v, resends scheduled %d; want pending and 2",
			c.pending[1] == call, call.busyRetries)
	}
	c.mu.Lock()
	c.closed = true // The scheduled resends, were they to fire, do nothing.
	c.mu.Unlock()
}

// goneStandby acknowledges nothing: the Acknowledger of a primary in sync mode whose
// standby has gone (or is being promoted).
type goneStandby struct{ notify chan struct{} }

func (g *goneStandby) Acknowledged() uint64                { return 0 }
func (g *goneStandby) AcknowledgedNotify() <-chan struct{} { return g.notify }

// refusalCountingShard counts the not_primary answers the shard gives to one request
// number (Submit refuses at once on a fenced shard).
type refusalCountingShard struct {
	*shard.Shard
	watched    atomic.Uint64
	notPrimary atomic.Int64
}

func (r *refusalCountingShard) Submit(request *backend.Request) model.Status {
	return r.count(request, r.Shard.Submit(request))
}

// SubmitDeferred is the path netio takes when the backend's inline turns are on (the
// shard's default): the embedded shard's method would bypass the count above.
func (r *refusalCountingShard) SubmitDeferred(request *backend.Request) model.Status {
	return r.count(request, r.Shard.SubmitDeferred(request))
}

func (r *refusalCountingShard) count(request *backend.Request, status model.Status) model.Status {
	if status == model.StatusNotPrimary && request.Number == r.watched.Load() {
		r.notPrimary.Add(1)
	}
	return status
}

// TestSelfFencedPrimaryResendReachesTheNewPrimary: end to end through a real shard and
// server. A primary in sync mode parks a write that its standby never acknowledges, and
// fences itself without knowing the new primary (its witness lease ran out): the write
// is answered outcome_unknown, its resends not_primary with no address. Once the node
// learns the new primary (the promoted node's fence retries), a resend is redirected
// there and applied (that node never received the entry): the caller gets ok. It used
// to get not_primary, a refusal, for a write whose outcome was unknown.
func TestSelfFencedPrimaryResendReachesTheNewPrimary(t *testing.T) {
	server, old, counting := startCountingShardServer(t, shard.Config{
		PulseInterval: time.Hour, Acknowledger: &goneStandby{notify: make(chan struct{})}})
	promoted, _ := startBusyShardServer(t) // The new primary: it never had the entry.

	c := dialTestClient(t, server.Address(), func(config *Config) {
		config.Addresses = append(config.Addresses, promoted.Address())
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waitUntilShard(t, "the grant table logged", func() bool { return old.Stats().OpLast >= 1 })
	opBefore := old.Stats().OpLast
	counting.watched.Store(c.NextNumber())
	done := make(chan error, 1)
	go func() {
		results, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(77), Ledger: 1,
			Code: 1}})
		if err == nil && results[0].Status != model.StatusOK {
			err = fmt.Errorf("account: %s", results[0].Status)
		}
		done <- err
	}()
	waitUntilShard(t, "the write sequenced and parked",
		func() bool { return old.Stats().OpLast > opBefore })
	old.Fence(old.Epoch()+1, "") // The lease ran out: the new primary is not known yet.
	waitUntilShard(t, "a resend answered not_primary with no address",
		func() bool { return counting.notPrimary.Load() > 0 })
	old.Fence(old.Epoch()+1, promoted.Address()) // The promoted node's fence reaches it.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write whose outcome was unknown: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("gave up waiting for the write's answer")
	}
}

// startCountingShardServer starts a netio server in front of a shard configured so
// (over an in-memory log, with the operator grant for client 1) that counts the
// not_primary answers to one number (refusalCountingShard); the server names the
// shard's primary address in not_primary, as a node does.
func startCountingShardServer(t *testing.T, config shard.Config) (*netio.Server,
	*shard.Shard, *refusalCountingShard) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	config.Logger = discard
	node := newOperatorShard(t, config, core.Config{})
	counting := &refusalCountingShard{Shard: node}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0",
		Keys: pipelineKeys(t), Logger: discard, PrimaryAddress: node.PrimaryAddress}, counting)
	if err != nil {
		t.Fatal(err)
	}
	serveShard(t, node, server, server.Replier())
	return server, node, counting
}

// waitUntilShard polls condition until it holds; the limit only guards against a hang.
func waitUntilShard(t *testing.T, what string, condition func() bool) {
	deadline := time.Now().Add(waitLimit)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUnknownOutcomeThenShuttingDownIsResent: a write answered outcome_unknown (the
// server's log failed, or it was fenced or closed with the write parked) is resent with
// its number; a resend that reaches a server that is stopping (an operator restarting
// the node whose log failed: netio answers shutting_down while it drains) is answered
// shutting_down, which says only that this attempt was not queued. The first attempt's
// entry may be in the log and applied at the restart: the call must stay pending and
// be resent (on this connection while it lasts, then after the reconnect), not handed
// to its caller as a refusal.
func TestUnknownOutcomeThenShuttingDownIsResent(t *testing.T) {
	unknownOutcomeThenRefused(t, model.StatusShuttingDown) // Its resend: the server drains.
}

// TestLostReplyThenEmptyNotPrimaryIsResent: a write is applied and its reply lost with
// the connection; before the client's resend arrives, the node fences itself without
// knowing the new primary (its witness lease ran out), so the resend on the new
// connection is answered not_primary with an empty body. That says nothing about the
// first attempt, which was applied (and may be on the new primary): handing the caller
// not_primary tells it "refused" for a write that was made. The call must be resent
// until a not_primary names the new primary, and answered from there (PROTOCOL.md §7,
// "After a disconnect"). Last session's fix covered the resends after outcome_unknown;
// this is the plain resend after a reconnect.
func TestLostReplyThenEmptyNotPrimaryIsResent(t *testing.T) {
	server, old, counting := startCountingShardServer(t, shard.Config{PulseInterval: time.Hour})
	promoted, _ := startBusyShardServer(t) // The new primary: it never had the entry.
	proxy := startWireProxy(t, newResendLog())
	proxy.mutex.Lock()
	proxy.framewise = true
	proxy.mutex.Unlock()
	proxy.setTarget(server.Address())
	c := dialTestClient(t, proxy.address(), func(config *Config) {
		config.Addresses = append(config.Addresses, promoted.Address())
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waitUntilShard(t, "the grant table logged", func() bool { return old.Stats().OpLast >= 1 })
	number := c.NextNumber()
	counting.watched.Store(number)
	proxy.muteNumber(number, true)
	done := make(chan error, 1)
	go func() {
		results, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(77), Ledger: 1,
			Code: 1}})
		if err == nil && results[0].Status != model.StatusOK {
			err = fmt.Errorf("account: %s", results[0].Status)
		}
		done <- err
	}()
	waitUntilShard(t, "the write's reply dropped by the proxy", func() bool {
		proxy.mutex.Lock()
		defer proxy.mutex.Unlock()
		return proxy.mutedDropped > 0
	})
	proxy.muteNumber(number, false)
	old.Fence(old.Epoch()+1, "") // The lease ran out: the new primary is not known yet.
	proxy.dropAll()              // The reply is lost with the connection.
	waitUntilShard(t, "the resend answered not_primary with no address",
		func() bool { return counting.notPrimary.Load() > 0 })
	old.Fence(old.Epoch()+1, promoted.Address()) // The promoted node's fence reaches it.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write whose reply was lost: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("gave up waiting for the write's answer")
	}
}
