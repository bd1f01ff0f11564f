package netio_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

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
// frame it was promised would not carry anything there. Fails on main: number is the
// default shard (1) in the subscribed answer and in every report.
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
	if frame := live.next(); frame.Kind != wire.KindSubscribed || frame.Number != 1 ||
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
		live.expectReport(1, sequence, 0xB0)
	}
}

// olderServerProxy stands between a client and this server as a server from before
// streams per shard would: it does not read the subscribe frame's shard field (the old
// text: "reserved (send 0; the server does not check it)"), so it passes every
// subscription on as field 0, and its subscribed and report frames carry number 0 ("else
// 0"). Every other frame goes through as it is.
type olderServerProxy struct {
	listener net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
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
		go rewriteFrames(upstream, downstream, func(frame *wire.Frame) {
			if frame.Kind == wire.KindSubscribe && len(frame.Body) == wire.SubscribeSize {
				clear(frame.Body[8:16])
			}
		})
		go rewriteFrames(downstream, upstream, func(frame *wire.Frame) {
			if frame.Kind == wire.KindSubscribed || frame.Kind == wire.KindReport {
				frame.Number = 0
			}
		})
	}
}

// rewriteFrames copies frames from `from` to `to`, each changed by change first.
func rewriteFrames(to, from net.Conn, change func(*wire.Frame)) {
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
		change(&frame)
		if _, err := to.Write(wire.AppendFrame(nil, &frame, frame.Body)); err != nil {
			return
		}
	}
}

// TestReviewSubscribeShardAgainstAnOlderServer: the Go client's SubscribeShard(0)
// reaches a node of two shards (default instrument shard 1) running a server from before
// streams per shard, which read the field as reserved: it subscribes the default shard
// and answers number 0, as it always did. The client must not hand that shard's reports
// to the handler as shard 0's (sequences of another stream under shard 0's filter and
// resumption): PROTOCOL.md gives a client no way to tell that the server ignored the
// field, and says nothing of what an older server does with it (for md_subscribe's bit 3
// it does: invalid_body). Fails on main: the handler gets shard 1's report 1 as
// Report{Shard: 0, Sequence: 1}, and SubscribeShard(0) returns Shard 0.
func TestReviewSubscribeShardAgainstAnOlderServer(t *testing.T) {
	h, shards := newTwoReportShards(t) // Default instrument shard 1.
	p := newOlderServerProxy(t, h.server.Address())
	c, err := client.Dial(background(t), client.Config{
		Addresses: []string{p.listener.Addr().String()}, Client: clientAll, Key: 1,
		Secret: secretOne, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reports := make(chan client.Report, 4)
	answer, err := c.SubscribeShard(background(t), 0, 0, func(r client.Report) {
		reports <- r
	})
	if err == nil && answer.Shard == 0 {
		// Accepted as shard 0's: then no report of another shard may come as shard 0's.
		shards.other.Report(clientAll, []byte{0xB1}) // Shard 1's report 1.
		shards.Report(clientAll, []byte{0xA1})       // Shard 0's report 1.
		select {
		case r := <-reports:
			if r.Shard == 0 && len(r.Body) == 1 && r.Body[0] != 0xA1 {
				t.Fatalf("handler got %+v as shard 0's: shard 1's report 1 (body 0xB1) "+
					"under shard 0's sequence, from a server that ignored the shard field", r)
			}
		case <-time.After(waitLimit):
			t.Fatal("no report")
		}
	}
}
