package capture

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/event"
	"sequent/core/model"
	"sequent/tools/natstest"
)

// TestReusedMessageAcrossAReconnect (review52, checked fine): capture reuses one
// nats.Msg, its header map and header values for every event; nats.go buffers what is
// published while it reconnects (to another server of a list) and sends it later. Each
// message that arrives, sent while reconnecting, carries its own payload with its own
// Nats-Msg-Id and expected sequence: the client copies the bytes at PublishMsg.
func TestReusedMessageAcrossAReconnect(t *testing.T) {
	first := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	second := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	c := New(Config{URL: first.ClientURL() + "," + second.ClientURL(),
		Released: func() uint64 { return 5 }})
	t.Cleanup(c.disconnect)
	startSessionByHand(t, c)
	gone, other := first, second
	if c.connection.ConnectedUrl() == second.ClientURL() {
		gone, other = second, first
	}
	watcher, err := nats.Connect(other.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	received := make(chan *nats.Msg, 16)
	if _, err := watcher.ChanSubscribe(SubjectPrefixDefault+".>", received); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	gone.Shutdown()
	for deadline := time.Now().Add(10 * time.Second); c.connection.Status() != nats.RECONNECTING; {
		if time.Now().After(deadline) {
			t.Fatalf("status %v, want reconnecting", c.connection.Status())
		}
		time.Sleep(time.Millisecond)
	}
	buffer := &event.Buffer{}
	for op := uint64(1); op <= 3; op++ {
		buffer.BeginOp(op)
		buffer.AppendTransfer(event.KindTransferCreated, &model.Transfer{ID: model.U128(op),
			DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
			Amount: model.U128(op), Ledger: 1, Code: 1, Timestamp: 1_700_000_000_000_000_000},
			model.Balance{}, model.Balance{})
	}
	for i := range buffer.Events {
		if _, err := c.publishOne(buffer, &buffer.Events[i], 1, uint64(40+i)); err != nil {
			t.Fatalf("publish while reconnecting: %v", err)
		}
	}
	for i := range buffer.Events {
		var message *nats.Msg
		select {
		case message = <-received:
		case <-time.After(20 * time.Second):
			t.Fatalf("message %d never arrived after the reconnection", i)
		}
		var body struct {
			ID string `json:"id"`
			Op uint64 `json:"op"`
		}
		if err := json.Unmarshal(message.Data, &body); err != nil {
			t.Fatal(err)
		}
		if body.Op != uint64(i+1) || message.Header.Get(jetstream.MsgIDHeader) != body.ID ||
			message.Header.Get(jetstream.ExpectedLastSeqHeader) != strconv.Itoa(40+i) {
			t.Errorf("message %d: op %d id %s, headers %v", i, body.Op, body.ID, message.Header)
		}
	}
}
