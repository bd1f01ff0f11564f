package capture

import (
	"errors"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/event"
	"sequent/core/model"
)

// keptUpSink is a JetStream whose asynchronous publishes are acknowledged at once, as
// a server that keeps ahead of the publisher acknowledges them: each future's ack is
// already there, stored at the sequence the message expects plus one.
type keptUpSink struct {
	jetstream.JetStream
	published int
}

type keptUpFuture struct {
	ok      chan *jetstream.PubAck
	failed  chan error
	message *nats.Msg
}

func (f *keptUpFuture) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *keptUpFuture) Err() <-chan error            { return f.failed }
func (f *keptUpFuture) Msg() *nats.Msg               { return f.message }

func (s *keptUpSink) PublishMsgAsync(message *nats.Msg, _ ...jetstream.PublishOpt) (
	jetstream.PubAckFuture, error) {
	expected, err := strconv.ParseUint(message.Header.Get(jetstream.ExpectedLastSeqHeader), 10, 64)
	if err != nil {
		return nil, err
	}
	s.published++
	f := &keptUpFuture{ok: make(chan *jetstream.PubAck, 1), failed: make(chan error, 1),
		message: message}
	f.ok <- &jetstream.PubAck{Stream: "S", Sequence: expected + 1}
	return f, nil
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
	sink := &keptUpSink{}
	c.js = sink
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
