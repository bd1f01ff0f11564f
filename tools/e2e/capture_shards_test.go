package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/capture"
	"sequent/netio/client"
)

// shardedCaptureWant is what one shard's stream must hold of the acknowledged transfers:
// the client transfers whose debit account is on the shard (created once each: a local
// transfer, or step 1 of a cross-shard one), the posts of the cross-shard ones it started
// and the credits of those it received.
type shardedCaptureWant struct {
	created  map[string]bool
	posted   int
	credited int
}

// checkShardedCapture requires shard's stream to hold every event once, in op order,
// each of that shard (id and "shard"), and exactly what want says: false when it does
// not (yet).
func checkShardedCapture(t *testing.T, shard uint32, events []capture.EventJSON,
	want shardedCaptureWant) bool {
	t.Helper()
	seen := map[string]bool{}
	created := map[string]bool{}
	posted, credited := 0, 0
	for i, e := range events {
		if seen[e.ID] {
			t.Fatalf("shard %d: event %s is in the stream twice", shard, e.ID)
		}
		seen[e.ID] = true
		if e.Shard != shard || !strings.HasPrefix(e.ID, strconv.FormatUint(uint64(shard), 10)+":") {
			t.Fatalf("shard %d's stream holds %s of shard %d", shard, e.ID, e.Shard)
		}
		if i > 0 {
			before := &events[i-1]
			if e.Op < before.Op || (e.Op == before.Op && e.Index <= before.Index) {
				t.Fatalf("shard %d: event %s follows %s: not in op order", shard, e.ID, before.ID)
			}
		}
		switch {
		case e.Kind == "transfer_created" && !e.System:
			if created[e.Transfer.ID] || !want.created[e.Transfer.ID] {
				t.Fatalf("shard %d: transfer %s created twice or never acknowledged", shard,
					e.Transfer.ID)
			}
			created[e.Transfer.ID] = true
		case e.Kind == "transfer_created": // The credit step of a saga into this shard.
			credited++
		case e.Kind == "transfer_posted":
			posted++
		}
	}
	return len(created) == len(want.created) && posted == want.posted &&
		credited == want.credited
}

// TestCaptureShardsFailover: a sync pair of nodes of two shards (accounts below 100 on
// shard 0), both with change capture. Transfers local to each shard and crossing either
// way, a SIGKILL of the primary, the promotion of the standby, more transfers: each
// shard's stream ends up with each acknowledged transfer's events exactly once (step 1
// or the local transfer on its debit shard, a post there, a credit on the other), every
// event once and in op order. Each shard's capture on the standby took over from the
// last message of its own stream.
func TestCaptureShardsFailover(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("67", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey,
		"--cdc-nats", natsURL, "--shards", "2", "--placement", "range",
		"--placement-ranges", "0,100"}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	c, err := dialWith(t, a.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0),
		account(100, 0), account(101, 0)}); err != nil {
		t.Fatal(err)
	}
	want := [2]shardedCaptureWant{{created: map[string]bool{}}, {created: map[string]bool{}}}
	next := uint64(1)
	// Each round: local on shard 0, local on shard 1, 0 → 1, 1 → 0.
	pairs := [][2]uint64{{1, 2}, {100, 101}, {1, 100}, {101, 2}}
	write := func(c *client.Client, rounds int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range rounds {
			for _, pair := range pairs {
				results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, pair[0],
					pair[1], 1)})
				if err != nil || results[0].Status != model.StatusOK {
					t.Fatalf("transfer %d: %v %+v", next, err, results)
				}
				debit, credit := pair[0]/100, pair[1]/100
				want[debit].created[strconv.FormatUint(next, 10)] = true
				if debit != credit {
					want[debit].posted++
					want[credit].credited++
				}
				next++
			}
		}
	}
	write(c, 10)
	c.Close() // The primary crashes for good; the standby is promoted.
	a.kill()
	promote(t, bHTTP, token)
	if c, err = dialWith(t, b.address, 1, secret); err != nil {
		t.Fatal(err)
	}
	write(c, 10)
	for shard := range uint32(2) {
		stream := fmt.Sprintf("SEQUENT_%d", shard)
		eventually(t, stream+" to hold every acknowledged transfer once", func() bool {
			return checkShardedCapture(t, shard, streamEvents(t, natsURL, stream), want[shard])
		})
	}
}
