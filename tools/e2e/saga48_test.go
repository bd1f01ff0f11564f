package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// saga48Timeout is the --saga-timeout TestSaga48RestartLongerThanTheSagaTimeout gives the
// node (the 10 s default would keep the test 11 s down), and saga48Held how long it keeps
// the node down: past that timeout, counted from step 1.
const (
	saga48Timeout = 2 * time.Second
	saga48Held    = saga48Timeout + time.Second
)

// saga48ShardOps is the part of /v1/status's shards this test reads.
type saga48ShardOps struct {
	Shards []struct {
		DurableOp  uint64 `json:"durable_op"`
		ReleasedOp uint64 `json:"released_op"`
	} `json:"shards"`
}

func saga48Ops(t *testing.T, httpAddress string) (saga48ShardOps, bool) {
	var s saga48ShardOps
	response, err := (&http.Client{Timeout: hangGuard}).Get("http://" + httpAddress + "/v1/status")
	if err != nil {
		return s, false
	}
	defer response.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	return s, response.StatusCode == http.StatusOK && json.Unmarshal(raw, &s) == nil &&
		len(s.Shards) == 2
}

// TestSaga48RestartLongerThanTheSagaTimeout: PROTOCOL.md section 18, saga_timed_out: a
// restart of the node, however long, does not end the cross-shard transfers it
// interrupted. A node of two shards in sync mode; its standby is stopped (SIGSTOP), so a
// cross-shard transfer's step 1 is written and synced on the debit shard but never
// released: no reply, and its Credit never leaves (a sync primary releases only what its
// standby acknowledged). Both processes are then killed and kept down saga48Held (past
// the node's saga timeout, saga48Timeout, counted from step 1); the primary restarts
// alone, without replication, so that it releases on its own durability at once (a sync
// pair whose standby comes back late: TestReviewsg48StandbyBackAfterTheSagaTimeout). The
// request resent under its session and number is answered ok,
// duplicate (step 1 was applied before the restart), with the transfer created; the
// balances hold it once, and no saga runs. Before session 48 the restarted router
// aborted the saga at its first outbox poll (the timeout from step 1 had passed) and the
// resend answered saga_timed_out.
func TestSaga48RestartLongerThanTheSagaTimeout(t *testing.T) { saga48Restart(t, false) }

// saga48Restart is TestSaga48RestartLongerThanTheSagaTimeout; with standbyLate the
// primary restarts at once as the pair's primary instead, and its standby only
// saga48Held after step 1.
func saga48Restart(t *testing.T, standbyLate bool) {
	began := time.Now()
	p := h47StartPair(t, strings.Repeat("4c", 32), "--saga-timeout", saga48Timeout.String())
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4801,
		address: p.primary.process.address}
	w := newH47Workload(t, 52, 4_810_000, c)
	w.createAccounts()
	p.waitInSync()
	// Quiet first: every op of both shards durable, released and the same on two reads an
	// outbox poll apart, so that the router's first watermarks (saga_forget, written once
	// at its first polls) are behind us and the next op of shard 0 is step 1.
	eventually(t, "both shards quiet", func() bool {
		first, ok := saga48Ops(t, p.primary.http)
		time.Sleep(300 * time.Millisecond)
		second, again := saga48Ops(t, p.primary.http)
		return ok && again && first.Shards[0] == second.Shards[0] &&
			first.Shards[1] == second.Shards[1] &&
			second.Shards[0].DurableOp == second.Shards[0].ReleasedOp &&
			second.Shards[1].DurableOp == second.Shards[1].ReleasedOp
	})
	debit, credit := w.accounts[0][0], w.accounts[1][0]
	transfer := h47Event{kind: h47Plain, id: 4_811_001, debit: debit, credit: credit,
		amount: 7, crossShard: true}
	// Every thread of the standby stopped before anything is sent: it acknowledges
	// nothing written from now on. The baseline is read after the stop, stable on two
	// reads an outbox poll apart: an acknowledgement the standby sent before it stopped
	// may reach the primary later, and anything shard 0 wrote meanwhile is in it.
	p.standby.process.pause()
	var before saga48ShardOps
	eventually(t, "shard 0 still with the standby stopped", func() bool {
		first, ok := saga48Ops(t, p.primary.http)
		time.Sleep(300 * time.Millisecond)
		second, again := saga48Ops(t, p.primary.http)
		before = second
		return ok && again && first.Shards[0] == second.Shards[0]
	})
	c.next++
	number := c.next
	request := &h47Request{number: number, events: []h47Event{transfer},
		body: transfer.encode(), shard: -1}
	if _, err := c.conn.Write(docEncode(docKindRequest, docOperationCreateTransfers, 0,
		c.session, number, request.body)); err != nil {
		t.Fatal(err)
	}
	// Step 1 is on the debit shard's disk once its durable op passes the baseline: with
	// the node quiet and the standby stopped, nothing else writes to shard 0 (no pulse
	// is due, and its outbox poll, which would list step 1, is answered only once step 1
	// is released). Had another entry passed it, the resend below would be applied as
	// new and fail the test. The standby acknowledges nothing, so nothing is released.
	eventually(t, "step 1 durable on the debit shard", func() bool {
		s, ok := saga48Ops(t, p.primary.http)
		return ok && s.Shards[0].DurableOp > before.Shards[0].DurableOp
	})
	if held, _ := saga48Ops(t, p.primary.http); held.Shards[0].ReleasedOp != before.Shards[0].ReleasedOp {
		t.Fatalf("with the standby stopped shard 0 released op %d, before %d",
			held.Shards[0].ReleasedOp, before.Shards[0].ReleasedOp)
	}
	stepped := time.Now()
	t.Logf("step 1 durable %v after the start", stepped.Sub(began))
	c.drop()
	p.primary.process.kill()
	p.standby.process.kill() // A stopped process dies of SIGKILL too.
	if standbyLate {
		p.asPrimary(p.primary, p.standby)
		p.primary.process.restart()
		time.Sleep(time.Until(stepped.Add(saga48Held)))
		p.asStandbyOf(p.standby, p.primary)
		p.standby.process.restart()
	} else {
		time.Sleep(time.Until(stepped.Add(saga48Held)))
		// Alone: the same flags but the replication ones (--replication-key among them).
		alone := []string{"serve", "--data", p.primary.process.data, "--addr",
			p.primary.process.address, "--http", p.primary.http}
		for i := 0; i < len(p.common); i += 2 {
			if p.common[i] != "--replication-key" {
				alone = append(alone, p.common[i], p.common[i+1])
			}
		}
		p.primary.process.args = alone
		p.primary.process.restart()
	}
	c.address = p.primary.process.address
	restarted := time.Now()
	t.Logf("restarted %v after step 1", restarted.Sub(stepped))
	var reply docFrame
	c.settle([]*h47Request{request}, func(r *h47Request, got docFrame) {
		reply, r.answered = got, true
	})
	if len(reply.body) != docEventResultBytes {
		t.Fatalf("the resend answered %d result bytes, want one result", len(reply.body))
	}
	if status := eventStatus(reply.body, 0); status != docStatusOK {
		t.Fatalf("the cross-shard transfer interrupted by a restart of %v answered %d, want "+
			"ok (%d: saga_timed_out)", saga48Held, status, h47SagaTimedOut)
	}
	if reply.flags&docReplyFlagDuplicate == 0 {
		t.Fatal("the resend was applied as new: step 1 did not survive the restart")
	}
	t.Logf("answered %v after the restart", time.Since(restarted))
	w.requests = append(w.requests, request)
	w.model.apply(transfer)
	w.check("after the restart")
	settledReport(t, p.primary.http, p.token)
	t.Logf("checked %v after the restart", time.Since(restarted))
}
