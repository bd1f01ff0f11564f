package netio_test

import (
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// resumeAnswer is what one md_subscribe with a from_op got: the updates replayed before
// the answer, the answer's status and body.
type resumeAnswer struct {
	replayed []model.MarketDataUpdate
	status   model.Status
	body     wire.MarketDataSubscribed
}

func (r *rawConn) resume(session uint64, instrument uint32, fromOp uint64) resumeAnswer {
	r.t.Helper()
	r.marketDataSubscribe(session, instrument, wire.ChannelBook, fromOp)
	replayed, frame := r.untilSubscribed()
	answer := resumeAnswer{replayed: replayed, status: model.Status(frame.Status)}
	answer.body.Decode(frame.Body)
	return answer
}

// TestMarketDataResumeGapPerInstrument (conformance, PROTOCOL.md 8a): a resumption of one
// instrument from from_op answers market_data_resume_gap only when an update of that
// instrument with op >= from_op left the bounded history, not when other instruments'
// updates pushed the history (oldest_op) past from_op. The server decided on the whole
// history: a quiet instrument of a busy feed got 230 after a long disconnect, and its
// subscriber rebuilt from a snapshot for nothing. Instrument 0 (every instrument) keeps
// the whole-history rule, and oldest_op keeps its meaning.
func TestMarketDataResumeGapPerInstrument(t *testing.T) {
	const quiet, busy = uint32(5), uint32(6)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8}
	}})
	feed := newMarketFeed(h)
	feed.release(busy, 1)  // Op 1.
	feed.release(quiet, 1) // Op 2.
	for range 7 {
		feed.release(busy, 1) // Ops 3 to 9: op 1 leaves the 8-update history.
	}
	feed.waitPublished(t)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	answer := c.resume(7, quiet, 1)
	if answer.status != model.StatusOK || answer.body.OldestOp != 2 ||
		len(answer.replayed) != 1 || answer.replayed[0].Op != 2 ||
		answer.body.ReplayedThroughOp != 2 {
		t.Fatalf("quiet instrument from op 1, only the busy one's op 1 left: status %d, "+
			"%+v, replayed %+v; want 0, oldest_op 2 and its op-2 update", answer.status,
			answer.body, answer.replayed)
	}
	for range 11 {
		feed.release(busy, 1) // Ops 10 to 20: the quiet op 2 leaves, oldest_op is 13.
	}
	feed.waitPublished(t)
	answer = c.resume(7, quiet, 3)
	if answer.status != model.StatusOK || answer.body.OldestOp != 13 ||
		len(answer.replayed) != 0 || answer.body.ReplayedThroughOp != 0 {
		t.Fatalf("quiet instrument from op 3, none of its updates from op 3 on left: "+
			"status %d, %+v, %d replayed; want 0, oldest_op 13, none replayed",
			answer.status, answer.body, len(answer.replayed))
	}
	if answer := c.resume(7, quiet, 2); answer.status != model.StatusMarketDataResumeGap ||
		answer.body.OldestOp != 13 || len(answer.replayed) != 0 {
		t.Fatalf("quiet instrument from op 2, its op-2 update left: status %d, %+v, %d "+
			"replayed; want market_data_resume_gap, oldest_op 13", answer.status,
			answer.body, len(answer.replayed))
	}
	if answer := c.resume(7, busy, 12); answer.status != model.StatusMarketDataResumeGap {
		t.Fatalf("busy instrument from op 12, its op-12 update left: status %d",
			answer.status)
	}
	if answer := c.resume(7, busy, 13); answer.status != model.StatusOK ||
		len(answer.replayed) != 8 || answer.replayed[0].Op != 13 {
		t.Fatalf("busy instrument from oldest_op 13: status %d, %d replayed; want 0, ops "+
			"13 to 20", answer.status, len(answer.replayed))
	}
	other := dialRaw(t, h.server.Address())
	other.login(clientAll, 1, secretOne, 8)
	if answer := other.resume(8, 0, 3); answer.status != model.StatusMarketDataResumeGap {
		t.Fatalf("every instrument from op 3 below oldest_op 13: status %d, want "+
			"market_data_resume_gap (the whole-history rule)", answer.status)
	}
	// The quiet resumption is live: its next update comes after the answers.
	feed.release(quiet, 1) // Op 21.
	if updates := c.nextUpdates(1); len(updates) != 1 || updates[0].Op != 21 ||
		updates[0].Instrument != quiet || updates[0].Sequence != 2 {
		t.Fatalf("after the resumptions: %+v, want the quiet instrument's op 21, sequence 2",
			updates)
	}
}

// TestMarketDataResumeGapAfterRestart: a server that starts at op 10 (its history empty)
// cannot tell which instrument had updates below it, so a resumption of any instrument
// from below 10 answers market_data_resume_gap, and one from 10 is exact.
func TestMarketDataResumeGapAfterRestart(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8, StartOp: 10}
	}})
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	if answer := c.resume(7, 5, 9); answer.status != model.StatusMarketDataResumeGap ||
		answer.body.OldestOp != 10 {
		t.Fatalf("from op 9 after a start at op 10: status %d, %+v", answer.status,
			answer.body)
	}
	if answer := c.resume(7, 5, 10); answer.status != model.StatusOK {
		t.Fatalf("from op 10 after a start at op 10: status %d", answer.status)
	}
}

// TestReviewResumeSeveralInstrumentsOneConnection (review, PROTOCOL.md 8a step 8 and
// Resuming): two quiet instruments resumed on one connection, each from its own from_op
// below oldest_op, get each its own updates replayed before its own answer, then both go
// live; a client that moves each instrument's from_op on by any update read after that
// instrument's answer resumes both exactly on a second connection.
func TestReviewResumeSeveralInstrumentsOneConnection(t *testing.T) {
	const quietA, quietB, busy = uint32(5), uint32(7), uint32(6)
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.MarketData = netio.MarketDataConfig{HistoryUpdatesMax: 8}
	}})
	feed := newMarketFeed(h)
	feed.release(quietA, 2) // Op 1, two updates (sequences 1 and 2), read before.
	feed.release(busy, 1)   // Op 2.
	feed.release(quietB, 1) // Op 3, read before.
	for range 9 {
		feed.release(busy, 1) // Ops 4 to 12.
	}
	feed.release(quietA, 1) // Op 13 (sequence 3): the history holds ops 6 to 13.
	feed.waitPublished(t)
	c := dialRaw(t, h.server.Address())
	c.login(clientAll, 1, secretOne, 7)
	a := c.resume(7, quietA, 2)
	b := c.resume(7, quietB, 4)
	if a.status != model.StatusOK || len(a.replayed) != 1 || a.replayed[0].Op != 13 ||
		a.replayed[0].Sequence != 3 || a.body.OldestOp != 6 {
		t.Fatalf("instrument A from op 2: status %d, %+v, replayed %+v", a.status, a.body,
			a.replayed)
	}
	if b.status != model.StatusOK || len(b.replayed) != 0 {
		t.Fatalf("instrument B from op 4: status %d, %+v, replayed %+v", b.status, b.body,
			b.replayed)
	}
	if b := c.resume(7, quietB, 3); b.status != model.StatusMarketDataResumeGap {
		t.Fatalf("instrument B from op 3, its op-3 update left: status %d", b.status)
	}
	feed.release(quietB, 1) // Op 14: read after both answers, it moves A's from_op on too.
	if updates := c.nextUpdates(1); updates[0].Instrument != quietB || updates[0].Op != 14 {
		t.Fatalf("live after the answers: %+v", updates)
	}
	for range 8 {
		feed.release(busy, 1) // Ops 15 to 22: B's op-14 update leaves.
	}
	feed.release(quietA, 1) // Op 23 (sequence 4), unread on the first connection.
	feed.waitPublished(t)
	d := dialRaw(t, h.server.Address())
	d.login(clientAll, 1, secretOne, 8)
	if a := d.resume(8, quietA, 14); a.status != model.StatusOK || len(a.replayed) != 1 ||
		a.replayed[0].Op != 23 || a.replayed[0].Sequence != 4 {
		t.Fatalf("instrument A from op 14: status %d, replayed %+v; want its op-23 update",
			a.status, a.replayed)
	}
	if b := d.resume(8, quietB, 15); b.status != model.StatusOK || len(b.replayed) != 0 {
		t.Fatalf("instrument B from op 15: status %d, replayed %+v", b.status, b.replayed)
	}
	if b := d.resume(8, quietB, 14); b.status != model.StatusMarketDataResumeGap {
		t.Fatalf("instrument B from op 14, its op-14 update left: status %d", b.status)
	}
}
