package capture

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/event"
	"sequent/core/model"
)

// keptUpSink is a connection whose publishes are acknowledged at once, as a server that
// keeps ahead of the publisher acknowledges them: each message's reply is already on the
// capture's reply channel, stored at the sequence the message expects plus one.
type keptUpSink struct {
	stream    string
	replies   chan *nats.Msg
	published int
}

func (s *keptUpSink) PublishMsg(message *nats.Msg) error {
	expected, err := strconv.ParseUint(message.Header.Get(jetstream.ExpectedLastSeqHeader), 10, 64)
	if err != nil {
		return err
	}
	s.published++
	s.replies <- &nats.Msg{Subject: message.Reply,
		Data: fmt.Appendf(nil, `{"stream":%q,"seq":%d}`, s.stream, expected+1)}
	return nil
}

// TestStopEndsFullWindowWhileAcksKeepUp_review51 (review51 claim 1): awaitOne's new fast
// path takes an acknowledgement that is already there without looking at c.stop, and
// awaitOne is the only place a batch of publish (the live queue, up to QueueEventsMax
// events, or a rebuild's whole drain of the log) notices Close. Before capturespeed51 the
// select held the ack and the stop together (either taken when both were ready), so a
// stopped capture stopped within a few messages once its window was full; since, while
// the server keeps ahead of the publisher (the acknowledgement there at 999 of 1,000
// waits, bench/PERFORMANCE.md), Close waits for the whole batch to be published.
func TestStopEndsFullWindowWhileAcksKeepUp_review51(t *testing.T) {
	const events, batchMax = 1000, 4
	var buffer event.Buffer
	buffer.BeginOp(2)
	for i := range events {
		buffer.AppendTransfer(event.KindTransferCreated, &model.Transfer{
			ID: model.U128(uint64(10 + i)), DebitAccountID: model.U128(1),
			CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1},
			model.Balance{}, model.Balance{})
	}
	c := New(Config{Shard: 1, BatchMax: batchMax, Released: func() uint64 { return 2 }})
	sink := &keptUpSink{stream: c.stream, replies: c.replies}
	c.sender = sink
	c.Close() // Never started: only closes c.stop, as Close does before it waits.
	err := c.publish(&buffer, []release{{end: events, epoch: 1}})
	if !errors.Is(err, errStopped) {
		t.Errorf("publish after Close returned %v, want %v", err, errStopped)
	}
	if sink.published >= events {
		t.Errorf("a stopped capture published all %d events (window %d): Close waits for "+
			"the whole batch while the acknowledgements keep up", sink.published, batchMax)
	}
}
