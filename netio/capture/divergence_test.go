package capture

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// replica is one node's log and the machine recovered from it.
type replica struct {
	t   *testing.T
	log *wal.Log
	// snapshotDir is where the shard and its capture find snapshots ("": none).
	snapshotDir string
}

func openReplica(t *testing.T, dir string) *replica {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return &replica{t: t, log: log}
}

// copyFrom appends the exact stored entries of source through op, as a standby holds
// what its primary streamed.
func (r *replica) copyFrom(source *replica, through uint64) {
	r.t.Helper()
	r.copyRange(source, 0, through)
}

// copyRange appends the exact stored entries of source after op after, through op through.
func (r *replica) copyRange(source *replica, after, through uint64) {
	r.t.Helper()
	stop := errors.New("through")
	err := source.log.ReadStored(after, func(stored []byte, meta wal.EntryMeta) error {
		if meta.FirstOp > through {
			return stop
		}
		return r.log.AppendStored(stored)
	})
	if err != nil && !errors.Is(err, stop) {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); r.log.Durable() < r.log.LastOp(); {
		if time.Now().After(deadline) { // A hang guard, not a timing assertion.
			r.t.Fatalf("the copied log never became durable: %d of %d", r.log.Durable(),
				r.log.LastOp())
		}
		time.Sleep(time.Millisecond)
	}
}

// serve runs the replica as the primary of epoch with a capture publishing to url,
// writes one create_accounts request per batch (the first run of an empty log grants
// client 7 the operator scope first, as op 1), waits until capture has handled every
// op, and stops. It returns the capture's stats.
func (r *replica) serve(url string, epoch uint64, batches ...[]uint64) Stats {
	t := r.t
	t.Helper()
	machine, _, err := shard.Recover(testMachine, r.log, r.snapshotDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shard.New(shard.Config{Epoch: epoch}, machine, r.log)
	if err != nil {
		t.Fatal(err)
	}
	if machine.OpLast() == 0 {
		if err := s.SetGrants(model.AppendGrants(nil,
			[]model.Grant{{Client: 7, Scopes: model.ScopeOperator}})); err != nil {
			t.Fatal(err)
		}
	}
	c := New(Config{URL: url, Log: r.log, SnapshotDir: r.snapshotDir, Machine: testMachine,
		Released: s.Released, Epoch: s.Epoch})
	if url != "" { // No URL: the log only, without capture.
		s.AddConsumer(c, c)
		c.Start()
		defer c.Close()
	}
	replier := &nullReplier{}
	s.Start(shard.RepliesOnly(replier))
	defer s.Close()
	for number, ids := range batches {
		body := make([]byte, len(ids)*model.AccountSize)
		for i, id := range ids {
			(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body[i*model.AccountSize:])
		}
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: epoch,
			Number: uint64(number) + 1, Operation: model.OperationCreateAccounts,
			Body: body}); status != model.StatusOK {
			t.Fatal(status)
		}
		// One entry per request: wait for its reply before sending the next.
		for deadline := time.Now().Add(time.Minute); replier.replies.Load() < uint64(number)+1; {
			if time.Now().After(deadline) { // A hang guard, not a timing assertion.
				t.Fatalf("no reply to request %d", number+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for s.Released() < r.log.LastOp() ||
		(url != "" && c.ConsumerStats().HandledOp < r.log.LastOp()) {
		if time.Now().After(deadline) {
			t.Fatalf("capture never handled op %d: %+v", r.log.LastOp(), c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return c.Stats()
}

// streamMessages returns every message the shard's stream holds, decoded, in order.
func streamMessages(t *testing.T, url string) []EventJSON {
	t.Helper()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	stream, err := js.Stream(context.Background(), StreamDefault+"_0")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var messages []EventJSON
	for sequence := max(info.State.FirstSeq, 1); sequence <= info.State.LastSeq; sequence++ {
		message, err := stream.GetMsg(context.Background(), sequence)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // Deleted.
		}
		if err != nil {
			t.Fatal(err)
		}
		var e EventJSON
		if err := json.Unmarshal(message.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.ID != message.Header.Get(jetstream.MsgIDHeader) {
			t.Fatalf("message %d: JSON id %q, Nats-Msg-Id %q", sequence, e.ID,
				message.Header.Get(jetstream.MsgIDHeader))
		}
		messages = append(messages, e)
	}
	return messages
}

// accountsCreated returns the ids of the accounts in account_created messages.
func accountsCreated(messages []EventJSON) []string {
	var ids []string
	for _, m := range messages {
		if m.Kind == "account_created" {
			ids = append(ids, m.Account.ID)
		}
	}
	return ids
}

// gapMarkers returns the capture_gap messages among messages.
func gapMarkers(messages []EventJSON) []EventJSON {
	var gaps []EventJSON
	for _, m := range messages {
		if m.Kind == "capture_gap" {
			gaps = append(gaps, m)
		}
	}
	return gaps
}

// TestPromotionAfterDivergence: the old primary (epoch 1) published the events of op 3
// (accounts 3 and 4), which its standby never received (async replication, or a
// degraded primary). The standby, promoted to epoch 2, writes different entries at op 3
// (accounts 5, 6) and op 4 (7, 8). Every event of the new primary's history must reach
// the stream (before, op 3's were skipped: the stream's position said op 3 was
// published), after a capture_superseded message naming op 3 and both epochs.
func TestPromotionAfterDivergence(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2) // The standby received ops 1 and 2 only.
	promoted.serve(url, 2, []uint64{5, 6}, []uint64{7, 8})

	messages := streamMessages(t, url)
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	if got := accountsCreated(messages); !slices.Equal(got, want) {
		t.Fatalf("accounts in the stream %v, want %v (the old primary's 3 and 4, then every "+
			"event of the new primary)", got, want)
	}
	var superseded *EventJSON
	for i := range messages {
		if messages[i].Kind == "capture_superseded" {
			if superseded != nil {
				t.Fatalf("two capture_superseded messages: %+v", messages)
			}
			superseded = &messages[i]
			if i != 4 {
				t.Fatalf("capture_superseded at message %d, want 4 (after op 3's events)", i)
			}
		}
	}
	if superseded == nil || superseded.FromOp != 3 || superseded.ToOp != 3 ||
		superseded.SupersededEpoch != 1 || superseded.Epoch != 2 {
		t.Fatalf("superseded marker %+v: want ops 3-3 of epoch 1 superseded by epoch 2", superseded)
	}
	for _, m := range messages[5:] {
		if m.Epoch != 2 {
			t.Fatalf("%s: epoch %d, want 2 (the new primary's entries)", m.ID, m.Epoch)
		}
	}

	// The deposed primary comes back believing it still serves (epoch 1): the stream's
	// last message is of epoch 2, so it must publish nothing, least of all a
	// capture_superseded voiding the new primary's events (its log lacks op 4).
	deposed := New(Config{URL: url, Log: old.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 1 }})
	deposed.Start()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for text := deposed.lastError.Load(); text == nil ||
		!strings.Contains(*text, "newer epoch"); text = deposed.lastError.Load() {
		if time.Now().After(deadline) {
			deposed.Close()
			t.Fatalf("the deposed capture never saw the newer epoch: %+v; stream %+v",
				deposed.Stats(), streamMessages(t, url))
		}
		time.Sleep(time.Millisecond)
	}
	deposed.Close()
	if after := streamMessages(t, url); len(after) != len(messages) {
		t.Fatalf("the deposed primary published %+v", after[len(messages):])
	}
}

// TestPromotionInSyncModePublishesOnce: the standby holds exactly the entries the old
// primary published (sync mode), so the promoted node resumes after them: each event
// once, no capture_superseded message, the replicated entries' events with their own
// epoch (1) and the new ones with 2.
func TestPromotionInSyncModePublishesOnce(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4})
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 3)
	promoted.serve(url, 2, []uint64{5, 6})

	messages := streamMessages(t, url)
	want := []string{"1", "2", "3", "4", "5", "6"}
	if got := accountsCreated(messages); !slices.Equal(got, want) || len(messages) != len(want) {
		t.Fatalf("stream %+v: want the accounts %v once each and nothing else", messages, want)
	}
	for i, m := range messages {
		if epoch := uint64(1 + i/4); m.Epoch != epoch {
			t.Fatalf("%s: epoch %d, want %d", m.ID, m.Epoch, epoch)
		}
	}
}

// TestFencedCapturePublishesNothing: a primary fenced as its capture's session begins
// (Serving answers true once, then false) may hold released entries the new primary
// lacks; it must not publish one more message. Before, the catch-up from the log did not
// look at the role: it published all of them, and went on publishing whatever the log
// received while fenced.
func TestFencedCapturePublishesNothing(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	alone := openReplica(t, dir+"/alone")
	// A log of ops 1-3 with 4 events, written without capture.
	alone.serve("", 1, []uint64{1, 2}, []uint64{3, 4})
	var calls atomic.Int64
	c := New(Config{URL: url, Log: alone.log, Machine: testMachine,
		Released: func() uint64 { return 3 }, Epoch: func() uint64 { return 1 },
		Serving: func() bool { return calls.Add(1) == 1 }})
	c.Start()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	// Until capture has looked at its role again, or published the whole backlog.
	for calls.Load() < 2 && c.streamSequence.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("capture never checked its role again")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if messages := streamMessages(t, url); len(messages) != 0 {
		t.Fatalf("a fenced capture published %d messages: %+v", len(messages), messages)
	}
}

// TestRestartAfterTheSupersededMarker: when the stream's last message is
// the capture_superseded marker a promoted primary published (its own epoch, naming an
// op of the old primary's epoch that both logs hold), a restart of that capture resumes
// after it: a marker cannot be checked against the log and counts as agreeing, so no
// second marker is published and the node's new events follow. Each capture, closed, leaves no NATS connection behind.
func TestRestartAfterTheSupersededMarker(t *testing.T) {
	dir := t.TempDir()
	server := natstest.Start(t, dir+"/nats", "127.0.0.1:0")
	url := server.ClientURL()
	noClientsLeft := func(when string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); server.NumClients() != 0; {
			if time.Now().After(deadline) { // A hang guard, not a timing assertion.
				t.Fatalf("%s: %d NATS connections still open", when, server.NumClients())
			}
			time.Sleep(time.Millisecond)
		}
	}
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1, 2}, []uint64{3, 4}) // Ops 1 (grants), 2, 3.
	noClientsLeft("after the old primary's capture closed")
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	promoted.serve(url, 2) // Publishes only the marker: ops 1 and 2 are in the stream.
	first := streamMessages(t, url)
	if len(first) != 5 || first[4].Kind != "capture_superseded" {
		t.Fatalf("after the promotion: %+v; want op 2's and op 3's events, then the marker", first)
	}
	// A restart of the promoted node, which then writes op 3 (account 9). Checking the
	// marker against the log (op 2 is of epoch 1, the marker of epoch 2) would publish a
	// second marker with the first one's id: JetStream drops it as a duplicate and the
	// capture would retry that forever, publishing nothing more.
	stats := promoted.serve(url, 2, []uint64{9})
	noClientsLeft("after the restarted capture closed")
	again := streamMessages(t, url)
	if len(again) != len(first)+1 || again[len(first)].Kind != "account_created" ||
		again[len(first)].Account.ID != "9" || stats.Superseded != 0 || stats.LastError != "" {
		t.Fatalf("after the restart: %+v; stats %+v", again[len(first):], stats)
	}
}

// TestDivergenceBeyondTheStreamsLimits: the stream's limits (MaxMsgs 3 here) discarded
// every message older than the ones the promoted node's log disagrees with (op 3's three
// events of epoch 1), so no message left in the stream stands. The new primary cannot
// check what preceded them and assumes it shared op 2: it publishes capture_superseded
// resuming after op 2, then its own ops 3 and 4. (Resuming from the start would publish op 2's
// event again under its old id, which JetStream drops as a duplicate, and the capture
// would retry that forever.)
func TestDivergenceBeyondTheStreamsLimits(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	js, closeConnection := operatorJetStream(t, url)
	defer closeConnection()
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: StreamDefault + "_0", Subjects: []string{"sequent.0.>"}, MaxMsgs: 3,
		Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardOld})
	closeConnection()
	if err != nil {
		t.Fatal(err)
	}
	old := openReplica(t, dir+"/old")
	old.serve(url, 1, []uint64{1}, []uint64{3, 4, 5}) // Ops 1 (grants), 2, 3: 4 events.
	promoted := openReplica(t, dir+"/promoted")
	promoted.copyFrom(old, 2)
	// Ops 3 and 4 of epoch 2 (serve waits until capture has handled the last op; one
	// beyond the old primary's last stored op makes that wait end only once the new
	// history is published, whatever counts as handled before the position is checked).
	stats := promoted.serve(url, 2, []uint64{6}, []uint64{7})
	messages := streamMessages(t, url) // The last three.
	if stats.Superseded != 1 || stats.LastError != "" || stats.StreamSequence != 4+1+2 ||
		len(messages) != 3 || messages[0].Kind != "capture_superseded" ||
		messages[0].Op != 2 || messages[0].FromOp != 3 || messages[0].ToOp != 3 ||
		messages[1].Account == nil || messages[1].Account.ID != "6" || messages[1].Epoch != 2 ||
		messages[2].Account == nil || messages[2].Account.ID != "7" {
		t.Fatalf("stats %+v; last messages %+v", stats, messages)
	}
}
