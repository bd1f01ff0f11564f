package client

import (
	"context"
	"testing"

	"sequent/core/model"
)

// BenchmarkLoneCall: one client, one request at a time, as `sequent bench --inflight 1`
// drives it (bench/worker.go): a one-event create_transfers call with GoInto into a
// reused reply buffer, corked and uncorked around it, its completion taken from a Done
// channel. The transfer has id 0, so the fake shard refuses it at once: the figure is the
// client's and the network layer's, for instruction counts (callgrind) per call.
func BenchmarkLoneCall(b *testing.B) {
	s := startTestServer(b)
	c := s.dial(b, func(config *Config) { config.InflightMax = 1 })
	ctx, cancel := context.WithCancel(context.Background()) // Cancelable, as the bench's.
	defer cancel()
	body := make([]byte, model.TransferSize)
	reply := make([]byte, 0, model.EventResultSize)
	done := make(chan *Call, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Cork()
		c.GoInto(ctx, model.OperationCreateTransfers, 0, body, reply, done)
		c.Uncork()
		call := <-done
		if call.Err != nil || call.Reply.Status != model.StatusOK {
			b.Fatalf("call %d: %v %v", call.Number, call.Err, call.Reply.Status)
		}
		reply = call.Reply.Body
	}
}

// BenchmarkLoneDo: one client, one request at a time through DoInto with LoneReads (the
// caller waits in the client, and reads its own reply while its request is the only one pending:
// lone_read.go), into a reused reply buffer, with a cancelable context.
func BenchmarkLoneDo(b *testing.B) {
	s := startTestServer(b)
	c := s.dial(b, func(config *Config) { config.InflightMax, config.LoneReads = 1, true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := make([]byte, model.TransferSize)
	reply := make([]byte, 0, model.EventResultSize)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		answer, err := c.DoInto(ctx, model.OperationCreateTransfers, 0, body, reply)
		if err != nil || answer.Status != model.StatusOK {
			b.Fatalf("call: %v", err)
		}
		reply = answer.Body
	}
}
