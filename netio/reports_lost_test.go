package netio_test

import (
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/netio/client"
	"sequent/netio/fakeshard"
)

// forgetfulReplays is a fake shard that, once forget is set, answers every replay as a
// server restarted from a snapshot does: it holds nothing before oldest (PROTOCOL.md
// section 8) and replays nothing older.
type forgetfulReplays struct {
	*fakeshard.Backend
	oldest atomic.Uint64 // 0: behave as the fake shard does.
}

func (b *forgetfulReplays) ReplayReports(client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	if oldest := b.oldest.Load(); oldest != 0 {
		return oldest, oldest // Holding none: the oldest is the client's next.
	}
	return b.Backend.ReplayReports(client, from, fn)
}

// TestResumedSubscriptionReportsLostReports: a client that saw report 1, reconnects and
// resumes its subscription from 2, and hears from the server that it now holds reports
// from 4 on only, tells its application (Config.ReportsLost) that 2 and 3 are lost —
// instead of carrying on as if nothing were missing.
func TestResumedSubscriptionReportsLostReports(t *testing.T) {
	var forgetful *forgetfulReplays
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		forgetful = &forgetfulReplays{Backend: fake}
		return forgetful
	}})
	lost := make(chan [2]uint64, 4)
	p, _ := subscribeThroughProxy(t, h, func(config *client.Config) {
		config.ReportsLost = func(first, last uint64) { lost <- [2]uint64{first, last} }
	}) // Report 1 taken.
	select {
	case gap := <-lost:
		t.Fatalf("reports %v reported lost before any reconnect", gap)
	default:
	}
	forgetful.oldest.Store(4)
	logins := h.server.Stats().LoginsAccepted
	p.cut() // The client reconnects and resumes from 2.
	waitFor(t, "the reconnect", func() bool { return h.server.Stats().LoginsAccepted > logins })
	select {
	case gap := <-lost:
		if gap != [2]uint64{2, 3} {
			t.Fatalf("lost reports %v, want [2 3]", gap)
		}
	case <-time.After(waitLimit):
		t.Fatal("the resumed subscription's gap (reports 2 and 3) was never reported")
	}
}
