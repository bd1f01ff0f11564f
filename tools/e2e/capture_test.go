package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/model"
	"sequent/netio/capture"
	"sequent/netio/client"
	"sequent/tools/natstest"
)

// startNATS runs a real nats-server with JetStream inside the test binary.
func startNATS(t *testing.T, dir, address string) *natsserver.Server {
	return natstest.Start(t, dir, address)
}

// streamMessages reads every message of the stream, in stream order (nil when the stream
// cannot be read yet).
func streamMessages(t *testing.T, url, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	connection, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return nil
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil
	}
	var messages []*jetstream.RawStreamMsg
	for sequence := info.State.FirstSeq; sequence <= info.State.LastSeq && sequence > 0; sequence++ {
		message, err := s.GetMsg(ctx, sequence)
		if err != nil {
			t.Fatalf("message %d: %v", sequence, err)
		}
		messages = append(messages, message)
	}
	return messages
}

// streamEvents reads every message of the stream, in stream order.
func streamEvents(t *testing.T, url, stream string) []capture.EventJSON {
	t.Helper()
	var events []capture.EventJSON
	for _, message := range streamMessages(t, url, stream) {
		sequence := message.Sequence
		var e capture.EventJSON
		decoder := json.NewDecoder(bytes.NewReader(message.Data))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&e); err != nil {
			t.Fatalf("message %d does not match the schema: %v\n%s", sequence, err, message.Data)
		}
		if id := message.Header.Get(jetstream.MsgIDHeader); id != e.ID {
			t.Fatalf("message %d: Nats-Msg-Id %q, JSON id %q", sequence, id, e.ID)
		}
		events = append(events, e)
	}
	return events
}

// checkCaptured requires the stream to hold each event once, in op order, and exactly
// one transfer_created for each transfer id in want (none for others).
func checkCaptured(t *testing.T, events []capture.EventJSON, want map[string]bool) bool {
	t.Helper()
	created := map[string]int{}
	seen := map[string]bool{}
	var lastOp uint64
	var lastIndex uint32
	for i, e := range events {
		if seen[e.ID] {
			t.Fatalf("event %s is in the stream twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && (e.Op < lastOp || (e.Op == lastOp && e.Index <= lastIndex)) {
			t.Fatalf("event %s follows %d:%d: not in op order", e.ID, lastOp, lastIndex)
		}
		lastOp, lastIndex = e.Op, e.Index
		if e.Kind == "transfer_created" {
			if !want[e.Transfer.ID] {
				t.Fatalf("transfer %s was captured but never acknowledged", e.Transfer.ID)
			}
			created[e.Transfer.ID]++
		}
	}
	return len(created) == len(want)
}

// TestCaptureExactlyOnce publishes a sync pair's events to a real JetStream while the
// pair goes through (a) nats-server shut down and restarted mid-stream (Sequent keeps
// serving meanwhile), (b) a SIGKILL and restart of the primary, (c) a SIGKILL of the
// primary and the promotion of the standby: in the end the stream holds every
// acknowledged transfer's event exactly once, every event once, in op order, each
// message's JSON matching the documented schema and its Nats-Msg-Id.
func TestCaptureExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	server := startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("66", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	aReplication, bReplication, aHTTP, bHTTP := freePort(t), freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey,
		"--cdc-nats", natsURL, "--cdc-lag-warning", "500ms"}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{"--http", aHTTP,
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	raw, _ := hex.DecodeString(secret)
	// Each step (a dial, a round of writes) has its own 30 s hang guard: one for the
	// whole test ran close to out under -race on a loaded machine (the test took 34 s
	// with the load average near 35 on 2 cores).
	ctx, cancel := context30s()
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: []string{a.address}, Client: 1, Key: 1,
		Secret: raw, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	acknowledged := map[string]bool{}
	next := uint64(1)
	write := func(count int) {
		t.Helper()
		ctx, cancel := context30s()
		defer cancel()
		for range count {
			results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, 1, 2, 1)})
			if err != nil || results[0].Status != model.StatusOK {
				t.Fatalf("transfer %d: %v %+v", next, err, results)
			}
			acknowledged[strconv.FormatUint(next, 10)] = true
			next++
		}
	}
	write(40)
	server.Shutdown() // (a) JetStream goes away mid-stream; Sequent keeps serving.
	server.WaitForShutdown()
	write(40)
	eventually(t, "/healthz to report the capture lagging", func() bool {
		response, err := http.Get("http://" + aHTTP + "/healthz")
		if err != nil {
			return false
		}
		defer response.Body.Close()
		body, _ := io.ReadAll(response.Body)
		return response.StatusCode == http.StatusServiceUnavailable &&
			strings.Contains(string(body), "capture_lagging")
	})
	server = startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	write(40)

	a.kill() // (b) The primary crashes and restarts; its standby follows it again.
	a.restart()
	write(40)

	c.Close() // (c) The primary crashes for good; the standby is promoted.
	a.kill()
	promote(t, bHTTP, token)
	ctx, cancel = context30s()
	defer cancel()
	c, err = client.Dial(ctx, client.Config{Addresses: []string{b.address}, Client: 1, Key: 1,
		Secret: raw, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	write(40)
	eventually(t, "the stream to hold every acknowledged transfer", func() bool {
		return checkCaptured(t, streamEvents(t, natsURL, "SEQUENT_0"), acknowledged)
	})
	events := streamEvents(t, natsURL, "SEQUENT_0")
	accounts := 0
	for _, e := range events {
		if e.Kind == "account_created" {
			accounts++
		}
	}
	if accounts != 2 {
		t.Fatalf("%d account_created events, want 2", accounts)
	}
}

// TestCaptureAfterAsyncDivergence: an async pair, whose standby is down while the primary
// takes transfers 11-20 alone and publishes their events; the primary dies, the standby
// (which has 1-10 only) is promoted and takes transfers 101-110 at the same ops. The
// stream must hold a capture_superseded message naming exactly the ops of 11-20, then
// every one of 101-110 (their ids carry epoch 2, so neither the resume position nor the
// duplicate window hides them).
func TestCaptureAfterAsyncDivergence(t *testing.T) {
	dir := t.TempDir()
	natsAddress := freePort(t)
	natsURL := "nats://" + natsAddress
	startNATS(t, filepath.Join(dir, "nats"), natsAddress)
	keys := filepath.Join(dir, "keys.json")
	secret := strings.Repeat("67", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	aReplication, bReplication, bHTTP := freePort(t), freePort(t), freePort(t)
	common := []string{"--keys", keys, "--replication-key", replicationTestKey,
		"--replication-mode", "async", "--cdc-nats", natsURL}
	a := startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{
		"--replication-listen", aReplication, "--peer", bReplication}, common...)...)
	b := startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{"--http", bHTTP,
		"--replication-listen", bReplication, "--standby-of", aReplication}, common...)...)
	raw, _ := hex.DecodeString(secret)
	// Each step (a dial, a round of writes) has its own 30 s hang guard, as in
	// TestCaptureExactlyOnce.
	dial := func(address string) *client.Client {
		ctx, cancel := context30s()
		defer cancel()
		c, err := client.Dial(ctx, client.Config{Addresses: []string{address}, Client: 1,
			Key: 1, Secret: raw, DialTimeout: dialTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	write := func(c *client.Client, first, count uint64) {
		ctx, cancel := context30s()
		defer cancel()
		for id := first; id < first+count; id++ {
			results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(id, 1, 2, 1)})
			if err != nil || results[0].Status != model.StatusOK {
				t.Fatalf("transfer %d: %v %+v", id, err, results)
			}
		}
	}
	transfers := func() map[string]capture.EventJSON {
		found := map[string]capture.EventJSON{}
		for _, e := range streamEvents(t, natsURL, "SEQUENT_0") {
			if e.Kind == "transfer_created" {
				found[e.Transfer.ID] = e
			}
		}
		return found
	}
	primary := dial(a.address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := primary.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	write(primary, 1, 10)
	standbyReads := dial(b.address)
	eventually(t, "the standby to hold transfers 1-10", func() bool {
		return debitsPosted(standbyReads) == 10
	})
	b.kill()
	write(primary, 11, 10) // Alone: async mode releases on local durability.
	eventually(t, "the stream to hold transfers 1-20", func() bool { return len(transfers()) == 20 })
	lost := transfers()
	a.kill()
	b.restart()
	promote(t, bHTTP, token)
	write(dial(b.address), 101, 10)
	eventually(t, "the stream to hold transfers 101-110", func() bool { return len(transfers()) == 30 })

	events := streamEvents(t, natsURL, "SEQUENT_0")
	marker := slices.IndexFunc(events, func(e capture.EventJSON) bool {
		return e.Kind == "capture_superseded"
	})
	if marker < 0 {
		t.Fatal("no capture_superseded message in the stream")
	}
	superseded := events[marker]
	if superseded.FromOp != lost["11"].Op || superseded.ToOp != lost["20"].Op ||
		superseded.SupersededEpoch != lost["20"].Epoch || superseded.Epoch <= superseded.SupersededEpoch {
		t.Fatalf("capture_superseded %+v: want ops %d-%d of epoch %d", superseded,
			lost["11"].Op, lost["20"].Op, lost["20"].Epoch)
	}
	for _, e := range events[marker+1:] {
		if e.Kind == "transfer_created" {
			if id, _ := strconv.ParseUint(e.Transfer.ID, 10, 64); id < 101 || e.Epoch != superseded.Epoch {
				t.Fatalf("after capture_superseded: transfer %s of epoch %d", e.Transfer.ID, e.Epoch)
			}
		}
	}
	if after := len(events) - marker - 1; after < 10 {
		t.Fatalf("%d events after capture_superseded, want transfers 101-110", after)
	}
}
