package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/saga"
	"sequent/netio"
	"sequent/netio/capture"
	"sequent/netio/client"
	"sequent/netio/ops"
	"sequent/tools/natstest"
	"sequent/tools/testport"
)

// captureShardsWait bounds every wait of the multi-shard capture test for one condition
// (a stream to hold what was released, a lag to show): generous, since the machine is
// shared, but finite.
const captureShardsWait = 60 * time.Second

// capturedMessage is one message of a capture stream: its subject, its Nats-Msg-Id and
// its JSON, decoded against the documented schema (unknown fields refused).
type capturedMessage struct {
	subject string
	id      string
	event   capture.EventJSON
}

// readCaptureStream returns every message of stream in stream order (nil while the
// stream cannot be read).
func readCaptureStream(t *testing.T, url, stream string) []capturedMessage {
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
	var messages []capturedMessage
	for sequence := info.State.FirstSeq; sequence > 0 && sequence <= info.State.LastSeq; sequence++ {
		message, err := s.GetMsg(ctx, sequence)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, sequence, err)
		}
		m := capturedMessage{subject: message.Subject,
			id: message.Header.Get(jetstream.MsgIDHeader)}
		decoder := json.NewDecoder(bytes.NewReader(message.Data))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&m.event); err != nil {
			t.Fatalf("%s message %d does not match the schema: %v\n%s", stream, sequence, err,
				message.Data)
		}
		messages = append(messages, m)
	}
	return messages
}

// capturedName is what the test expects an event to be: its kind and the id it is about
// (the account's for account_created, the transfer's otherwise).
type capturedName struct {
	kind string
	id   string
}

func (n capturedName) String() string { return n.kind + " " + n.id }

// checkShardStream requires every message of shard's stream to be an event of that shard
// (shard in the subject's second token, in the id's first field and in "shard"), each
// id once, in op order (op, then index), and returns the events' names in stream order.
func checkShardStream(t *testing.T, shardIndex uint32, messages []capturedMessage) []capturedName {
	t.Helper()
	var names []capturedName
	seen := map[string]bool{}
	prefix := fmt.Sprintf("sequent.%d.", shardIndex)
	for i, m := range messages {
		e := &m.event
		if e.Shard != shardIndex || !strings.HasPrefix(m.subject, prefix) ||
			!strings.HasPrefix(m.id, fmt.Sprintf("%d:%d:%d:", shardIndex, e.Op, e.Index)) ||
			m.id != e.ID {
			t.Fatalf("shard %d's stream holds %s (subject %s, shard %d, op %d, index %d)",
				shardIndex, m.id, m.subject, e.Shard, e.Op, e.Index)
		}
		if seen[m.id] {
			t.Fatalf("shard %d: event %s is in the stream twice", shardIndex, m.id)
		}
		seen[m.id] = true
		if i > 0 {
			before := &messages[i-1].event
			if e.Op < before.Op || (e.Op == before.Op && e.Index <= before.Index) {
				t.Fatalf("shard %d: event %s follows %s: not in op order", shardIndex, m.id,
					before.ID)
			}
		}
		switch {
		case e.Account != nil:
			names = append(names, capturedName{e.Kind, e.Account.ID})
		case e.Transfer != nil:
			names = append(names, capturedName{e.Kind, e.Transfer.ID})
		default:
			t.Fatalf("shard %d: unexpected message %s (%s)", shardIndex, m.id, e.Kind)
		}
	}
	return names
}

// captureShardsNode is a node of two shards with capture, started in process: accounts
// below 100 on shard 0, from 100 on shard 1.
type captureShardsNode struct {
	t       *testing.T
	options serveOptions
	running *runningNode
	client  *client.Client
	secret  string // The development key's secret (hex).
}

func (n *captureShardsNode) start() {
	n.t.Helper()
	running, err := startNode(context.Background(), &n.options, io.Discard, io.Discard)
	if err != nil {
		n.t.Fatal(err)
	}
	n.running = running
	secret, _ := hex.DecodeString(n.secret)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.client, err = client.Dial(ctx, client.Config{Addresses: []string{running.server.Address()},
		Client: 1, Key: 1, Secret: secret, DialTimeout: 10 * time.Second})
	if err != nil {
		n.t.Fatal(err)
	}
}

func (n *captureShardsNode) stop() {
	n.client.Close()
	if err := n.running.stop(); err != nil {
		n.t.Fatal(err)
	}
	n.running = nil
}

// transfer sends one transfer on ledger 1 and requires status.
func (n *captureShardsNode) transfer(id, debit, credit uint64, status model.Status) {
	n.t.Helper()
	n.transferOn(1, id, debit, credit, status)
}

// transferOn sends one transfer of amount 1 on ledger and requires status.
func (n *captureShardsNode) transferOn(ledger uint32, id, debit, credit uint64,
	status model.Status) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := n.client.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(id),
		DebitAccountID: model.U128(debit), CreditAccountID: model.U128(credit),
		Amount: model.U128(1), Ledger: ledger, Code: 1}})
	if err != nil || len(results) != 1 || results[0].Status != status {
		n.t.Fatalf("transfer %d (%d → %d): %v %+v, want %s", id, debit, credit, err, results,
			status)
	}
}

// awaitStreams waits until shard 0's and shard 1's streams hold exactly the names of
// want[0] and want[1], in that order, each stream checked by checkShardStream.
func awaitStreams(t *testing.T, url string, want [2][]capturedName) {
	t.Helper()
	var got [2][]capturedName
	deadline := time.Now().Add(captureShardsWait)
	for {
		for index := range got {
			got[index] = checkShardStream(t, uint32(index),
				readCaptureStream(t, url, fmt.Sprintf("SEQUENT_%d", index)))
		}
		if slices.Equal(got[0], want[0]) && slices.Equal(got[1], want[1]) {
			return
		}
		for index := range got {
			if len(got[index]) > len(want[index]) {
				t.Fatalf("shard %d's stream holds more than was released:\n got %v\nwant %v",
					index, got[index], want[index])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the streams do not hold the events released:\nshard 0 got %v\n"+
				"       want %v\nshard 1 got %v\n       want %v", got[0], want[0], got[1],
				want[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sagaEvents are the events of one cross-shard transfer id (amount 1) on ledger from
// debit shard from to credit shard to, the saga's seq-th on from: on the debit shard its
// pending step 1 into the pair's settlement account and the step 3 that posts it (or
// voids it when the credit shard refused); on the credit shard, when it accepted, the
// transfer C out of the settlement account. The pair's settlement account is created on
// each side by the first saga that needs it (newPair), on the credit shard even when it
// refuses the credit.
func sagaEvents(ledger uint32, id uint64, from, to uint16, seq uint64, accepted,
	newPair bool) (debitSide, creditSide, debitFinish []capturedName) {
	settlement := saga.SettlementAccountID(from, to, ledger).String()
	if newPair {
		debitSide = append(debitSide, capturedName{"account_created", settlement})
	}
	debitSide = append(debitSide, capturedName{"transfer_created", fmt.Sprint(id)})
	if newPair {
		creditSide = append(creditSide, capturedName{"account_created", settlement})
	}
	if accepted {
		creditSide = append(creditSide, capturedName{"transfer_created",
			saga.CreditTransferID(from, seq).String()})
		debitFinish = []capturedName{{"transfer_posted", saga.PostTransferID(to, seq).String()}}
	} else {
		debitFinish = []capturedName{{"transfer_voided", saga.VoidTransferID(to, seq).String()}}
	}
	return debitSide, creditSide, debitFinish
}

// TestCaptureEveryShard runs a node of two shards with change capture into an embedded
// nats-server. Accounts on both shards, transfers local to each shard, crossing either
// way, and one the credit shard refuses (compensated by a void): each shard's stream
// holds exactly its own shard's events (shard in subject, id and JSON), once, in op
// order, and a cross-shard transfer shows as its saga steps on each side. Then a restart
// of the node: both streams resume, no event twice, none missing. Then shard 1's stream
// stops accepting its subjects (its capture fails every publish): shard 0's capture keeps
// publishing, both shards keep acknowledging, the status and health name shard 1's
// capture as lagging and shard 0's not; once the stream accepts again shard 1's capture
// catches up, again exactly once.
func TestCaptureEveryShard(t *testing.T) {
	dir := t.TempDir()
	nats := natstest.Start(t, dir+"/nats", "127.0.0.1:0")
	url := nats.ClientURL()
	if err := os.MkdirAll(dir+"/data", 0o755); err != nil {
		t.Fatal(err)
	}
	dev, err := netio.GenerateDevKeys(node.Layout{Dir: dir + "/data"}.KeysPath())
	if err != nil {
		t.Fatal(err)
	}
	n := &captureShardsNode{t: t, options: defaultServeOptions(), secret: dev.Secret}
	n.options.data, n.options.address, n.options.logLevel = dir+"/data", "127.0.0.1:0", "error"
	n.options.accountsCapacity, n.options.transfersCapacity = 1024, 1<<12
	n.options.placement.Shards, n.options.placement.Placement = 2, "range"
	n.options.placement.Ranges = "0,100"
	n.options.capture.url, n.options.capture.lagWarning = url, 300*time.Millisecond
	n.start()
	defer func() {
		if n.running != nil {
			n.stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1}, {ID: model.U128(3), Ledger: 2, Code: 1},
		{ID: model.U128(100), Ledger: 1, Code: 1}, {ID: model.U128(101), Ledger: 1, Code: 1}}
	if results, err := n.client.CreateAccounts(ctx, accounts); err != nil ||
		slices.ContainsFunc(results, func(r model.EventResult) bool { return r.Status != model.StatusOK }) {
		t.Fatalf("accounts: %v %+v", err, results)
	}
	var want [2][]capturedName
	add := func(shardIndex int, names ...capturedName) {
		want[shardIndex] = append(want[shardIndex], names...)
	}
	add(0, capturedName{"account_created", "1"}, capturedName{"account_created", "2"},
		capturedName{"account_created", "3"})
	add(1, capturedName{"account_created", "100"}, capturedName{"account_created", "101"})
	local := func(id, debit, credit uint64, shardIndex int) {
		n.transfer(id, debit, credit, model.StatusOK)
		add(shardIndex, capturedName{"transfer_created", fmt.Sprint(id)})
	}
	// cross sends a cross-shard transfer and adds its saga's events: the reply comes once
	// step 3 is final, so every step is in its shard's log by then.
	crossOn := func(ledger uint32, id, debit, credit uint64, from, to uint16, seq uint64,
		status model.Status, newPair bool) {
		n.transferOn(ledger, id, debit, credit, status)
		debitSide, creditSide, finish := sagaEvents(ledger, id, from, to, seq,
			status == model.StatusOK, newPair)
		add(int(from), debitSide...)
		add(int(to), creditSide...)
		add(int(from), finish...)
	}
	cross := func(id, debit, credit uint64, from, to uint16, seq uint64, status model.Status,
		newPair bool) {
		crossOn(1, id, debit, credit, from, to, seq, status, newPair)
	}
	local(10, 1, 2, 0)
	local(11, 100, 101, 1)
	cross(12, 1, 100, 0, 1, 1, model.StatusOK, true)
	cross(13, 101, 2, 1, 0, 1, model.StatusOK, true)
	cross(14, 2, 150, 0, 1, 2, model.StatusCreditAccountNotFound, false) // Voided on shard 0.
	cross(15, 2, 101, 0, 1, 3, model.StatusOK, false)
	// The first saga on ledger 2 is refused: both sides still create the pair's account.
	crossOn(2, 16, 3, 150, 0, 1, 4, model.StatusCreditAccountNotFound, true)
	awaitStreams(t, url, want)
	checkSagaContents(t, url)

	// A restart: both captures resume after the last event of their own stream. Each
	// message expects the stream's last sequence, so a capture resuming too early would
	// get duplicates refused (its session failing) instead of a second copy: the new
	// process must have published exactly the new events.
	n.stop()
	before := [2]int{len(want[0]), len(want[1])}
	n.start()
	local(20, 2, 1, 0)
	cross(21, 100, 1, 1, 0, 2, model.StatusOK, false)
	local(22, 101, 100, 1)
	awaitStreams(t, url, want)
	for index, c := range n.running.opsSnapshot().Captures {
		if c.Published != uint64(len(want[index])-before[index]) {
			t.Fatalf("shard %d's capture published %d events after the restart, want %d "+
				"(last error %q)", index, c.Published, len(want[index])-before[index],
				c.LastError)
		}
	}

	// Shard 1's stream stops capturing its subjects: publishes there find no stream.
	updateSubjects(t, url, "SEQUENT_1", "blocked.1.>")
	local(30, 100, 101, 1)
	cross(31, 1, 101, 0, 1, 5, model.StatusOK, false)
	local(32, 1, 2, 0)
	deadline := time.Now().Add(captureShardsWait)
	for {
		shard0 := checkShardStream(t, 0, readCaptureStream(t, url, "SEQUENT_0"))
		snapshot := n.running.opsSnapshot()
		if slices.Equal(shard0, want[0]) && shardLagging(snapshot, 1) &&
			!shardLagging(snapshot, 0) {
			checkCaptureStatus(t, snapshot)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard 0 did not publish, or shard 1 is not reported lagging: "+
				"shard 0 got %v, want %v; captures %+v; problems %+v", shard0, want[0],
				snapshot.Captures, snapshot.Problems)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := checkShardStream(t, 1, readCaptureStream(t, url, "SEQUENT_1")); len(got) >=
		len(want[1]) {
		t.Fatalf("shard 1's stream took events while it captured other subjects: %v", got)
	}
	updateSubjects(t, url, "SEQUENT_1", "sequent.1.>")
	awaitStreams(t, url, want)
}

// updateSubjects sets the subjects a stream captures.
func updateSubjects(t *testing.T, url, stream, subjects string) {
	t.Helper()
	connection, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	config := s.CachedInfo().Config
	config.Subjects = []string{subjects}
	if _, err := js.UpdateStream(ctx, config); err != nil {
		t.Fatal(err)
	}
}

// shardLagging reports whether the snapshot shows shard's capture lagging, with its
// capture_lagging problem naming it.
func shardLagging(snapshot ops.Snapshot, shardIndex uint32) bool {
	lagging := false
	for _, c := range snapshot.Captures {
		if c.Shard == shardIndex {
			lagging = c.Lagging
		}
	}
	named := slices.ContainsFunc(snapshot.Problems, func(p ops.Problem) bool {
		return p.Code == ops.ProblemCaptureLagging &&
			strings.HasPrefix(p.Detail, fmt.Sprintf("shard %d: ", shardIndex))
	})
	return lagging && named
}

// checkCaptureStatus requires the status to show a capture per shard, in shard order,
// each on its own stream, and shard 0's as the legacy "capture", and an outbound stream
// "capture" for each shard.
func checkCaptureStatus(t *testing.T, snapshot ops.Snapshot) {
	t.Helper()
	if len(snapshot.Captures) != 2 || snapshot.Capture == nil ||
		snapshot.Capture.Stream != "SEQUENT_0" {
		t.Fatalf("captures %+v, capture %+v", snapshot.Captures, snapshot.Capture)
	}
	for index, c := range snapshot.Captures {
		if c.Shard != uint32(index) || c.Stream != fmt.Sprintf("SEQUENT_%d", index) {
			t.Fatalf("capture %d: %+v", index, c)
		}
		if !slices.ContainsFunc(snapshot.Streams, func(s ops.StreamStats) bool {
			return s.Name == "capture" && s.Shard == uint32(index)
		}) {
			t.Fatalf("no outbound stream capture of shard %d: %+v", index, snapshot.Streams)
		}
	}
}

// checkSagaContents checks what the README says consumers see of cross-shard transfer 12
// (account 1 on shard 0 to account 100 on shard 1, amount 1, saga 1 of shard 0) and of
// 14 (credit account missing): on shard 0 the pending step 1 with the client's id, debit
// account and the settlement account as credit (not a system event), and its post
// (system, pending_id the client's id) or void; on shard 1 the credit out of the
// settlement account into the client's credit account, with the client's code (system).
func checkSagaContents(t *testing.T, url string) {
	t.Helper()
	settlement := saga.SettlementAccountID(0, 1, 1).String()
	find := func(stream, kind, id string) capture.EventJSON {
		t.Helper()
		for _, m := range readCaptureStream(t, url, stream) {
			if m.event.Kind == kind && m.event.Transfer != nil && m.event.Transfer.ID == id {
				return m.event
			}
		}
		t.Fatalf("%s holds no %s %s", stream, kind, id)
		return capture.EventJSON{}
	}
	step1 := find("SEQUENT_0", "transfer_created", "12")
	if x := step1.Transfer; step1.System || x.DebitAccountID != "1" ||
		x.CreditAccountID != settlement || x.Flags != model.TransferPending || x.Amount != "1" {
		t.Errorf("step 1 on shard 0: %+v system %v", *x, step1.System)
	}
	post := find("SEQUENT_0", "transfer_posted", saga.PostTransferID(1, 1).String())
	if !post.System || post.Transfer.PendingID != "12" || post.Transfer.Amount != "1" {
		t.Errorf("step 3 on shard 0: %+v system %v", *post.Transfer, post.System)
	}
	credit := find("SEQUENT_1", "transfer_created", saga.CreditTransferID(0, 1).String())
	if x := credit.Transfer; !credit.System || x.DebitAccountID != settlement ||
		x.CreditAccountID != "100" || x.Code != 1 || x.Amount != "1" {
		t.Errorf("step 2 on shard 1: %+v system %v", *x, credit.System)
	}
	void := find("SEQUENT_0", "transfer_voided", saga.VoidTransferID(1, 2).String())
	if !void.System || void.Transfer.PendingID != "14" {
		t.Errorf("the void of 14 on shard 0: %+v system %v", *void.Transfer, void.System)
	}
}

// TestCaptureClosedWhenStartFails: when a server cannot start after the captures of a
// node of two shards started (the protocol address taken; or the API's, which an
// in-process caller such as bench --embedded has not bound beforehand, after the protocol
// server started), startNode closes every capture before it returns the error: no
// capture publisher goroutine is left running (a left one would keep a NATS connection
// and reconnect for the life of the process); and in the second case it stops the
// protocol server too, whose address is free again. Close and Shutdown wait for what they
// stop, so the checks need no wait.
func TestCaptureClosedWhenStartFails(t *testing.T) {
	dir := t.TempDir()
	nats := natstest.Start(t, dir+"/nats", "127.0.0.1:0")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, test := range []struct {
		name   string
		change func(o *serveOptions)
	}{
		{"protocol address taken", func(o *serveOptions) { o.address = taken.Addr().String() }},
		{"API address taken", func(o *serveOptions) { o.api.address = taken.Addr().String() }},
	} {
		options := defaultServeOptions()
		options.data, options.address = t.TempDir(), testport.Address(t)
		options.logLevel, options.accountsCapacity, options.transfersCapacity = "error", 1024,
			1<<12
		options.placement.Shards = 2
		options.capture.url = nats.ClientURL()
		test.change(&options)
		if before := captureGoroutines(); before != 0 {
			t.Fatalf("%s: %d capture goroutines before the start", test.name, before)
		}
		running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
		if err == nil {
			running.stop()
			t.Fatalf("%s: the node started", test.name)
		}
		if left := captureGoroutines(); left != 0 {
			t.Fatalf("%s: %d capture publisher goroutines left running after the failed "+
				"start (%v)", test.name, left, err)
		}
		if options.address != taken.Addr().String() {
			free, err := net.Listen("tcp", options.address)
			if err != nil {
				t.Fatalf("%s: the protocol server still holds %s after the failed start: %v",
					test.name, options.address, err)
			}
			free.Close()
		}
	}
}

// captureGoroutines counts the goroutines running a capture's publisher.
func captureGoroutines() int {
	buffer := make([]byte, 1<<22)
	stacks := string(buffer[:runtime.Stack(buffer, true)])
	return strings.Count(stacks, "sequent/netio/capture.(*Capture).run(")
}
