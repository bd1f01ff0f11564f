package capture

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"

	"sequent/bench/threadcpu"
)

// BenchmarkWaitLive measures one pass of the live publisher's wait per acknowledgement
// taken (waitLive under load: every message in flight is acknowledged in turn), without
// NATS: the replies have all arrived, and each is read, parsed and settled. cpu-ns/ack is
// the benchmark thread's CPU time (bench/threadcpu).
//
//	go test ./netio/capture -run '^$' -bench WaitLive -benchmem
func BenchmarkWaitLive(b *testing.B) {
	c := New(Config{Released: func() uint64 { return 0 }})
	c.lost = false // A live session's queue: open, empty.
	c.replyPrefix = "_INBOX.bench."
	c.replies = make(chan *nats.Msg, b.N+1)
	c.inflight = make([]pendingAck, 0, b.N+1)
	for i := range b.N + 1 {
		c.inflight = append(c.inflight, pendingAck{token: uint64(i),
			at: position{op: uint64(i + 1)}, expected: uint64(i)})
		reply := &nats.Msg{Subject: c.replyPrefix + strconv.Itoa(i),
			Data: fmt.Appendf(nil, `{"stream":%q,"seq":%d}`, c.stream, i+1)}
		if i == b.N { // The end: a refusal.
			reply.Data = []byte(`{"error":{"code":503,"err_code":10077,"description":"end"}}`)
		}
		c.replies <- reply
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := threadcpu.Now()
	var refusal *ackError
	if err := c.waitLive(); !errors.As(err, &refusal) || refusal.description != "end" {
		b.Fatal(err)
	}
	cpu := threadcpu.Now() - cpuStart
	b.StopTimer()
	if threadcpu.Supported && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/ack")
	}
}
