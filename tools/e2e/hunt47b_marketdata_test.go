package e2e

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"sequent/netio/client"
)

// TestHunt47bBookOfShardOneAcrossASIGKILL: README "Market data" and PROTOCOL.md 8a on a
// node of two shards whose instrument 5 (and its ledgers) is on shard 1, with change
// capture: a FollowBook subscriber's book matches get_book while orders trade, the node
// is killed (SIGKILL) and restarted on its data, orders trade on, and the subscriber
// (reconnecting by itself: a resumption answered by a fresh process, whose history is
// empty, is a gap and a snapshot) matches again. The book built from SEQUENT_1's level
// events matches it too, at the same sequence: the feed and the capture number an
// instrument's updates alike, across the restart.
func TestHunt47bBookOfShardOneAcrossASIGKILL(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("5b", 32)
	writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "trade", "admin"))
	s := startServer(t, filepath.Join(dir, "a"), freePort(t), "--keys", keys, "--cdc-nats",
		natsURL, "--shards", "2", "--placement", "ledger", "--placement-ledgers", "1:1,2:1",
		"--placement-instruments", "5:1")
	raw, _ := hex.DecodeString(secret)
	connect := func(session uint64) *client.Client {
		ctx, cancel := context30s()
		defer cancel()
		c, err := client.Dial(ctx, client.Config{Addresses: []string{s.address},
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
	eventually(t, "the subscriber's book to match the node's", func() bool {
		return followed.matches(t, trader)
	})
	trader.Close()
	s.kill()
	s.restart()
	trader = connect(3)
	placeOrders(t, trader, 1000, 30)
	eventually(t, "the subscriber's book to match the restarted node's", func() bool {
		return followed.matches(t, trader)
	})
	eventually(t, "SEQUENT_1's book to match get_book", func() bool {
		f, problems := checkDocumentedStream(readDocumentedStream(t, natsURL, "SEQUENT_1"), nil)
		if len(problems) > 0 {
			t.Fatalf("SEQUENT_1 departs from the README:\n%s", strings.Join(problems, "\n"))
		}
		followed.mutex.Lock()
		defer followed.mutex.Unlock()
		if f.sequences[5] != followed.sequence || len(f.books[5]) != len(followed.levels) {
			return false
		}
		for _, level := range followed.levels {
			level.Reserved = [3]byte{}
			if f.books[5][bookLevelKey{level.Side, level.Price}] != level {
				return false
			}
		}
		return true
	})
}
