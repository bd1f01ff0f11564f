package capture

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/bench/threadcpu"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/tools/natstest"
)

// benchEventsPerOp is the events of one benchmark op: one request of 1000 transfers.
const benchEventsPerOp = 1000

// sampleTransferBuffer returns a buffer of one op holding one transfer_created event,
// the message the benchmarks publish.
func sampleTransferBuffer() *event.Buffer {
	buffer := &event.Buffer{}
	buffer.BeginOp(1_000_000)
	buffer.AppendTransfer(event.KindTransferCreated, &model.Transfer{ID: model.U128(123456),
		DebitAccountID: model.U128(1), CreditAccountID: model.U128(2), Amount: model.U128(1),
		Ledger: 1, Code: 1, UserData64: 123456, Timestamp: 1_700_000_000_000_000_000},
		model.Balance{DebitsPosted: model.U128(123456)}, model.Balance{CreditsPosted: model.U128(123456)})
	return buffer
}

// sampleMessageBytes is the size of a transfer_created message as capture encodes it.
func sampleMessageBytes() int {
	buffer := sampleTransferBuffer()
	return len(appendEvent(nil, 0, buffer, &buffer.Events[0], 1))
}

// BenchmarkCaptureThroughput compares, in one run, capture publishing a shard's
// transfer events to a local JetStream (file storage) with a bare JetStream publisher
// sending messages of the same size the way `nats bench js pub` does (asynchronous
// publishes, windows of 4096, no message ids), as the baseline. One op is 1000
// events (capture: one request of 1000 transfers through a real shard, log fsynced).
//
//	go test ./netio/capture -run '^$' -bench CaptureThroughput -benchtime 200x -count 3
func BenchmarkCaptureThroughput(b *testing.B) {
	b.Run("jetstream-publish", benchmarkJetStreamPublish)
	b.Run("capture", benchmarkCapture)
}

// BenchmarkCaptureLag measures release → stored in the stream under a steady load
// below capacity: one request of 100 transfers every 20 ms (5,000 events/s, open loop),
// for b.N requests.
//
//	go test ./netio/capture -run '^$' -bench CaptureLag -benchtime 500x
func BenchmarkCaptureLag(b *testing.B) {
	rig := newCaptureRig(b, 0)
	rig.accounts()
	rig.waitPublished(2)
	const perRequest, interval = 100, 20 * time.Millisecond
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		rig.transfers(uint64(1+i*perRequest), 1, perRequest)
	}
	rig.waitPublished(uint64(2 + b.N*perRequest))
	b.StopTimer()
	lag, count := rig.capture.LagQuantiles(50, 99, 100)
	b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(lag[0]*1e3, "lag-p50-ms")
	b.ReportMetric(lag[1]*1e3, "lag-p99-ms")
	b.ReportMetric(lag[2]*1e3, "lag-max-ms")
	b.ReportMetric(float64(count), "entries-measured")
}

func benchmarkJetStreamPublish(b *testing.B) {
	server := natstest.Start(b, b.TempDir(), "127.0.0.1:0")
	connection, err := nats.Connect(server.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer connection.Close()
	js, _ := jetstream.New(connection, jetstream.WithPublishAsyncMaxPending(BatchMaxDefault))
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH",
		Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, sampleMessageBytes())
	b.SetBytes(int64(len(payload) * benchEventsPerOp))
	b.ResetTimer()
	for range b.N {
		for range benchEventsPerOp {
			_, err := js.PublishAsync("bench.0.x", payload, jetstream.WithStallWait(time.Minute))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("acknowledgements missing")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchEventsPerOp)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(payload)), "bytes/message")
}

func benchmarkCapture(b *testing.B) {
	rig := newCaptureRig(b, 0)
	rig.accounts()
	rig.waitPublished(2)
	b.SetBytes(int64(sampleMessageBytes() * benchEventsPerOp))
	b.ResetTimer()
	rig.transfers(1, b.N, benchEventsPerOp)
	rig.waitPublished(uint64(2 + b.N*benchEventsPerOp))
	b.StopTimer()
	lag, count := rig.capture.LagQuantiles(50, 99, 100)
	b.ReportMetric(float64(b.N*benchEventsPerOp)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(lag[0]*1e3, "lag-p50-ms")
	b.ReportMetric(lag[1]*1e3, "lag-p99-ms")
	b.ReportMetric(lag[2]*1e3, "lag-max-ms")
	if stats := rig.capture.Stats(); stats.Rebuilds > 1 || count == 0 {
		b.Logf("note: %d rebuilds, %d entries measured live", stats.Rebuilds, count)
	}
}

// publishSink is a connection whose publish takes the message and sends nothing: what
// capture itself allocates per message, apart from the client.
type publishSink struct {
	parts int // Headers and reply subjects seen: the publish uses what it is given.
}

func (s *publishSink) PublishMsg(message *nats.Msg) error {
	s.parts += len(message.Header) + len(message.Reply)
	return nil
}

// BenchmarkPublishOne measures what capture allocates to hand one event to the NATS
// connection (encoding, subject, id, reply subject, message, headers), in the steady
// state of a session (every message after its first expects the previous one's id).
//
//	go test ./netio/capture -run '^$' -bench PublishOne -benchmem
func BenchmarkPublishOne(b *testing.B) {
	buffer := sampleTransferBuffer()
	c := New(Config{})
	sink := &publishSink{}
	c.sender = sink
	if _, err := c.publishOne(buffer, &buffer.Events[0], 1, 0); err != nil { // sentID set.
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.publishOne(buffer, &buffer.Events[0], 1, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConsumeDrainEntries is how many entries BenchmarkConsume takes in before it empties
// the queue as the publisher would (it must never fill: a full queue drops, which costs
// nothing and would hide what is measured).
const benchConsumeDrainEntries = 1024

// BenchmarkConsume measures what the shard's sequencer spends per released entry of one
// event (an account) in Consume: on a primary (copied into the queue), on a standby
// (noting when it released what its primary has to publish) and on a primary whose
// publisher rebuilds from the log (dropped: the rebuild publishes it; also after the
// queue filled). cpu-ns/entry is the benchmark thread's CPU time (bench/threadcpu): other
// processes' time left out.
//
//	go test ./netio/capture -run '^$' -bench Consume -benchmem
func BenchmarkConsume(b *testing.B) {
	for _, role := range []struct {
		name             string
		serving, rebuild bool
	}{{"primary", true, false}, {"standby", false, false}, {"primary-rebuilding", true, true}} {
		b.Run(role.name, func(b *testing.B) {
			c := New(Config{Serving: func() bool { return role.serving }})
			// primary: a session's live queue is open. standby: the first entry drops the
			// queue (Consume), and every later one finds it lost, as on a real standby,
			// whose publisher never opens one (it starts lost: New). primary-rebuilding:
			// dropped.
			c.lost = role.rebuild
			ready := accountsReady(1, 1, time.Now().UnixNano(), 1)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart := threadcpu.Now()
			for i := range b.N {
				if i%benchConsumeDrainEntries == 0 {
					c.mutex.Lock()
					c.queue.Reset()
					c.releases = c.releases[:0]
					c.mutex.Unlock()
				}
				ready.FirstOp, ready.LastOp = uint64(i+1), uint64(i+1)
				c.Consume(ready)
			}
			cpu := threadcpu.Now() - cpuStart
			b.StopTimer()
			if threadcpu.Supported && cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/entry")
			}
		})
	}
}
