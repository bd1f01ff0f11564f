package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// TestMarketDataOfAnInstrumentOnShard1: a node of two shards (`serve --shards 2`,
// ledgers 3 and 4 and instrument 7 on shard 1, the rest on shard 0) used to publish
// market data for shard 0's instruments only: instrument 7's subscribers got nothing, and
// FollowBook never saw its orders. Now each shard's release feeds its own publisher:
// client.FollowBook keeps instrument 7's book equal to get_book's, its updates carry
// shard 1 and ops of shard 1's log (which is far behind shard 0's here, so the two op
// spaces cannot be mistaken for each other), and `sequent client md --once` shows its
// book; instrument 5, on shard 0, is published as before, with shard 0's ops.
func TestMarketDataOfAnInstrumentOnShard1(t *testing.T) {
	dir := t.TempDir()
	keys := node.Layout{Dir: dir}.KeysPath()
	dev, err := netio.GenerateDevKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.address, options.logLevel = dir, "127.0.0.1:0", "error"
	options.accountsCapacity, options.transfersCapacity = 1024, 1<<12
	options.placement = shardmap.Spec{Shards: 2, Placement: "ledger", Ledgers: "3:1,4:1",
		Instruments: "7:1"}
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = running.stop() }()
	common := []string{"--addr", running.server.Address(), "--keys", keys}
	run := func(args ...string) {
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

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: []string{running.server.Address()},
		Client: dev.Client, Key: dev.Key, Secret: mustDecodeSecret(t, dev.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	other, err := client.Dial(ctx, client.Config{Addresses: []string{running.server.Address()},
		Client: dev.Client, Key: dev.Key, Secret: mustDecodeSecret(t, dev.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
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

	place := func(key, instrument, side, price, base, quote string) {
		t.Helper()
		account := "1"
		if side == "sell" {
			account = "2" // Another trading account: no self-trade prevention.
		}
		run("order", "place", "--client-order-id", key, "--account", account, "--instrument",
			instrument, "--side", side, "--price", price, "--quantity", "1",
			"--base-account", base, "--quote-account", quote)
	}
	place("1", "7", "buy", "100", "14", "13")
	place("2", "7", "buy", "99", "14", "13")
	place("3", "7", "sell", "105", "14", "13")
	place("4", "7", "buy", "100", "14", "13")
	place("6", "7", "sell", "100", "14", "13") // Trades with the first buy at 100.
	place("5", "5", "buy", "100", "12", "11")
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
	var feeds []string
	for _, stream := range running.opsSnapshot().Streams {
		if stream.Name == "market_data" {
			feeds = append(feeds, fmt.Sprint(stream.Shard))
			if stream.Shard == 1 && stream.HandledOp < followed[len(followed)-1].Op {
				t.Fatalf("/v1/status: shard 1's market data handled op %d, below op %d "+
					"followed", stream.HandledOp, followed[len(followed)-1].Op)
			}
		}
	}
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
