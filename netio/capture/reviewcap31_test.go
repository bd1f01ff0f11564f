package capture

import (
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// Session 31's fresh-eyes review of the capture changes (61f02ef..c214a2e): the
// questions it asked, settled by tests that hold on c214a2e.

// TestRoleFlipsPublishEveryEventOnce: a demoted capture now drops its live queue (marks
// it lost) at the first entry with events it consumes as a standby. In a node the role
// never comes back (Fence is for good, a promotion is from standby only), but the commit
// claims that if it did, the loss sends the publisher to a rebuild and nothing is lost or
// repeated. Here a real shard stays primary while Serving says otherwise, in rounds:
// entries released as the primary, then as a "standby" (dropped from the queue, whether
// the publisher is live or watching), then as the primary again, racing the publisher
// (its live session, its standby polls, its rebuilds). Every account must reach the
// stream exactly once, with no capture_gap and no session ending in an error (a repeated
// message id fails its publish as a duplicate: "resynchronizing").
func TestRoleFlipsPublishEveryEventOnce(t *testing.T) {
	const rounds, perRole = 4, 2
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	s, err := shard.New(shard.Config{Epoch: 1}, core.New(testMachine), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrants(model.AppendGrants(nil,
		[]model.Grant{{Client: 7, Scopes: model.ScopeOperator}})); err != nil {
		t.Fatal(err)
	}
	var serving atomic.Bool
	serving.Store(true)
	c := New(Config{URL: url, Log: log, Machine: testMachine, Released: s.Released,
		Epoch: s.Epoch, Serving: serving.Load})
	// A flickered entry is consumed by the capture as a standby's, the role back to
	// primary as soon as Consume returns: a publisher asleep in its live session never
	// sees the demotion, only the loss Consume marks (or, were it not marked, nothing).
	var flicker atomic.Bool
	s.AddConsumer(roleSwitch(func() {
		if flicker.Load() {
			serving.Store(false)
		}
	}), nil)
	s.AddConsumer(c, c)
	s.AddConsumer(roleSwitch(func() {
		if flicker.CompareAndSwap(true, false) {
			serving.Store(true)
		}
	}), nil)
	c.Start()
	defer c.Close()
	replier := &nullReplier{}
	s.Start(shard.RepliesOnly(replier))
	defer s.Close()

	var number uint64
	create := func(id uint64) { // One entry of two accounts; waits for its reply.
		number++
		body := make([]byte, 2*model.AccountSize)
		(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body)
		(&model.Account{ID: model.U128(id + 1), Ledger: 1, Code: 1}).Encode(
			body[model.AccountSize:])
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts,
			Body: body}); status != model.StatusOK {
			t.Fatal(status)
		}
		waitUntil(t, fmt.Sprintf("the reply to request %d", number),
			func() bool { return replier.replies.Load() >= number },
			func() any { return c.Stats() })
	}
	var want []string
	id := uint64(1)
	published := func(what string) { // Everything released is in the stream.
		last := log.LastOp()
		waitUntil(t, what, func() bool { return c.Stats().Publishing && c.handled() >= last },
			func() any { return c.Stats() })
	}
	for round := range rounds {
		for _, primary := range []bool{true, false} {
			serving.Store(primary)
			for range perRole {
				create(id)
				want = append(want, strconv.FormatUint(id, 10), strconv.FormatUint(id+1, 10))
				id += 2
			}
			if primary {
				published(fmt.Sprintf("round %d published", round))
				flicker.Store(true)
				create(id)
				want = append(want, strconv.FormatUint(id, 10), strconv.FormatUint(id+1, 10))
				id += 2
				published(fmt.Sprintf("round %d's flickered entry published", round))
			} else if round%2 == 0 {
				// Every other round, let the publisher leave its live session and poll
				// the stream as a standby (its lag clock then holds the first span noted:
				// no other writer stores that instant); in the others the role flips back
				// while it may still be live.
				var span int64
				waitUntil(t, "the standby's first span noted", func() bool {
					c.mutex.Lock() // A reply comes before its entry's Consume.
					defer c.mutex.Unlock()
					if len(c.unpublished) > 0 {
						span = c.unpublished[0].at
					}
					return span != 0
				}, func() any { return c.Stats() })
				waitUntil(t, "the demoted publisher polling as a standby",
					func() bool { return c.caughtUpAt.Load() == span },
					func() any { return c.Stats() })
			}
		}
	}
	serving.Store(true)
	create(id)
	want = append(want, strconv.FormatUint(id, 10), strconv.FormatUint(id+1, 10))
	published("the last entry published")
	stats := c.Stats()
	messages := streamMessages(t, url)
	if got := accountsCreated(messages); stats.LastError != "" || stats.Gaps != 0 ||
		stats.Rebuilds < 2*rounds+1 ||
		len(gapMarkers(messages)) != 0 || !slices.Equal(got, want) ||
		len(messages) != len(want) {
		t.Fatalf("stats %+v; stream accounts %v (%d messages); want %v, each once, no "+
			"capture_gap, no failed session", stats, got, len(messages), want)
	}
}

// roleSwitch is a consumer that only runs its function, on the sequencer, around the
// capture's Consume (consumers are fed in the order they were added).
type roleSwitch func()

func (f roleSwitch) Consume(*backend.Ready)               { f() }
func (f roleSwitch) ConsumerStats() backend.ConsumerStats { return backend.ConsumerStats{} }

// TestStandbySpanDoesNotOutlivePromotion: Consume reads the role inside its mutex (57ba5d4
// read the clock before it; b5bdeff moved that read in too), because the session's
// promotion clears the standby's lag spans under the mutex once it saw the role change:
// a span noted from a role read before the mutex could be appended after that clear and
// hold the promoted capture's lag clock at a standby-era release. The promotion is placed exactly at the role read: the
// Serving the sequencer calls promotes the node and, when the mutex is free (the role
// read before it), runs the session's clear at once; when it is held (read inside), the
// clear waits, as the session's would, until Consume returns. No span may survive.
func TestStandbySpanDoesNotOutlivePromotion(t *testing.T) {
	var promoted, armed, clearedEarly atomic.Bool
	armed.Store(true)
	var c *Capture
	clear := func() { // The session's, once it saw Serving true.
		c.unpublished = c.unpublished[:0]
	}
	c = New(Config{Released: func() uint64 { return 1 }, Serving: func() bool {
		was := promoted.Load()
		if armed.CompareAndSwap(true, false) {
			promoted.Store(true)
			if c.mutex.TryLock() { // The role is read outside the mutex.
				clear()
				c.mutex.Unlock()
				clearedEarly.Store(true)
			}
		}
		return was
	}})
	c.Consume(accountsReady(1, 1, time.Now().UnixNano(), 1))
	if !clearedEarly.Load() {
		c.mutex.Lock()
		clear()
		c.mutex.Unlock()
	}
	c.mutex.Lock()
	spans := len(c.unpublished)
	c.mutex.Unlock()
	if spans != 0 {
		t.Fatalf("%d standby lag spans survive the promotion (its clear ran before the "+
			"span was appended: %v)", spans, clearedEarly.Load())
	}
}
