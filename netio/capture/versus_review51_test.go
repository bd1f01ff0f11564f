package capture

import (
	"context"
	"flag"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
)

// testJetStream connects to url for a test's own requests.
func testJetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	connection, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(connection.Close)
	js, err := jetstream.New(connection)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestBenchPublisherRejectedPublishes_review51 (review51 claim 2): the baseline of
// BenchmarkCaptureVersusPublish checks only PublishAsync's immediate error and waits for
// PublishAsyncComplete, which closes once every publish is settled, acknowledged or
// refused: a server that refuses the publisher's messages (a full account or stream, a
// limit of the server SEQUENT_BENCH_NATS_URL names) made a fast baseline of messages never
// stored, and a low ratio, where capture's half fails (its waitPublished). Each way of
// the baseline must fail the benchmark when the server refused one of its messages.
func TestBenchPublisherRejectedPublishes_review51(t *testing.T) {
	url := natstest.Start(t, t.TempDir(), "127.0.0.1:0").ClientURL()
	js := testJetStream(t, url)
	for _, way := range []string{"window", "batch"} {
		stream, prefix := "REJECTED"+way, "rejected"+way
		result := testing.Benchmark(func(b *testing.B) {
			if b.N > 1 {
				return // Only the first run publishes (one that passed runs again).
			}
			p := newBenchPublisher(b, url, stream, prefix)
			ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
			defer cancel()
			if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: stream,
				Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage, MaxMsgs: 10,
				Discard: jetstream.DiscardNew}); err != nil {
				t.Error(err)
				return
			}
			if way == "window" {
				p.window(b, 50)
			} else {
				p.batch(b, 50)
			}
		})
		if result.N != 0 {
			t.Errorf("%s: the baseline measured %d messages of which the stream refused 40 "+
				"as a rate, without failing", way, 50)
		}
	}
}

// TestBenchmarkCaptureVersusPublishLeavesNoStreams_review51 (review51 claim 3): with
// SEQUENT_BENCH_NATS_URL (the README's way to compare with `nats bench` on a server of
// one's own) every run of BenchmarkCaptureVersusPublish left two file streams on that
// server, capture's and the publisher's, with all their messages (about 12 MB a round,
// 130 MB at -benchtime 10x): runs fill the server's store. One round on a server of the
// test's own; no stream may be left once the benchmark is done.
func TestBenchmarkCaptureVersusPublishLeavesNoStreams_review51(t *testing.T) {
	if testing.Short() {
		t.Skip("one round of the benchmark: 20,000 events through a shard and capture")
	}
	url := natstest.Start(t, t.TempDir(), "127.0.0.1:0").ClientURL()
	t.Setenv("SEQUENT_BENCH_NATS_URL", url)
	benchtime := flag.Lookup("test.benchtime")
	previous := benchtime.Value.String()
	if err := benchtime.Value.Set("1x"); err != nil {
		t.Fatal(err)
	}
	result := testing.Benchmark(BenchmarkCaptureVersusPublish)
	if err := benchtime.Value.Set(previous); err != nil {
		t.Fatal(err)
	}
	if result.N != 1 {
		t.Fatalf("the benchmark ran %d rounds, want 1 (it failed?)", result.N)
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	names := testJetStream(t, url).StreamNames(ctx)
	var left []string
	for name := range names.Name() {
		left = append(left, name)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("streams left on the server after the benchmark: %v", left)
	}
}
