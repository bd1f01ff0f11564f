package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// twoShardNode starts a node of two shards: ledgers 3 and 4 and instrument 7 on shard 1,
// the rest (ledgers 1 and 2, instrument 5) on shard 0, with accounts 11 to 14 (ledger =
// id - 10) and both instruments created, and shard 0's log some 30 ops ahead of shard
// 1's. run runs a `sequent client` command against it (stopped at the test's end).
func twoShardNode(t *testing.T) (running *runningNode, dev netio.DevKey,
	run func(args ...string), common []string) {
	t.Helper()
	var keys string
	running, keys, dev = startDevNode(t, shardmap.Spec{Shards: 2, Placement: "ledger",
		Ledgers: "3:1,4:1", Instruments: "7:1"})
	common = []string{"--addr", running.server.Address(), "--keys", keys}
	run = func(args ...string) {
		t.Helper()
		if output, err := runClient(t, append(args, common...)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, output)
		}
	}
	for ledger := 1; ledger <= 4; ledger++ {
		run("create-accounts", fmt.Sprint(10+ledger), "--ledger", fmt.Sprint(ledger),
			"--code", "1")
	}
	for id := 100; id < 130; id++ { // Shard 0's log moves far ahead of shard 1's.
		run("create-accounts", fmt.Sprint(id), "--ledger", "1", "--code", "1")
	}
	run("instrument", "create", "--id", "5", "--base-ledger", "2", "--quote-ledger", "1")
	run("instrument", "create", "--id", "7", "--base-ledger", "4", "--quote-ledger", "3")
	return running, dev, run, common
}

// placeOrder places one order of quantity 1 on instrument (5: accounts 12 and 11; 7:
// accounts 14 and 13); buys from trading account 1, sells from 2 (no self-trade
// prevention between them).
func placeOrder(run func(args ...string), key, instrument, side, price string) {
	account, base, quote := "1", "12", "11"
	if side == "sell" {
		account = "2"
	}
	if instrument == "7" {
		base, quote = "14", "13"
	}
	run("order", "place", "--client-order-id", key, "--account", account, "--instrument",
		instrument, "--side", side, "--price", price, "--quantity", "1", "--base-account",
		base, "--quote-account", quote)
}

// TestMarketDataOfAnInstrumentOnShard1: a node of two shards (`serve --shards 2`,
// ledgers 3 and 4 and instrument 7 on shard 1, the rest on shard 0) used to publish
// market data for shard 0's instruments only: instrument 7's subscribers got nothing, and
// FollowBook never saw its orders. Now each shard's release feeds its own publisher:
// client.FollowBook keeps instrument 7's book equal to get_book's, its updates carry
// shard 1 and ops of shard 1's log (which is far behind shard 0's here, so the two op
// spaces cannot be mistaken for each other), and `sequent client md --once` shows its
// book; instrument 5, on shard 0, is published as before, with shard 0's ops.
func TestMarketDataOfAnInstrumentOnShard1(t *testing.T) {
	running, dev, run, common := twoShardNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	var mutex sync.Mutex
	var followed []model.MarketDataUpdate
	var book client.Book
	synced := make(chan struct{}, 64)
	go func() {
		_ = client.FollowBook(ctx, c, 7, func(b *client.BookBuilder,
			updates []model.MarketDataUpdate) {
			mutex.Lock()
			followed, book = append(followed, updates...), b.Book
			mutex.Unlock()
			synced <- struct{}{}
		})
	}()
	<-synced // The (empty) book is built from its snapshot.
	other := dialDev(t, ctx, running.server.Address(), dev)
	var shard0Updates []model.MarketDataUpdate
	var shard0Mutex sync.Mutex
	if _, err := other.SubscribeMarketData(ctx, 5, wire.ChannelBook,
		func(event client.MarketDataEvent) {
			shard0Mutex.Lock()
			shard0Updates = append(shard0Updates, event.Updates...)
			shard0Mutex.Unlock()
		}); err != nil {
		t.Fatal(err)
	}

	placeOrder(run, "1", "7", "buy", "100")
	placeOrder(run, "2", "7", "buy", "99")
	placeOrder(run, "3", "7", "sell", "105")
	placeOrder(run, "4", "7", "buy", "100")
	placeOrder(run, "6", "7", "sell", "100") // Trades with the first buy at 100.
	placeOrder(run, "5", "5", "buy", "100")
	shard1Op := running.groups.Groups()[1].Shard().Stats().OpLast
	shard0Op := running.groups.Groups()[0].Shard().Stats().OpLast
	header, levels, err := c.GetBook(ctx, 7, model.DepthLevelsPerSideMax)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second) // A bound on a wait of milliseconds.
	for {
		mutex.Lock()
		sequence := book.Sequence
		mutex.Unlock()
		if sequence == header.Sequence {
			break
		}
		select {
		case <-synced:
		case <-deadline:
			t.Fatalf("the followed book of instrument 7 is at sequence %d, get_book at %d",
				sequence, header.Sequence)
		}
	}
	mutex.Lock()
	defer mutex.Unlock()
	var want client.Book
	want.Load(header, levels)
	for _, side := range []model.Side{model.SideBuy, model.SideSell} {
		if got, expected := book.Levels(side, 100), want.Levels(side, 100); !reflect.DeepEqual(
			got, expected) {
			t.Fatalf("side %d: followed book %+v, get_book %+v", side, got, expected)
		}
	}
	trades := 0
	for _, u := range followed {
		if u.Kind == model.MarketDataTrade {
			trades++
		}
	}
	if trades != 1 || header.Sequence < 6 {
		t.Fatalf("%d updates followed (%d trades), get_book at sequence %d: want the "+
			"orders' levels and one trade", len(followed), trades, header.Sequence)
	}
	if shard1Op+20 > shard0Op {
		t.Fatalf("shard 1's log at op %d, shard 0's at %d: want shard 0's far ahead", shard1Op,
			shard0Op)
	}
	for i, u := range followed {
		if u.Shard != 1 || u.Op > shard1Op ||
			(i > 0 && u.Sequence != followed[i-1].Sequence+1) {
			t.Fatalf("update %d of instrument 7: %+v; want shard 1, ops of its log (at %d; "+
				"shard 0's at %d), gap-free sequences", i, u, shard1Op, shard0Op)
		}
	}
	waitUntil(t, "instrument 5's update", func() bool {
		shard0Mutex.Lock()
		defer shard0Mutex.Unlock()
		return len(shard0Updates) > 0
	})
	shard0Mutex.Lock()
	if u := shard0Updates[0]; u.Instrument != 5 || u.Shard != 0 || u.Op <= 30 ||
		u.Op > shard0Op {
		t.Fatalf("instrument 5's update %+v: want shard 0 and an op of its log (at %d)", u,
			shard0Op)
	}
	shard0Mutex.Unlock()
	// The feed counts a batch as handled once its fan-out has ended, which may come just
	// after the client read its updates: waited for (a hang guard, not a timing
	// assertion).
	var feeds []string
	handled := uint64(0)
	waitUntil(t, "shard 1's market data to count the ops followed", func() bool {
		feeds = feeds[:0]
		for _, stream := range running.opsSnapshot().Streams {
			if stream.Name == "market_data" {
				feeds = append(feeds, fmt.Sprint(stream.Shard))
				if stream.Shard == 1 {
					handled = stream.HandledOp
				}
			}
		}
		return handled >= followed[len(followed)-1].Op
	})
	if strings.Join(feeds, ",") != "0,1" {
		t.Fatalf("/v1/status lists market data of shards %v, want 0,1", feeds)
	}
	output, err := runClient(t, append([]string{"md", "--instrument", "7", "--once"},
		common...)...)
	if err != nil || !strings.Contains(output, fmt.Sprintf("sequence %d", header.Sequence)) {
		t.Fatalf("client md --instrument 7 --once: %v\n%s", err, output)
	}
}

// waitUntil polls condition for at most 30 s (a bound on a wait of milliseconds).
func waitUntil(t *testing.T, what string, condition func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !condition(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustDecodeSecret(t *testing.T, text string) []byte {
	t.Helper()
	secret, err := hex.DecodeString(text)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestMarketDataFollowedBookOfShard1ResumesWithoutASnapshot: one client follows the book
// of instrument 7 (shard 1, whose log is some 30 ops behind shard 0's) and subscribes to
// instrument 5 (shard 0) on the same connection, through a proxy. Orders on both are
// read, the connection is cut, instrument 7 gets two more orders meanwhile, and the
// client reconnects: instrument 7 is resumed from an op of shard 1's log, its missed
// updates are replayed, and the book carries on from its one snapshot, equal to
// get_book's. Before the client kept a resume op per shard, instrument 7 was asked from
// shard 0's op (read last on the connection), past shard 1's log: a resume gap, and a
// second snapshot.
func TestMarketDataFollowedBookOfShard1ResumesWithoutASnapshot(t *testing.T) {
	running, dev, run, _ := twoShardNode(t)
	proxy := newCutProxy(t, running.server.Address())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, proxy.address(), dev)
	var mutex sync.Mutex
	var book client.Book
	snapshots, gaps := 0, 0
	go func() {
		_ = client.FollowBook(ctx, c, 7, func(b *client.BookBuilder,
			_ []model.MarketDataUpdate) {
			mutex.Lock()
			book, snapshots, gaps = b.Book, b.Snapshots, b.Gaps
			mutex.Unlock()
		})
	}()
	waitUntil(t, "the book's snapshot", func() bool {
		mutex.Lock()
		defer mutex.Unlock()
		return snapshots == 1
	})
	// FollowBook's handler is the client's: instrument 5's updates reach it too (and are
	// skipped there), moving shard 0's op on this connection.
	if _, err := c.SubscribeMarketData(ctx, 5, wire.ChannelBook, nil); err != nil {
		t.Fatal(err)
	}
	bookAt := func(wantSequence uint64) func() bool {
		return func() bool {
			mutex.Lock()
			defer mutex.Unlock()
			return book.Sequence == wantSequence
		}
	}
	for key := 10; key < 14; key++ {
		placeOrder(run, fmt.Sprint(key), "5", "buy", fmt.Sprint(90+key))
	}
	waitUntil(t, "instrument 5's updates written", func() bool {
		return running.server.MarketDataShardStats()[0].UpdatesSent >= 4
	})
	// Written to the connection after instrument 5's: once the book has it, the client
	// has read those too.
	placeOrder(run, "1", "7", "buy", "100")
	waitUntil(t, "instrument 7's first update", bookAt(1))
	proxy.refuse(true)
	proxy.cut()
	placeOrder(run, "2", "7", "buy", "99")
	placeOrder(run, "3", "7", "sell", "105")
	proxy.refuse(false)
	header, levels, err := c.GetBook(ctx, 7, model.DepthLevelsPerSideMax)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the followed book at get_book's sequence", bookAt(header.Sequence))
	mutex.Lock()
	defer mutex.Unlock()
	var want client.Book
	want.Load(header, levels)
	for _, side := range []model.Side{model.SideBuy, model.SideSell} {
		if got, expected := book.Levels(side, 100), want.Levels(side, 100); !reflect.DeepEqual(
			got, expected) {
			t.Fatalf("side %d: followed book %+v, get_book %+v", side, got, expected)
		}
	}
	if snapshots != 1 || gaps != 0 || header.Sequence != 3 {
		t.Fatalf("%d snapshots, %d gaps, get_book at sequence %d: want 1, 0 and 3 (the "+
			"missed updates replayed on resuming)", snapshots, gaps, header.Sequence)
	}
}

// cutProxy forwards loopback connections to a target and can cut them all (a lost
// connection, without touching either end's internals).
type cutProxy struct {
	listener net.Listener
	target   string
	mutex    sync.Mutex
	conns    []net.Conn
	refusing bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{listener: listener, target: target}
	go p.accept()
	t.Cleanup(func() { listener.Close(); p.cut() })
	return p
}

func (p *cutProxy) address() string { return p.listener.Addr().String() }

func (p *cutProxy) refuse(refusing bool) {
	p.mutex.Lock()
	p.refusing = refusing
	p.mutex.Unlock()
}

func (p *cutProxy) accept() {
	for {
		downstream, err := p.listener.Accept()
		if err != nil {
			return
		}
		upstream, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		p.mutex.Lock()
		if err != nil || p.refusing {
			downstream.Close()
			if upstream != nil {
				upstream.Close()
			}
			p.mutex.Unlock()
			continue
		}
		p.conns = append(p.conns, downstream, upstream)
		p.mutex.Unlock()
		go func() { _, _ = io.Copy(upstream, downstream); upstream.Close() }()
		go func() { _, _ = io.Copy(downstream, upstream); downstream.Close() }()
	}
}

// cut closes every connection through the proxy (both sides).
func (p *cutProxy) cut() {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	for _, conn := range p.conns {
		conn.Close()
	}
	p.conns = nil
}
