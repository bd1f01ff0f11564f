package netio_test

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// TestReviewOldSubscriptionHeaderNumberZero: a client written from the PROTOCOL.md
// before streams per shard subscribes as it was told (shard field 0, "send 0"). Its
// header table gave `subscribed` and `report` frames a `number` of 0 ("else 0"), and
// section 3 has every header field a kind does not use be 0, which a strict client
// checks of the server's frames as the server checks the client's. Such a client on a
// node of several shards whose default instrument shard is not shard 0 (shard 1 here)
// got number 0 from the server before this session; it must still, or it trips on a
// frame it was promised would not carry anything there. The header number is the
// subscription's label, the field as sent (PROTOCOL.md section 4). Failed before the
// label: number was the default shard (1) in the subscribed answer and in every report.
func TestReviewOldSubscriptionHeaderNumberZero(t *testing.T) {
	h, shards := newTwoReportShards(t) // Default shard 1.
	shards.other.Report(clientAll, []byte{0xB1})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(subscribeFrame(1, 1, 0)) // As an old client: from 1, field 0.
	r.expectReport(0, 1, 0xB1)
	r.expectSubscribed(0, 2, wire.Subscribed{OldestSequence: 1, ReplayedThrough: 1})
	shards.other.Report(clientAll, []byte{0xB2})
	r.expectReport(0, 2, 0xB2)
}

// TestReviewTwoShardsReplaysUnderConcurrentLiveReports: both shards make reports from
// their own goroutines (as a node's shards deliver theirs, each on its own goroutine)
// while one connection subscribes to each shard with a replay from 1 and another
// connection subscribes to shard 1 live; each shard's reports reach the replaying
// connection exactly once each, 1..reportsPerShard in order, whatever was replayed and
// whatever was held live. Run with -race: the loop publishes streams while both shards'
// DeliverReports and both replays touch them.
func TestReviewTwoShardsReplaysUnderConcurrentLiveReports(t *testing.T) {
	const reportsPerShard = 400
	h, shards := newTwoReportShards(t)
	for range 20 { // Some to replay before the subscription.
		shards.Report(clientAll, []byte{0xA0})
		shards.other.Report(clientAll, []byte{0xB0})
	}
	live := dialRaw(t, h.server.Address())
	live.login(clientAll, 1, secretOne, 2)
	live.write(subscribeFrame(2, 0, 2))
	if frame := live.next(); frame.Kind != wire.KindSubscribed || frame.Number != 2 ||
		frame.Aux != 21 {
		t.Fatalf("live subscription: %s number %d aux %d", frame.Kind, frame.Number,
			frame.Aux)
	}
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	var producers sync.WaitGroup
	for _, produce := range []func(){
		func() { shards.Report(clientAll, []byte{0xA0}) },
		func() { shards.other.Report(clientAll, []byte{0xB0}) },
	} {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for range reportsPerShard - 20 {
				produce()
			}
		}()
	}
	r.write(subscribeFrame(1, 1, 1)) // Shard 0 from 1.
	r.write(subscribeFrame(1, 1, 2)) // Shard 1 from 1.
	last := map[uint64]uint64{}
	subscribed := map[uint64]bool{}
	for last[0] < reportsPerShard || last[1] < reportsPerShard || !subscribed[0] ||
		!subscribed[1] {
		frame := r.next()
		frame.Number-- // Labels 1 and 2 name shards 0 and 1.
		switch {
		case frame.Kind == wire.KindSubscribed && frame.Status == 0 && frame.Number <= 1 &&
			!subscribed[frame.Number]:
			subscribed[frame.Number] = true
		case frame.Kind == wire.KindReport && frame.Number <= 1 &&
			frame.Aux == last[frame.Number]+1:
			last[frame.Number] = frame.Aux
		default:
			t.Fatalf("%s status %d number %d aux %d after %v (subscribed %v)", frame.Kind,
				frame.Status, frame.Number, frame.Aux, last, subscribed)
		}
	}
	producers.Wait()
	// The live connection got shard 1's from 21 on, none of shard 0's.
	for sequence := uint64(21); sequence <= reportsPerShard; sequence++ {
		live.expectReport(2, sequence, 0xB0)
	}
}

// olderServerProxy stands between a client and this server as a server from before
// streams per shard would: it does not read the subscribe frame's shard field (the old
// text: "reserved (send 0; the server does not check it)"), so it passes every
// subscription on as field 0, and its subscribed and report frames carry number 0 ("else
// 0"). It also answers get_shard_map with the node's map (two shards, default
// instrument shard 1), which the fake backend does not serve. Every other frame goes
// through as it is.
type olderServerProxy struct {
	listener   net.Listener
	target     string
	subscribes atomic.Int64 // Subscribe frames passed on, of every connection.
	// newer, when set, passes subscribe, subscribed and report frames on unchanged (a
	// server with streams per shard), for a test that switches servers.
	newer atomic.Bool
	// refuseBusy, while above 0, has the proxy answer that many subscribe frames itself
	// with subscribed busy (number 0, as a server before streams per shard refuses)
	// instead of passing them on: nothing is subscribed at the server.
	refuseBusy atomic.Int64
	mu         sync.Mutex
	conns      []net.Conn
}

func newOlderServerProxy(t *testing.T, target string) *olderServerProxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &olderServerProxy{listener: listener, target: target}
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.mu.Lock()
		for _, conn := range p.conns {
			conn.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// cut closes every connection through the proxy.
func (p *olderServerProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range p.conns {
		conn.Close()
	}
	p.conns = nil
}

func (p *olderServerProxy) accept() {
	for {
		downstream, err := p.listener.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			downstream.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, downstream, upstream)
		p.mu.Unlock()
		go rewriteFrames(upstream, downstream, func(frame *wire.Frame) bool {
			if frame.Kind == wire.KindSubscribe && len(frame.Body) == wire.SubscribeSize {
				p.subscribes.Add(1)
				if !p.newer.Load() {
					clear(frame.Body[8:16])
				}
				if p.refuseBusy.Load() > 0 {
					p.refuseBusy.Add(-1)
					var body [wire.SubscribedSize]byte
					downstream.Write(wire.AppendFrame(nil, &wire.Frame{
						Kind: wire.KindSubscribed, Status: uint32(model.StatusBusy),
						Session: frame.Session}, body[:]))
					return false // Not passed on: nothing subscribed.
				}
			}
			return true
		})
		go rewriteFrames(downstream, upstream, func(frame *wire.Frame) bool {
			if (frame.Kind == wire.KindSubscribed || frame.Kind == wire.KindReport) &&
				!p.newer.Load() {
				frame.Number = 0
			}
			if frame.Kind == wire.KindReply && frame.Operation == model.OperationGetShardMap {
				placement := shardmap.Hashed(2)
				placement.InstrumentDefault = 1
				frame.Status, frame.Body = uint32(model.StatusOK), placement.Encode()
			}
			return true
		})
	}
}

// rewriteFrames copies frames from `from` to `to`, each changed by change first, and
// passed on only if change returns true.
func rewriteFrames(to, from net.Conn, change func(*wire.Frame) bool) {
	defer to.Close()
	defer from.Close()
	var decoder wire.Decoder
	for {
		frame, ok, err := decoder.Next()
		if err != nil {
			return
		}
		if !ok {
			if _, err := decoder.ReadFrom(from); err != nil {
				return
			}
			continue
		}
		body := bytes.Clone(frame.Body)
		frame.Body = body
		if !change(&frame) {
			continue
		}
		if _, err := to.Write(wire.AppendFrame(nil, &frame, frame.Body)); err != nil {
			return
		}
	}
}

// dialThroughOlderServer is a client of a node of two shards (default instrument shard
// 1, shards.other) reached through olderServerProxy.
func dialThroughOlderServer(t *testing.T) (*client.Client, *olderServerProxy, *twoReportShards) {
	h, shards := newTwoReportShards(t)
	p := newOlderServerProxy(t, h.server.Address())
	c, err := client.Dial(background(t), client.Config{
		Addresses: []string{p.listener.Addr().String()}, Client: clientAll, Key: 1,
		Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p, shards
}

// expectOneSubscribe checks, after a round trip on the client's connection (which the
// proxy passes on in order, so a subscribe written before the request was counted by
// the time the reply is read), that exactly one subscribe frame went to the server: a
// second one on a connection is unexpected_frame at a server before streams per shard.
func expectOneSubscribe(t *testing.T, c *client.Client, p *olderServerProxy) {
	t.Helper()
	if _, err := c.Do(background(t), model.OperationGetShardMap, 0, nil); err != nil {
		t.Fatalf("round trip after the subscription: %v", err)
	}
	if count := p.subscribes.Load(); count != 1 {
		t.Fatalf("%d subscribe frames sent, want 1", count)
	}
}

// nextReport is the next report handed to the handler, within waitLimit.
func nextReport(t *testing.T, reports chan client.Report) client.Report {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(waitLimit):
		t.Fatal("no report")
		return client.Report{}
	}
}

// TestReviewSubscribeShardAgainstAnOlderServer: the Go client against a node of two
// shards (default instrument shard 1) running a server from before streams per shard,
// which reads the subscribe field as reserved: it subscribes the default shard and
// answers number 0 (PROTOCOL.md section 4: how a client tells such a server). Before the
// fix the client took that answer for shard 0's: the handler got shard 1's report 1 as
// Report{Shard: 0, Sequence: 1}, and SubscribeEveryShard's second subscribe closed the
// connection (unexpected_frame) on every reconnect.
//
// SubscribeShard(0) now fails with ErrShardReportsUnsupported, and a later
// SubscribeShard(1) on that connection fails likewise without sending a subscribe;
// SubscribeShard(1), the default shard, is accepted as shard 1's, its reports told as
// shard 1's; SubscribeEveryShard subscribes shard 1 first, keeps it and returns shard 0
// as unsupported, one subscribe frame sent in each case.
func TestReviewSubscribeShardAgainstAnOlderServer(t *testing.T) {
	t.Run("another shard", func(t *testing.T) {
		c, p, shards := dialThroughOlderServer(t)
		reports := make(chan client.Report, 4)
		handler := func(r client.Report) { reports <- r }
		answer, err := c.SubscribeShard(background(t), 0, 0, handler)
		if !errors.Is(err, client.ErrShardReportsUnsupported) {
			t.Fatalf("SubscribeShard(0): %+v, %v, want ErrShardReportsUnsupported", answer, err)
		}
		shards.other.Report(clientAll, []byte{0xB1}) // Arrives labelled 0: ignored.
		if _, err := c.SubscribeShard(background(t), 1, 0, handler); !errors.Is(err,
			client.ErrShardReportsUnsupported) {
			t.Fatalf("SubscribeShard(1) after: %v, want ErrShardReportsUnsupported", err)
		}
		expectOneSubscribe(t, c, p)
		select {
		case r := <-reports:
			t.Fatalf("handler got %+v from a subscription that failed", r)
		default: // Any report handed over came before the round trip's reply.
		}
	})
	t.Run("the default shard", func(t *testing.T) {
		c, p, shards := dialThroughOlderServer(t)
		reports := make(chan client.Report, 4)
		answer, err := c.SubscribeShard(background(t), 1, 0, func(r client.Report) {
			reports <- r
		})
		if err != nil || answer.Shard != 1 {
			t.Fatalf("SubscribeShard(1): %+v, %v, want shard 1's", answer, err)
		}
		shards.other.Report(clientAll, []byte{0xB1})
		if r := nextReport(t, reports); r.Shard != 1 || r.Sequence != 1 ||
			!bytes.Equal(r.Body, []byte{0xB1}) {
			t.Fatalf("handler got %+v, want shard 1's report 1 (0xB1)", r)
		}
		expectOneSubscribe(t, c, p)
	})
	t.Run("every shard", func(t *testing.T) {
		c, p, shards := dialThroughOlderServer(t)
		reports := make(chan client.Report, 4)
		answers, err := c.SubscribeEveryShard(background(t), nil, func(r client.Report) {
			reports <- r
		})
		if !errors.Is(err, client.ErrShardReportsUnsupported) || len(answers) != 2 ||
			answers[1].Shard != 1 {
			t.Fatalf("SubscribeEveryShard: %+v, %v, want shard 1's answer and shard 0 "+
				"unsupported", answers, err)
		}
		shards.other.Report(clientAll, []byte{0xB1})
		if r := nextReport(t, reports); r.Shard != 1 || r.Sequence != 1 ||
			!bytes.Equal(r.Body, []byte{0xB1}) {
			t.Fatalf("handler got %+v, want shard 1's report 1 (0xB1)", r)
		}
		expectOneSubscribe(t, c, p)
	})
}

// TestSubscriptionsResumedOnAnOlderServer: a client subscribed to both shards of a
// server with streams per shard (labels 1 and 2) loses its connection and reaches a
// server from before them (a failover to an older node). The resumption sends the
// default instrument shard's subscribe (shard 1) alone first; its answer, number 0,
// tells the older server, and shard 0's resumption is not sent on that connection (a
// second subscribe would be unexpected_frame there, closing it, again on every
// reconnect). Shard 1's reports go on, told as shard 1's. Fails when install sends every
// resumption at once: two subscribe frames after the switch.
func TestSubscriptionsResumedOnAnOlderServer(t *testing.T) {
	c, p, shards := dialThroughOlderServer(t)
	p.newer.Store(true)
	reports := make(chan client.Report, 8)
	handler := func(r client.Report) { reports <- r }
	for _, shard := range []uint16{0, 1} {
		if answer, err := c.SubscribeShard(background(t), shard, 0, handler); err != nil ||
			answer.Shard != shard {
			t.Fatalf("SubscribeShard(%d) on the newer server: %+v, %v", shard, answer, err)
		}
	}
	shards.other.Report(clientAll, []byte{0xB1})
	if r := nextReport(t, reports); r.Shard != 1 || r.Sequence != 1 {
		t.Fatalf("handler got %+v, want shard 1's report 1", r)
	}
	p.newer.Store(false)
	p.subscribes.Store(0)
	p.cut()
	shards.other.Report(clientAll, []byte{0xB2}) // Replayed or live on the new connection.
	if r := nextReport(t, reports); r.Shard != 1 || r.Sequence != 2 ||
		!bytes.Equal(r.Body, []byte{0xB2}) {
		t.Fatalf("handler got %+v, want shard 1's report 2 (0xB2)", r)
	}
	expectOneSubscribe(t, c, p)
}

// TestReviewSubscribeReportShardStableWhenTheMapIsReadLater: a plain Subscribe on a node
// of two shards (default instrument shard 1, a server with streams per shard) made
// before anything read the shard map; the application then reads the map (ShardMap, as
// routing does). Report.Shard must not change midway through one stream: Report's doc
// has sequences per (client, shard), so a handler keeping its progress per Report.Shard
// would see report 2 of a shard it never had report 1 of. On main the first report said
// shard 0 and the second, after ShardMap, shard 1 (reportShardLocked read the map at each
// report).
func TestReviewSubscribeReportShardStableWhenTheMapIsReadLater(t *testing.T) {
	c, p, shards := dialThroughOlderServer(t)
	p.newer.Store(true)
	reports := make(chan client.Report, 4)
	answer, err := c.Subscribe(background(t), 0, func(r client.Report) { reports <- r })
	if err != nil {
		t.Fatal(err)
	}
	shards.other.Report(clientAll, []byte{0xB1})
	first := nextReport(t, reports)
	if first.Shard != answer.Shard || first.Sequence != 1 {
		t.Fatalf("handler got %+v, want report 1 of the answer's shard %d", first,
			answer.Shard)
	}
	if _, err := c.ShardMap(background(t)); err != nil {
		t.Fatal(err)
	}
	shards.other.Report(clientAll, []byte{0xB2})
	if r := nextReport(t, reports); r.Shard != first.Shard || r.Sequence != 2 {
		t.Fatalf("handler got %+v after the map was read, want report 2 of shard %d "+
			"as report 1 was", r, first.Shard)
	}
}

// TestReviewDefaultShardRetriedAfterABusyRefusalOnAnOlderServer: SubscribeShard of the
// default instrument shard (1) through a server from before streams per shard, refused
// busy (number 0: nothing subscribed; the caller is told busy and may subscribe again).
// The retry must be sent and accepted as shard 1's: that server carries the default
// shard's reports, and with nothing subscribed on the connection a subscribe is what it
// expects. On main the refusal marked the connection as an older server's whose stream
// was the refused subscription, and the retry failed with ErrShardReportsUnsupported
// without sending anything, for as long as the connection lasted.
func TestReviewDefaultShardRetriedAfterABusyRefusalOnAnOlderServer(t *testing.T) {
	c, p, shards := dialThroughOlderServer(t)
	reports := make(chan client.Report, 4)
	handler := func(r client.Report) { reports <- r }
	p.refuseBusy.Store(1)
	_, err := c.SubscribeShard(background(t), 1, 0, handler)
	var refused *client.StatusError
	if !errors.As(err, &refused) || refused.Status != model.StatusBusy {
		t.Fatalf("first SubscribeShard(1): %v, want busy", err)
	}
	answer, err := c.SubscribeShard(background(t), 1, 0, handler)
	if err != nil || answer.Shard != 1 {
		t.Fatalf("SubscribeShard(1) again after busy: %+v, %v, want shard 1's", answer, err)
	}
	shards.other.Report(clientAll, []byte{0xB1})
	if r := nextReport(t, reports); r.Shard != 1 || r.Sequence != 1 {
		t.Fatalf("handler got %+v, want shard 1's report 1", r)
	}
}
