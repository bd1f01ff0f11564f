package bench

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"sequent/bench/threadcpu"
	"sequent/core/model"
	"sequent/netio/wire"
)

// echoConn is a net.Conn whose peer answers every request written to it at once with an
// ok reply to a one-transfer request, readable on the next Read: the wire loop's own
// work without the kernel's.
type echoConn struct {
	net.Conn // Unused methods: a call panics.
	decoder  wire.Decoder
	replies  []byte
	body     [model.EventResultSize]byte // One result: ok.
}

func (c *echoConn) Write(b []byte) (int, error) {
	_, _ = c.decoder.Write(b)
	for {
		frame, ok, err := c.decoder.Next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return len(b), nil
		}
		c.replies = wire.AppendFrame(c.replies, &wire.Frame{Kind: wire.KindReply,
			Operation: frame.Operation, Session: frame.Session, Number: frame.Number},
			c.body[:])
	}
}

func (c *echoConn) Read(p []byte) (int, error) {
	if len(c.replies) == 0 {
		return 0, errors.New("echoConn: read with no reply waiting")
	}
	n := copy(p, c.replies)
	c.replies = c.replies[:copy(c.replies, c.replies[n:])]
	return n, nil
}

func (c *echoConn) SetReadDeadline(time.Time) error  { return nil }
func (c *echoConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkWireLoop is the wire driver's CPU per one-transfer request, 16 in flight on
// one connection, against a peer that answers in the same goroutine (echoConn): build,
// frame, write, read, match and settle, without system calls. cpu-ns/request is the
// thread's CPU time per request.
func BenchmarkWireLoop(b *testing.B) {
	config := Config{Addresses: []string{"echo"}, Connections: 1, Inflight: 16, Events: 1,
		Count: uint64(b.N), Duration: time.Hour}.WithDefaults()
	r := newRun(config)
	r.start = time.Now()
	w := newWorker(0, r, nil, &recorder{interval: newSample()})
	const session = 7
	w.wire = &wireConnection{conn: &echoConn{}, session: session, next: 1, oldest: 1,
		heartbeatNs: int64(time.Hour), silenceNs: int64(2 * time.Hour)}
	w.wire.outbox = make([]byte, 0, config.Inflight*(wire.HeaderSize+model.TransferSize))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	start := threadcpu.Now()
	if err := w.wireLoop(context.Background()); err != nil {
		b.Fatal(err)
	}
	cpu := threadcpu.Now() - start
	b.StopTimer()
	if completed := w.recorder.interval.requestsCompleted; completed != uint64(b.N) {
		b.Fatalf("%d requests completed, want %d", completed, b.N)
	}
	if threadcpu.Supported {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/request")
	}
}
