package capture

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// benchRoundRequests is how many requests of benchEventsPerOp transfers one round of
// BenchmarkCaptureVersusPublish submits: its capture half publishes that many times
// benchEventsPerOp events, and its publisher halves as many messages.
const benchRoundRequests = 20

// benchBatchMessages is `nats bench js pub async`'s --batch as the README's command ran
// it: that many asynchronous publishes, then a wait for all their acknowledgements.
const benchBatchMessages = 500

// benchAckWait bounds a baseline's wait for its acknowledgements: a hang guard only.
const benchAckWait = time.Minute

// BenchmarkCaptureVersusPublish measures capture's throughput against a bare JetStream
// publisher in the same run, alternated round by round (the order swapped every round),
// so that both see the same load of a shared machine. One op is one round: capture
// publishes benchRoundRequests requests of benchEventsPerOp transfers through a real
// shard (log fsynced, events applied, encoded, published with message ids and expected
// sequence and message id, acknowledged), then or before that the publisher sends as
// many messages of the same subject and bytes (a transfer_created event as capture
// encodes it) to a stream of its own on the same server, without headers, two ways:
// "window" keeps up to BatchMaxDefault in flight (the client's pending bound), "batch"
// publishes benchBatchMessages and waits for all of them, as `nats bench js pub async
// --batch 500` does. Each round's ratio is capture's events/s over the publisher's
// messages/s; the median and the extremes are reported (ratio-window-median, …), with the
// process's CPU time per message of each half (cpu-us/msg: the embedded server's
// included, and capture's shard: sequencer, log, apply), which the machine's load
// moves far less than the rates.
//
// The nats-server is embedded (file storage under the benchmark's temporary directory),
// or SEQUENT_BENCH_NATS_URL's when set (to compare with `nats bench` on that server); the
// benchmark deletes its two streams when done, and fails if the server refused any of the
// baseline's messages.
//
//	go test ./netio/capture -run '^$' -bench CaptureVersusPublish -benchtime 10x
func BenchmarkCaptureVersusPublish(b *testing.B) {
	url := os.Getenv("SEQUENT_BENCH_NATS_URL")
	if url == "" {
		url = natstest.Start(b, b.TempDir(), "127.0.0.1:0").ClientURL()
	}
	unique := time.Now().UnixNano()
	// Registered before the capture and the publisher: run after they are closed, so
	// that neither makes its stream again (a server of one's own would keep them).
	var streams []string
	b.Cleanup(func() { deleteStreams(b, url, streams) })
	rig := newCaptureRigAt(b, b.TempDir(), url, "BENCHCAPTURE"+itoa(unique),
		"benchcapture"+itoa(unique), 0)
	streams = append(streams, rig.capture.StreamName())
	rig.accounts()
	rig.waitPublished(2)
	publisher := newBenchPublisher(b, url, "BENCHPUBLISH"+itoa(unique), "benchpublish"+itoa(unique))
	streams = append(streams, publisher.stream)
	const messages = benchRoundRequests * benchEventsPerOp
	var captureRates, windowRates, batchRates, windowRatios, batchRatios []float64
	var captureCPU, windowCPU, batchCPU []float64
	nextID, stored := uint64(1), uint64(2)
	measureCapture := func() {
		start, cpuStart := time.Now(), processCPU(b)
		rig.transfers(nextID, benchRoundRequests, benchEventsPerOp)
		nextID += messages
		stored += messages
		rig.waitPublished(stored)
		captureRates = append(captureRates, messages/time.Since(start).Seconds())
		captureCPU = append(captureCPU, (processCPU(b)-cpuStart).Seconds()*1e6/messages)
	}
	b.ResetTimer()
	for round := range b.N {
		if round%2 == 1 {
			measureCapture()
		}
		cpuStart := processCPU(b)
		windowRates = append(windowRates, publisher.window(b, messages))
		cpuMiddle := processCPU(b)
		batchRates = append(batchRates, publisher.batch(b, messages))
		windowCPU = append(windowCPU, (cpuMiddle-cpuStart).Seconds()*1e6/messages)
		batchCPU = append(batchCPU, (processCPU(b)-cpuMiddle).Seconds()*1e6/messages)
		if round%2 == 0 {
			measureCapture()
		}
		windowRatios = append(windowRatios, captureRates[round]/windowRates[round])
		batchRatios = append(batchRatios, captureRates[round]/batchRates[round])
	}
	b.StopTimer()
	for _, figure := range []struct {
		name   string
		values []float64
	}{{"capture-events/s", captureRates}, {"window-msgs/s", windowRates},
		{"batch-msgs/s", batchRates}, {"capture-cpu-us/msg", captureCPU},
		{"window-cpu-us/msg", windowCPU}, {"batch-cpu-us/msg", batchCPU}} {
		b.ReportMetric(median(figure.values), figure.name+"-median")
	}
	for _, figure := range []struct {
		name   string
		values []float64
	}{{"ratio-window", windowRatios}, {"ratio-batch", batchRatios}} {
		b.ReportMetric(median(figure.values), figure.name+"-median")
		b.ReportMetric(slices.Min(figure.values), figure.name+"-min")
		b.ReportMetric(slices.Max(figure.values), figure.name+"-max")
	}
	if stats := rig.capture.Stats(); stats.Rebuilds > 1 || stats.FellBehind > 0 {
		b.Logf("note: capture rebuilt %d times, fell behind %d times", stats.Rebuilds,
			stats.FellBehind)
	}
}

// benchPublisher is the baseline: a bare JetStream publisher of capture's message bytes.
type benchPublisher struct {
	connection *nats.Conn
	js         jetstream.JetStream
	stream     string
	subject    string
	payload    []byte
	// refused counts the publishes the server answered with an error (or none in time),
	// firstRefusal names the first: PublishAsyncComplete closes for them too.
	refused      atomic.Int64
	firstRefusal atomic.Value
}

func newBenchPublisher(b *testing.B, url, stream, prefix string) *benchPublisher {
	connection, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(connection.Close)
	p := &benchPublisher{connection: connection, stream: stream}
	// The handler runs only for a refused publish: the baseline's cost is unchanged.
	js, err := jetstream.New(connection, jetstream.WithPublishAsyncMaxPending(BatchMaxDefault),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			p.firstRefusal.CompareAndSwap(nil, err.Error())
			p.refused.Add(1)
		}))
	if err != nil {
		b.Fatal(err)
	}
	p.js = js
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream,
		Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	buffer := sampleTransferBuffer()
	e := &buffer.Events[0]
	p.subject = string(appendSubject(nil, prefix, 0, buffer, e))
	p.payload = appendEvent(nil, 0, buffer, e, 1)
	return p
}

// window publishes messages keeping up to BatchMaxDefault in flight and returns the
// messages per second, once all are acknowledged.
func (p *benchPublisher) window(b *testing.B, messages int) float64 {
	start := time.Now()
	for range messages {
		if _, err := p.js.PublishAsync(p.subject, p.payload,
			jetstream.WithStallWait(benchAckWait)); err != nil {
			b.Fatal(err)
		}
	}
	p.complete(b)
	return float64(messages) / time.Since(start).Seconds()
}

// batch publishes messages benchBatchMessages at a time, each batch acknowledged before
// the next, and returns the messages per second.
func (p *benchPublisher) batch(b *testing.B, messages int) float64 {
	start := time.Now()
	for sent := 0; sent < messages; {
		for range min(benchBatchMessages, messages-sent) {
			if _, err := p.js.PublishAsync(p.subject, p.payload,
				jetstream.WithStallWait(benchAckWait)); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		p.complete(b)
	}
	return float64(messages) / time.Since(start).Seconds()
}

// complete waits until every publish is settled and fails the benchmark if the server
// refused any: a rate of messages not stored is no baseline.
func (p *benchPublisher) complete(b *testing.B) {
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(benchAckWait):
		b.Fatal("acknowledgements missing")
	}
	if refused := p.refused.Load(); refused > 0 {
		b.Fatalf("the server refused %d of the baseline's publishes (the first: %v)", refused,
			p.firstRefusal.Load())
	}
}

// deleteStreams deletes the benchmark's streams from the server at url (one named by
// SEQUENT_BENCH_NATS_URL keeps them otherwise, with all their messages).
func deleteStreams(b *testing.B, url string, streams []string) {
	if len(streams) == 0 {
		return
	}
	connection, err := nats.Connect(url)
	if err != nil {
		b.Errorf("deleting the benchmark's streams %v: %v", streams, err)
		return
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		b.Errorf("deleting the benchmark's streams %v: %v", streams, err)
		return
	}
	for _, stream := range streams {
		ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
		if err := js.DeleteStream(ctx, stream); err != nil &&
			!errors.Is(err, jetstream.ErrStreamNotFound) {
			b.Errorf("deleting the benchmark's stream %s: %v", stream, err)
		}
		cancel()
	}
}

func median(values []float64) float64 {
	sorted := slices.Sorted(slices.Values(values))
	if len(sorted)%2 == 1 {
		return sorted[len(sorted)/2]
	}
	return (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
}

func itoa(value int64) string { return strconv.FormatInt(value, 10) }

// processCPU returns the CPU time the process has used (user and system).
func processCPU(b *testing.B) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
