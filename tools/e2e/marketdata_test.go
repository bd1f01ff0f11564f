package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// tradingSetup creates the accounts (1, 2 issuers; 11, 12 and 21, 22 traders), funds
// them, and creates instrument 5 (base ledger 1, quote ledger 2).
func tradingSetup(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	limit := model.AccountDebitsMustNotExceedCredits
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 2, Code: 1},
		{ID: model.U128(11), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(12), Ledger: 2, Code: 2, Flags: limit},
		{ID: model.U128(21), Ledger: 1, Code: 2, Flags: limit},
		{ID: model.U128(22), Ledger: 2, Code: 2, Flags: limit}}
	if _, err := c.CreateAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	var funds []model.Transfer
	for i, pair := range [][3]uint64{{1, 11, 1}, {1, 21, 1}, {2, 12, 2}, {2, 22, 2}} {
		funds = append(funds, model.Transfer{ID: model.U128(uint64(100 + i)),
			DebitAccountID: model.U128(pair[0]), CreditAccountID: model.U128(pair[1]),
			Amount: model.U128(1 << 40), Ledger: uint32(pair[2]), Code: 1})
	}
	if results, err := c.CreateTransfers(ctx, funds); err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("funding: %v %+v", err, results)
	}
	results, err := c.CreateInstruments(ctx, []model.Instrument{{ID: 5, BaseLedger: 1,
		QuoteLedger: 2, TickSize: 1, LotSize: 1, QuantityMin: 1, QuantityMax: 1000}})
	if err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("instrument: %v %+v", err, results)
	}
}

// placeOrders places count GTC orders on instrument 5, from clientOrderID on: sells and
// buys around 100 that rest, cross and trade.
func placeOrders(t *testing.T, c *client.Client, clientOrderID uint64, count int) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	for i := range uint64(count) {
		side, base, quote, price := model.SideSell, model.U128(11), model.U128(12), 100+i%5
		if i%2 == 1 {
			side, base, quote, price = model.SideBuy, model.U128(21), model.U128(22), 98+i%7
		}
		results, err := c.PlaceOrders(ctx, []model.Order{{ClientOrderID: clientOrderID + i,
			Account: 1 + uint64(side), BaseAccountID: base, QuoteAccountID: quote, Price: price,
			Quantity: 1 + i%4, Instrument: 5, Side: side, Type: model.OrderLimit,
			TimeInForce: model.GoodTillCancel}})
		if err != nil || results[0].Status != model.StatusOK {
			t.Fatalf("order %d: %v %+v", clientOrderID+i, err, results)
		}
	}
}

// followedBook is what a FollowBook subscriber has shown, for the test to read.
type followedBook struct {
	mutex     sync.Mutex
	sequence  uint64
	levels    []model.DepthLevel
	snapshots int
	gaps      int
}

func (f *followedBook) onChange(b *client.BookBuilder, _ []model.MarketDataUpdate) {
	f.mutex.Lock()
	defer f.mutex.Unlock()
	f.sequence = b.Book.Sequence
	f.levels = append(b.Book.Levels(model.SideBuy, 0), b.Book.Levels(model.SideSell, 0)...)
	f.snapshots, f.gaps = b.Snapshots, b.Gaps
}

// matches reports whether the subscriber's book equals the engine's get_book now.
func (f *followedBook) matches(t *testing.T, c *client.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	header, levels, err := c.GetBook(ctx, 5, model.DepthLevelsPerSideMax)
	if err != nil {
		return false
	}
	f.mutex.Lock()
	defer f.mutex.Unlock()
	return f.sequence == header.Sequence && slices.Equal(f.levels, levels)
}

// TestMarketDataAcrossPromotion follows instrument 5's book through the Go client while
// orders trade on a sync primary, kills the primary with SIGKILL, promotes the standby
// and trades on: the subscriber reconnects to the promoted node, resumes from the last
// op it saw, and its book equals the engine's at the end, with no second snapshot and no
// gap: the sequences carried on across the failover.
func TestMarketDataAcrossPromotion(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("55", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "trade", "admin"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{"--http", "",
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	raw, _ := hex.DecodeString(secret)
	connect := func(session uint64) *client.Client {
		ctx, cancel := context30s()
		defer cancel()
		c, err := client.Dial(ctx, client.Config{Addresses: []string{a.address, b.address},
			Client: 1, Key: 1, Secret: raw, Session: session, DialTimeout: dialTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	trader := connect(1)
	tradingSetup(t, trader)
	subscriber := connect(2)
	followed := &followedBook{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.FollowBook(ctx, subscriber, 5, followed.onChange)
	placeOrders(t, trader, 1, 30)
	eventually(t, "the subscriber's book to match the primary's", func() bool {
		return followed.matches(t, trader)
	})

	a.kill()
	promote(t, bHTTP, token)
	placeOrders(t, trader, 1000, 30)
	eventually(t, "the subscriber's book to match the promoted node's", func() bool {
		return followed.matches(t, trader)
	})
	followed.mutex.Lock()
	defer followed.mutex.Unlock()
	if followed.snapshots != 1 || followed.gaps != 0 {
		t.Fatalf("the book needed %d snapshots and saw %d gaps; want 1 and 0 (resumed by op)",
			followed.snapshots, followed.gaps)
	}
	if followed.sequence < 30 {
		t.Fatalf("sequence %d after 60 orders", followed.sequence)
	}
	// The terminal view builds the same book.
	output, err := run(t, "client", "md", "--addr", b.address, "--keys", keys, "--instrument", "5",
		"--once")
	if err != nil || !strings.Contains(output, fmt.Sprintf("sequence %d ", followed.sequence)) {
		t.Fatalf("sequent client md --once: %v\n%s", err, output)
	}
}

// TestMarketDataAcrossAFailoverThatLostEntries follows instrument 5's book on an
// asynchronous primary whose standby is killed while 20 more orders trade: the
// subscriber reads updates the standby never receives. The primary is killed, the
// standby started again without it and promoted, and 6 orders trade on it (a SIGSTOP
// instead loses nothing: the kernel buffers the stream for the stopped standby, which
// reads it on SIGCONT). Its log gives the lost ops,
// and instrument 5's sequences after its own, to other updates. The subscriber's
// resumption from an op past the new primary's log must be answered
// market_data_resume_gap (PROTOCOL.md 8a, "Resuming past the server's log"), so that
// FollowBook rebuilds from a snapshot and its book equals the new primary's. Before,
// it was answered ok: the book skipped the new primary's updates as duplicates by
// sequence and kept the lost orders' levels, and never matched again.
func TestMarketDataAcrossAFailoverThatLostEntries(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("55", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "trade", "admin"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{"--http", "",
		"--replication-listen", aReplication, "--peer", bReplication,
		"--replication-mode", "async"}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	raw, _ := hex.DecodeString(secret)
	connect := func(session uint64, addresses ...string) *client.Client {
		ctx, cancel := context30s()
		defer cancel()
		c, err := client.Dial(ctx, client.Config{Addresses: addresses, Client: 1, Key: 1,
			Secret: raw, Session: session, DialTimeout: dialTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	trader := connect(1, a.address)
	tradingSetup(t, trader)
	subscriber := connect(2, a.address, b.address)
	followed := &followedBook{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.FollowBook(ctx, subscriber, 5, followed.onChange)
	placeOrders(t, trader, 1, 10)
	standbyReader := connect(3, b.address)
	eventually(t, "the standby to hold the primary's book", func() bool {
		return followed.matches(t, trader) && followed.matches(t, standbyReader)
	})

	b.kill()
	placeOrders(t, trader, 100, 20) // Never reach the standby.
	eventually(t, "the subscriber's book to show the orders the standby lacks", func() bool {
		return followed.matches(t, trader)
	})
	followed.mutex.Lock()
	readSequence := followed.sequence
	followed.mutex.Unlock()
	a.kill()
	b.restart()
	promote(t, bHTTP, token)
	newTrader := connect(4, b.address)
	placeOrders(t, newTrader, 1000, 6)
	eventually(t, "the subscriber's book to match the promoted node's", func() bool {
		return followed.matches(t, newTrader)
	})
	followed.mutex.Lock()
	defer followed.mutex.Unlock()
	if followed.snapshots != 2 || followed.sequence >= readSequence {
		t.Fatalf("the book needed %d snapshots, ends at sequence %d (read up to %d on the "+
			"lost primary); want 2 snapshots and a lower sequence (rebuilt, not resumed)",
			followed.snapshots, followed.sequence, readSequence)
	}
}
