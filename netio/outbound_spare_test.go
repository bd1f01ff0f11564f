package netio

import (
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/netio/wire"
)

// TestOutboundSpareStaysWithItsConnection: a connection's reply buffer, once written, is
// kept as that connection's spare and is the one its next batch takes (no pool round
// trip); another connection's replies never go into it; a buffer grown beyond
// outboundSpareBytesMax is not kept (the bound on what an idle connection holds); and
// every connection gets exactly its own replies, in order.
func TestOutboundSpareStaysWithItsConnection(t *testing.T) {
	const requestsMax = 40 // 40 replies of 64 bytes: above outboundSpareBytesMax.
	if requestsMax*(wire.HeaderSize+16) <= outboundSpareBytesMax {
		t.Fatal("the large batch must exceed outboundSpareBytesMax")
	}
	_, answering, handler, conns := newLoopbackServer(t, 2, requestsMax)
	recorders := make([]*recordingLoopbackConn, len(conns))
	for k, c := range conns {
		recorders[k] = &recordingLoopbackConn{loopbackConn: c}
		c.context.(*connection).conn = recorders[k] // Where replies are lent and written.
	}
	numbers := [2]uint64{1, 1}
	// round reads count requests on each connection named, delivers them in one call,
	// and checks that each connection got exactly its replies, numbered on from before.
	round := func(count int, which ...int) {
		t.Helper()
		for _, k := range which {
			c := conns[k]
			recorders[k].written = recorders[k].written[:0]
			c.inbound = appendTransferRequests(nil, loopbackSession(k), numbers[k], count)
			c.inboundLeft = len(c.inbound)
			if handler.OnTraffic(c) != gnet.None {
				t.Fatalf("connection %d: request refused", k)
			}
		}
		answering.deliver()
		for _, k := range which {
			decoder := recorders[k].written
			for i := range count {
				frame, err := wire.DecodeHeader(decoder)
				if err != nil {
					t.Fatalf("connection %d reply %d: %v", k, i, err)
				}
				if frame.Kind != wire.KindReply || frame.Session != loopbackSession(k) ||
					frame.Number != numbers[k] {
					t.Fatalf("connection %d reply %d: kind %v session %d number %d, want reply "+
						"session %d number %d", k, i, frame.Kind, frame.Session, frame.Number,
						loopbackSession(k), numbers[k])
				}
				if err := wire.CheckChecksum(decoder[:frame.FrameSize()]); err != nil {
					t.Fatalf("connection %d reply %d: %v", k, i, err)
				}
				decoder = decoder[frame.FrameSize():]
				numbers[k]++
			}
			if len(decoder) != 0 {
				t.Fatalf("connection %d: %d bytes beyond its %d replies", k, len(decoder), count)
			}
		}
	}
	spareOf := func(k int) *outbound { return conns[k].context.(*connection).spare.Load() }

	round(1, 0)
	first := spareOf(0)
	if first == nil || len(first.buffer) != 0 || first.conn != nil {
		t.Fatalf("after a lone reply the connection's spare is %+v, want an empty buffer of no "+
			"connection", first)
	}
	if spareOf(1) != nil {
		t.Fatal("a connection with no reply yet has a spare")
	}
	round(1, 0)
	if spareOf(0) != first {
		t.Fatal("the connection's next reply did not reuse its spare")
	}
	// Both connections in one call: each takes its own buffer; the first keeps its spare.
	round(3, 0, 1)
	if spareOf(0) != first || spareOf(1) == nil || spareOf(1) == first {
		t.Fatalf("spares after a call to both: %p and %p, want %p and another", spareOf(0),
			spareOf(1), first)
	}
	// A batch beyond the bound: its buffer goes back to the pool, not to the connection.
	round(requestsMax, 0)
	if spare := spareOf(0); spare != nil {
		t.Fatalf("a %d-byte buffer was kept as the spare (bound %d)", cap(spare.buffer),
			outboundSpareBytesMax)
	}
	// The next batch may take that large buffer from the pool: it is still not kept.
	round(1, 0, 1)
	for k := range conns {
		if spare := spareOf(k); spare != nil && cap(spare.buffer) > outboundSpareBytesMax {
			t.Fatalf("connection %d keeps a %d-byte spare (bound %d)", k, cap(spare.buffer),
				outboundSpareBytesMax)
		}
	}
}

// recordingLoopbackConn is a loopbackConn that keeps what is written to it (kept apart from
// loopbackConn, whose Write the benchmark measures).
type recordingLoopbackConn struct {
	*loopbackConn
	written []byte
}

func (c *recordingLoopbackConn) Write(p []byte) (int, error) {
	c.written = append(c.written, p...)
	return c.loopbackConn.Write(p)
}

func (c *recordingLoopbackConn) AsyncWritev(_ [][]byte, callback gnet.AsyncCallback) error {
	if callback != nil {
		return callback(c, nil)
	}
	return nil
}
