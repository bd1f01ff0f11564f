package netio_test

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// twoReportShards is a backend of two report streams, as a node of two shards is: shard
// 0 is the harness's fake (which serves the requests too), shard 1 another fake whose
// reports are tagged with their shard on the way to the server (as the node's outputs
// tag them). The default shard (a subscription naming none) is shard 1, so that a test
// tells "the default shard" from "shard 0".
type twoReportShards struct {
	*fakeshard.Backend
	other *fakeshard.Backend
}

var _ backend.ShardReportReplayer = (*twoReportShards)(nil)

func (b *twoReportShards) ReportShards() (count uint16, defaultShard uint16) { return 2, 1 }

func (b *twoReportShards) ReplayShardReports(shard uint16, client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	if shard == 0 {
		return b.Backend.ReplayReports(client, from, fn)
	}
	return b.other.ReplayReports(client, from, fn) // Untagged, as the node's.
}

// shardTagging passes a fake's reports to the server tagged with shard.
type shardTagging struct {
	backend.Replier
	shard uint16
}

func (r shardTagging) DeliverReports(reports []backend.Report) {
	for i := range reports {
		reports[i].Shard = r.shard
	}
	r.Replier.DeliverReports(reports)
}

func newTwoReportShards(t *testing.T) (*harness, *twoReportShards) {
	t.Helper()
	var sharded *twoReportShards
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		sharded = &twoReportShards{Backend: fake, other: fakeshard.New(fakeshard.Config{})}
		return sharded
	}})
	sharded.other.Start(shardTagging{Replier: h.server, shard: 1})
	t.Cleanup(sharded.other.Close)
	return h, sharded
}

// subscribeFrame is a subscribe frame from `from`, naming shardField (0: the default
// instrument shard; s+1: shard s).
func subscribeFrame(session, from, shardField uint64) []byte {
	body := make([]byte, wire.SubscribeSize)
	(&wire.Subscribe{FromSequence: from, Shard: shardField}).Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: session}, body)
}

// expectReport reads the next frame and checks it is a report with header number
// `number` (the subscription's label: its subscribe frame's shard field), sequence and
// body byte first.
func (r *rawConn) expectReport(number, sequence uint64, first byte) {
	r.t.Helper()
	frame := r.next()
	if frame.Kind != wire.KindReport || frame.Number != number || frame.Aux != sequence ||
		len(frame.Body) != 1 || frame.Body[0] != first {
		r.t.Fatalf("got %s number %d aux %d body %v, want report number %d sequence %d "+
			"body [%d]", frame.Kind, frame.Number, frame.Aux, frame.Body, number, sequence,
			first)
	}
}

// expectSubscribed reads the next frame and checks it is an accepted subscription with
// header number `number` (the label), next_sequence next and the body given.
func (r *rawConn) expectSubscribed(number, next uint64, body wire.Subscribed) {
	r.t.Helper()
	frame := r.next()
	var got wire.Subscribed
	if frame.Kind == wire.KindSubscribed && len(frame.Body) == wire.SubscribedSize {
		got.Decode(frame.Body)
	}
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Number != number ||
		frame.Aux != next || got != body {
		r.t.Fatalf("got %s status %d number %d aux %d body %+v, want subscribed number %d "+
			"next %d body %+v", frame.Kind, frame.Status, frame.Number, frame.Aux, got, number,
			next, body)
	}
}

// TestReportsOfEveryShard: on a backend of two report streams (each shard numbers the
// client's reports from 1), a connection subscribes to each shard's reports with a
// subscribe frame of its own: shard 0 named (field 1), and the default shard (field 0:
// shard 1 here). Each replays its own shard's reports, and the live reports after
// follow their shard's stream, each frame carrying its subscription's label (the field
// sent) in the header number, the
// sequences of both shards overlapping without displacing each other. Without streams
// per shard the second subscription was unexpected_frame, and the reports of the shard
// subscribed first hid the other's (a sequence at or below the last sent is skipped).
func TestReportsOfEveryShard(t *testing.T) {
	h, shards := newTwoReportShards(t)
	shards.Report(clientAll, []byte{0xA1})       // Shard 0, sequence 1.
	shards.other.Report(clientAll, []byte{0xB1}) // Shard 1, sequence 1.
	shards.other.Report(clientAll, []byte{0xB2}) // Shard 1, sequence 2.

	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(subscribeFrame(1, 1, 1)) // Shard 0, from 1: label 1.
	r.expectReport(1, 1, 0xA1)
	r.expectSubscribed(1, 2, wire.Subscribed{OldestSequence: 1, ReplayedThrough: 1})
	r.write(subscribeFrame(1, 1, 0)) // The default shard (1), from 1: label 0.
	r.expectReport(0, 1, 0xB1)
	r.expectReport(0, 2, 0xB2)
	r.expectSubscribed(0, 3, wire.Subscribed{OldestSequence: 1, ReplayedThrough: 2})

	shards.other.Report(clientAll, []byte{0xB3})
	r.expectReport(0, 3, 0xB3)
	shards.Report(clientAll, []byte{0xA2})
	r.expectReport(1, 2, 0xA2)
	shards.other.Report(clientAll, []byte{0xB4})
	r.expectReport(0, 4, 0xB4)

	// A second subscription of a shard is refused as before, however it names the shard.
	r.write(subscribeFrame(1, 0, 2)) // Shard 1, the default one subscribed with field 0.
	r.expectError(wire.ErrorUnexpectedFrame)
}

// TestReportSubscriptionOfUnknownShardRefused: a subscribe frame naming a shard the
// backend does not have (a field from its shard count + 1 to shardmap.ShardsMax) is
// answered subscribed with status invalid_body, the field sent in number, and nothing
// subscribed: the connection stays, and a subscription of a shard it has is then
// accepted. A backend of one stream (no ShardReportReplayer) has shard 0 only: field 1
// names it, field 2 is refused. A field above shardmap.ShardsMax names no shard: it
// gets the default shard's reports, as any value of the once reserved field did. Without
// the check every field got the default shard's reports.
func TestReportSubscriptionOfUnknownShardRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		shards uint64
		setup  func(t *testing.T) *harness
	}{
		{"two shards", 2, func(t *testing.T) *harness { h, _ := newTwoReportShards(t); return h }},
		{"one stream", 1, func(t *testing.T) *harness { return newHarness(t, harnessOptions{}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.setup(t)
			h.backend.Report(clientAll, []byte{0xA1})
			r := dialRaw(t, h.server.Address())
			r.login(clientAll, 1, secretOne, 1)
			for _, field := range []uint64{c.shards + 1, shardmap.ShardsMax} {
				r.write(subscribeFrame(1, 1, field))
				frame := r.next()
				if frame.Kind != wire.KindSubscribed ||
					model.Status(frame.Status) != model.StatusInvalidBody ||
					frame.Number != field || frame.Aux != 0 {
					t.Fatalf("field %d: got %s status %d number %d aux %d, want subscribed "+
						"invalid_body number %d", field, frame.Kind, frame.Status, frame.Number,
						frame.Aux, field)
				}
			}
			r.write(subscribeFrame(1, 1, 1)) // Shard 0: accepted.
			r.expectReport(1, 1, 0xA1)
			r.expectSubscribed(1, 2, wire.Subscribed{OldestSequence: 1, ReplayedThrough: 1})
			if c.shards == 2 {
				r.write(subscribeFrame(1, 1, shardmap.ShardsMax+1)) // The default shard, 1.
				r.expectSubscribed(0, 1, wire.Subscribed{OldestSequence: 1})
			}
		})
	}
}

// TestClientResumesEachShardsReports: the Go client subscribes to each shard's reports
// (SubscribeShard), the handler told the shard of each. After a cut connection it
// resumes each shard's subscription after that shard's last report handled: the reports
// both shards made meanwhile are replayed exactly once, in each shard's order, and live
// ones follow. With one filter for both shards (or one resumption) shard 1's sequences,
// below shard 0's, would be dropped as handled or asked from the wrong sequence.
func TestClientResumesEachShardsReports(t *testing.T) {
	h, shards := newTwoReportShards(t)
	p := newProxy(t, h.server.Address())
	c, err := client.Dial(background(t), client.Config{Addresses: []string{p.address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	type got struct {
		shard    uint16
		sequence uint64
		first    byte
	}
	reports := make(chan got, 64)
	handler := func(r client.Report) { reports <- got{r.Shard, r.Sequence, r.Body[0]} }
	expect := func(want ...got) {
		t.Helper()
		// Each shard's reports in order; the two shards' interleave in no set order.
		next := map[uint16][]got{}
		for _, w := range want {
			next[w.shard] = append(next[w.shard], w)
		}
		for range want {
			select {
			case r := <-reports:
				if len(next[r.shard]) == 0 || next[r.shard][0] != r {
					t.Fatalf("report %+v, want the next of %+v", r, next)
				}
				next[r.shard] = next[r.shard][1:]
			case <-time.After(waitLimit):
				t.Fatalf("reports still expected: %+v", next)
			}
		}
	}
	for _, shard := range []uint16{0, 1} {
		answer, err := c.SubscribeShard(background(t), shard, 0, handler)
		if err != nil || answer.Shard != shard || answer.NextSequence != 1 {
			t.Fatalf("shard %d: %+v, %v", shard, answer, err)
		}
	}
	if _, err := c.SubscribeShard(background(t), 1, 0, handler); err != client.ErrSubscribed {
		t.Fatalf("a second subscription of shard 1: %v", err)
	}
	if _, err := c.Subscribe(background(t), 0, handler); err != client.ErrSubscribed {
		t.Fatalf("Subscribe beside SubscribeShard: %v", err)
	}
	shards.Report(clientAll, []byte{0xA1})
	shards.Report(clientAll, []byte{0xA2})
	shards.other.Report(clientAll, []byte{0xB1})
	expect(got{0, 1, 0xA1}, got{0, 2, 0xA2}, got{1, 1, 0xB1})

	logins := h.server.Stats().LoginsAccepted
	p.refusing.Store(true)
	p.cut()
	shards.Report(clientAll, []byte{0xA3})
	shards.other.Report(clientAll, []byte{0xB2})
	shards.other.Report(clientAll, []byte{0xB3})
	p.refusing.Store(false)
	waitFor(t, "the reconnect", func() bool { return h.server.Stats().LoginsAccepted > logins })
	expect(got{0, 3, 0xA3}, got{1, 2, 0xB2}, got{1, 3, 0xB3})
	shards.other.Report(clientAll, []byte{0xB4})
	shards.Report(clientAll, []byte{0xA4})
	expect(got{1, 4, 0xB4}, got{0, 4, 0xA4})
	select {
	case r := <-reports:
		t.Fatalf("a report more: %+v", r)
	case <-time.After(100 * time.Millisecond): // Nothing else was made: a duplicate shows.
	}
}

// TestClientSubscribeShardOfUnknownShardRefused: SubscribeShard of a shard the server
// does not have returns its refusal (invalid_body) and leaves no subscription: the
// shard it has can be subscribed after.
func TestClientSubscribeShardOfUnknownShardRefused(t *testing.T) {
	h, _ := newTwoReportShards(t)
	c := h.dial(nil)
	var refusal *client.StatusError
	if _, err := c.SubscribeShard(background(t), 2, 0, func(client.Report) {}); !errors.As(err,
		&refusal) || refusal.Status != model.StatusInvalidBody {
		t.Fatalf("shard 2: %v", err)
	}
	if answer, err := c.SubscribeShard(background(t), 1, 0, func(client.Report) {}); err != nil ||
		answer.Shard != 1 {
		t.Fatalf("shard 1 after the refusal: %+v, %v", answer, err)
	}
}

// TestClientTellsTheShardOfAReuse: a failover that lost shard 1's reports 2..3, which
// the client had handled, is found by shard 1's resumption (the server's next_sequence
// for shard 1 is 2): Config.ShardReportsReused is told (1, 2, 3), not ReportsReused, and
// the new report 2 of shard 1, made after, is handed over as new; shard 0's stream, whose reports 1..3
// are as they were, loses and reuses nothing. Without a gap per subscription the reuse
// would be told without its shard (ReportsReused) or, with one filter for both shards,
// not found at all.
func TestClientTellsTheShardOfAReuse(t *testing.T) {
	h, shards := newTwoReportShards(t)
	p := newProxy(t, h.server.Address())
	type gap struct {
		shard       uint16
		first, last uint64
	}
	gaps := make(chan gap, 4)
	c, err := client.Dial(background(t), client.Config{Addresses: []string{p.address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger(),
		ReportsReused: func(first, last uint64) { gaps <- gap{99, first, last} },
		ShardReportsReused: func(shard uint16, first, last uint64) {
			gaps <- gap{shard, first, last}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	type got struct {
		shard    uint16
		sequence uint64
		first    byte
	}
	reports := make(chan got, 64)
	for _, shard := range []uint16{0, 1} {
		if _, err := c.SubscribeShard(background(t), shard, 0, func(r client.Report) {
			reports <- got{r.Shard, r.Sequence, r.Body[0]}
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range byte(3) {
		shards.Report(clientAll, []byte{0xA1 + i})
		shards.other.Report(clientAll, []byte{0xB1 + i})
	}
	receive := func() got {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(waitLimit):
			t.Fatal("a report never arrived")
			return got{}
		}
	}
	for range 6 {
		receive()
	}
	logins := h.server.Stats().LoginsAccepted
	p.refusing.Store(true)
	p.cut()
	shards.other.LoseReportsAfter(clientAll, 1)
	p.refusing.Store(false)
	waitFor(t, "the reconnect", func() bool { return h.server.Stats().LoginsAccepted > logins })
	select {
	case g := <-gaps:
		if g != (gap{1, 2, 3}) {
			t.Fatalf("gap told: %+v, want shard 1's reuse of 2..3", g)
		}
	case <-time.After(waitLimit):
		t.Fatal("the reuse was never told")
	}
	shards.other.Report(clientAll, []byte{0xC2}) // Shard 1's new report 2.
	if r := receive(); r != (got{1, 2, 0xC2}) {
		t.Fatalf("after the reuse: %+v, want shard 1's new report 2", r)
	}
	shards.Report(clientAll, []byte{0xA4})
	if r := receive(); r != (got{0, 4, 0xA4}) {
		t.Fatalf("shard 0 after the reconnect: %+v, want its report 4", r)
	}
	select {
	case g := <-gaps:
		t.Fatalf("a gap more: %+v", g)
	case r := <-reports:
		t.Fatalf("a report more: %+v", r)
	case <-time.After(100 * time.Millisecond): // Nothing else was made: one more shows.
	}
}

// heldShardReplays is twoReportShards whose replays (not the next_sequence read of a live
// subscription) wait, after the store was read, until hold is closed.
type heldShardReplays struct {
	*twoReportShards
	hold chan struct{}
}

func (b *heldShardReplays) ReplayShardReports(shard uint16, client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	oldest, next = b.twoReportShards.ReplayShardReports(shard, client, from, fn)
	if from != math.MaxUint64 {
		<-b.hold
	}
	return oldest, next
}

// TestReportReplaysOfTwoShardsAtOnce: a connection's replays of two shards run at the
// same time while both shards make live reports; each stream holds its own live reports
// until its replay is done and then sends them after its subscribed answer, in order,
// none twice and none of the other shard's. Each shard's frames are checked in their
// own order; the two shards' interleave in no set order.
func TestReportReplaysOfTwoShardsAtOnce(t *testing.T) {
	var held *heldShardReplays
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		held = &heldShardReplays{twoReportShards: &twoReportShards{Backend: fake,
			other: fakeshard.New(fakeshard.Config{})}, hold: make(chan struct{})}
		return held
	}})
	held.other.Start(shardTagging{Replier: h.server, shard: 1})
	t.Cleanup(held.other.Close)
	release := sync.OnceFunc(func() { close(held.hold) })
	t.Cleanup(release) // Before the harness's shutdown, which waits for replays.
	held.Report(clientAll, []byte{0xA1})
	held.other.Report(clientAll, []byte{0xB1})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(subscribeFrame(1, 1, 1)) // Shard 0 from 1.
	r.write(subscribeFrame(1, 1, 2)) // Shard 1 from 1.
	type frameSeen struct {
		kind     wire.Kind
		sequence uint64 // Report: its sequence; subscribed: next_sequence.
		first    byte
	}
	want := map[uint64][]frameSeen{
		0: {{wire.KindReport, 1, 0xA1}},
		1: {{wire.KindReport, 1, 0xB1}},
	}
	expect := func() {
		t.Helper()
		count := len(want[0]) + len(want[1])
		for range count {
			frame := r.next()
			seen := frameSeen{kind: frame.Kind, sequence: frame.Aux}
			if frame.Kind == wire.KindReport && len(frame.Body) == 1 {
				seen.first = frame.Body[0]
			}
			shard := frame.Number - 1 // Labels 1 and 2: shards 0 and 1.
			next := want[shard]
			if frame.Number < 1 || frame.Number > 2 || len(next) == 0 || next[0] != seen ||
				(frame.Kind == wire.KindSubscribed && frame.Status != 0) {
				t.Fatalf("number %d: %+v (status %d), want the next of %+v", frame.Number,
					seen, frame.Status, want)
			}
			want[shard] = next[1:]
		}
	}
	expect() // The replays sent report 1 of each shard and wait.
	held.Report(clientAll, []byte{0xA2})
	held.other.Report(clientAll, []byte{0xB2})
	held.other.Report(clientAll, []byte{0xB3})
	want[0] = []frameSeen{{wire.KindSubscribed, 2, 0}, {wire.KindReport, 2, 0xA2}}
	want[1] = []frameSeen{{wire.KindSubscribed, 2, 0}, {wire.KindReport, 2, 0xB2},
		{wire.KindReport, 3, 0xB3}}
	release()
	expect()
	held.other.Report(clientAll, []byte{0xB4})
	held.Report(clientAll, []byte{0xA3})
	want[0] = []frameSeen{{wire.KindReport, 3, 0xA3}}
	want[1] = []frameSeen{{wire.KindReport, 4, 0xB4}}
	expect()
}
