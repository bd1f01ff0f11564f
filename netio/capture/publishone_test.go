package capture

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/core/event"
	"sequent/core/model"
)

// recordingSink is a connection whose publish keeps the messages it is given and sends
// nothing.
type recordingSink struct {
	messages []*nats.Msg
}

func (s *recordingSink) PublishMsg(message *nats.Msg) error {
	// A copy, as the connection copies it: capture reuses the message.
	header := nats.Header{}
	for name, values := range message.Header {
		header[name] = slices.Clone(values)
	}
	s.messages = append(s.messages, &nats.Msg{Subject: message.Subject, Reply: message.Reply,
		Header: header, Data: slices.Clone(message.Data)})
	return nil
}

// TestPublishOneSubjectAndHeaders: publishOne cuts an event's subject, message id and
// expected sequence out of one string; each message must still carry its own subject,
// Nats-Msg-Id (shard:op:index:epoch), Nats-Expected-Last-Sequence and, after the
// session's first message, Nats-Expected-Last-Msg-Id naming the message before it.
func TestPublishOneSubjectAndHeaders(t *testing.T) {
	var buffer event.Buffer
	buffer.BeginOp(41)
	for i, accounts := range [][2]uint64{{1, 2}, {30, 4000}} {
		buffer.AppendTransfer(event.KindTransferCreated, &model.Transfer{
			ID: model.U128(uint64(10 + i)), DebitAccountID: model.U128(accounts[0]),
			CreditAccountID: model.U128(accounts[1]), Amount: model.U128(1), Ledger: 7, Code: 1},
			model.Balance{}, model.Balance{})
	}
	c := New(Config{Shard: 3})
	sink := &recordingSink{}
	c.sender = sink
	for i := range buffer.Events {
		if _, err := c.publishOne(&buffer, &buffer.Events[i], 5, uint64(99+i)); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct{ subject, id, expected, previous string }{
		{"sequent.3.ledger.7.transfer_created.1.2", "3:41:0:5", "99", ""},
		{"sequent.3.ledger.7.transfer_created.30.4000", "3:41:1:5", "100", "3:41:0:5"},
	}
	if len(sink.messages) != len(want) {
		t.Fatalf("%d messages published, want %d", len(sink.messages), len(want))
	}
	for i, w := range want {
		m := sink.messages[i]
		if m.Subject != w.subject {
			t.Errorf("message %d: subject %q, want %q", i, m.Subject, w.subject)
		}
		for _, header := range []struct{ name, value string }{
			{jetstream.MsgIDHeader, w.id}, {jetstream.ExpectedLastSeqHeader, w.expected},
			{jetstream.ExpectedLastMsgIDHeader, w.previous}} {
			if got := m.Header.Get(header.name); got != header.value {
				t.Errorf("message %d: %s %q, want %q", i, header.name, got, header.value)
			}
			if values := m.Header.Values(header.name); header.value != "" && len(values) != 1 {
				t.Errorf("message %d: %s has %d values, want 1", i, header.name, len(values))
			}
		}
		if len(m.Header) != 2 && i == 0 || len(m.Header) != 3 && i > 0 {
			t.Errorf("message %d: headers %v", i, m.Header)
		}
	}
	if c.sentID != "3:41:1:5" {
		t.Errorf("sentID %q after the second message, want 3:41:1:5", c.sentID)
	}
}
