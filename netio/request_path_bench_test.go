package netio

import (
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// BenchmarkServerOneTransferRequest is the server's whole per-request path for requests of
// one transfer, without sockets or a shard: OnTraffic reads a connection's requests
// (clock, header and checksum checks, session, permission, admission, Submit), a backend
// that answers at once has every reply delivered in one Deliver call (reply encode,
// grouping by connection, admission to the outbound bound, one loop task per loop), whose
// task's callback writes each connection's replies (writeLent, afterWrite) to a
// connection that takes every byte. Two shapes: one connection, one request per read and
// per Deliver (a lone caller's round trip: every per-read and per-call cost on one
// request); 32 connections of 14 requests per read, their 448 replies in one Deliver in
// runs per connection (a released entry at 32 x 16 in flight, as
// BenchmarkDeliverOneTransferReplies has them). Everything runs on the benchmark's
// goroutine, so a run is deterministic for callgrind: the reliable figure is its
// instruction count per request, two runs of different b.N subtracted (whole program:
// --toggle-collect miscounts when the goroutine changes threads):
//
//	go test -c -o netio.test ./netio
//	GOMAXPROCS=1 GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind \
//	  ./netio.test -test.run '^$' \
//	  -test.bench 'ServerOneTransferRequest/connections=1/' -test.benchtime 20000x
//
// and 100000x; (difference) / 80,000 requests. For connections=32, 200x and 1000x,
// (difference) / (800 x 448).
func BenchmarkServerOneTransferRequest(b *testing.B) {
	for _, shape := range []struct{ connections, requests int }{{1, 1}, {32, 14}} {
		b.Run("connections="+strconv.Itoa(shape.connections)+"/requests="+
			strconv.Itoa(shape.requests), func(b *testing.B) {
			benchmarkOneTransferRequest(b, shape.connections, shape.requests)
		})
	}
}

// answeringBackend answers every request ok at once with one event result, as a shard
// would after applying it: the reply is delivered when the benchmark asks (deliver).
type answeringBackend struct {
	server  *Server
	replies []backend.Reply // Capacity 1; the next Deliver's replies.
	result  [model.EventResultSize]byte
}

func (a *answeringBackend) Submit(r *backend.Request) model.Status {
	a.replies = append(a.replies, backend.Reply{Connection: r.Connection, Client: r.Client,
		Session: r.Session, Number: r.Number, Operation: r.Operation,
		Status: model.StatusOK, Op: r.Number, Body: a.result[:]})
	return model.StatusOK
}

func (a *answeringBackend) ReplayReports(uint64, uint64, func([]backend.Report)) (uint64, uint64) {
	return 1, 1 // No report yet.
}

func (a *answeringBackend) SessionClosed(uint64, uint64, bool) {}

// deliver hands the replies of the requests submitted since the last call to the server.
func (a *answeringBackend) deliver() {
	a.server.Deliver(a.replies)
	a.replies = a.replies[:0]
}

// loopbackConn stands in for a gnet.Conn on its own loop: it serves the inbound frame
// held in inbound (once per refill), runs a lent callback at once (as the loop would run
// the task) and takes every byte written. Methods the path does not reach panic through
// the nil embedded interface.
type loopbackConn struct {
	gnet.Conn
	context      any
	inbound      []byte
	inboundLeft  int // Bytes of inbound not yet discarded.
	bytesWritten int
}

func (c *loopbackConn) Context() any { return c.context }

func (c *loopbackConn) InboundBuffered() int { return c.inboundLeft }

func (c *loopbackConn) Peek(n int) ([]byte, error) {
	start := len(c.inbound) - c.inboundLeft
	return c.inbound[start : start+n], nil
}

func (c *loopbackConn) Discard(n int) (int, error) {
	c.inboundLeft -= n
	return n, nil
}

func (c *loopbackConn) OutboundBuffered() int { return 0 }

func (c *loopbackConn) Write(p []byte) (int, error) {
	c.bytesWritten += len(p)
	return len(p), nil
}

func (c *loopbackConn) AsyncWritev(_ [][]byte, callback gnet.AsyncCallback) error {
	if callback != nil {
		return callback(c, nil)
	}
	return nil
}

func (c *loopbackConn) EventLoop() gnet.EventLoop { return nil }

func benchmarkOneTransferRequest(b *testing.B, connectionCount, requestsPerRead int) {
	_, answering, handler, conns := newLoopbackServer(b, connectionCount, requestsPerRead)
	// Each connection's reads, built before the measured loop: requestsPerRead frames
	// each, numbered up as a client's are, each sealed with its own checksum.
	const readsDistinct = 256
	reads := make([][][]byte, connectionCount)
	for k := range conns {
		reads[k] = make([][]byte, readsDistinct)
		number := uint64(1)
		for i := range reads[k] {
			reads[k][i] = appendTransferRequests(nil, loopbackSession(k), number, requestsPerRead)
			number += uint64(requestsPerRead)
		}
	}
	written := 0
	for _, c := range conns {
		written -= c.bytesWritten
	}
	b.ReportAllocs()
	rounds := 0
	for b.Loop() {
		for k, c := range conns {
			c.inbound = reads[k][rounds%readsDistinct]
			c.inboundLeft = len(c.inbound)
			if handler.OnTraffic(c) != gnet.None {
				b.Fatal("request refused")
			}
		}
		answering.deliver()
		rounds++
	}
	for _, c := range conns {
		written += c.bytesWritten
	}
	requests := rounds * connectionCount * requestsPerRead
	if want := requests * (wire.HeaderSize + model.EventResultSize); written != want {
		b.Fatalf("%d reply bytes written for %d requests, want %d", written, requests, want)
	}
	b.ReportMetric(float64(requests)/b.Elapsed().Seconds(), "requests/s")
}

// loopbackSession is the session of newLoopbackServer's k-th connection.
func loopbackSession(k int) uint64 { return uint64(5 + k) }

// newLoopbackServer is a Server over an answeringBackend whose Deliver calls hold up to
// connectionCount*requestsPerRead replies, with connectionCount loopbackConns logged in
// (client 1, session loopbackSession(k)).
func newLoopbackServer(tb testing.TB, connectionCount, requestsPerRead int) (*Server,
	*answeringBackend, *eventHandler, []*loopbackConn) {
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: 1, Permissions: []string{"read", "transfer"},
		Keys: []KeysFileKey{{ID: 1, Secret: hex.EncodeToString(fuzzSecret)}}}}})
	if err != nil {
		tb.Fatal(err)
	}
	answering := &answeringBackend{
		replies: make([]backend.Reply, 0, connectionCount*requestsPerRead)}
	s, err := NewServer(Config{Keys: keys}, answering)
	if err != nil {
		tb.Fatal(err)
	}
	answering.server = s
	s.log = newAsyncLogger(nil)
	tb.Cleanup(s.log.close)
	handler := &eventHandler{server: s}
	conns := make([]*loopbackConn, connectionCount)
	for k := range conns {
		c := &loopbackConn{}
		conn := &connection{nonce: fuzzNonce, conn: c}
		if !s.table.insert(conn) {
			tb.Fatal("connection table full")
		}
		c.context = conn
		session := loopbackSession(k)
		login := wire.Login{Client: 1, Key: 1}
		login.Signature = wire.Sign(fuzzSecret, &fuzzNonce, 1, 1, 0, session)
		loginBody := make([]byte, wire.LoginSize)
		login.Encode(loginBody)
		c.inbound = wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: session},
			loginBody)
		c.inboundLeft = len(c.inbound)
		if handler.OnTraffic(c) != gnet.None || !conn.active.Load() {
			tb.Fatalf("login refused")
		}
		conns[k] = c
	}
	return s, answering, handler, conns
}

// appendTransferRequests appends count create_transfers frames of one (zero) transfer
// each, numbered from number on, to dst.
func appendTransferRequests(dst []byte, session, number uint64, count int) []byte {
	for i := range count {
		dst = wire.AppendFrame(dst, &wire.Frame{Kind: wire.KindRequest,
			Operation: model.OperationCreateTransfers, Session: session,
			Number: number + uint64(i)}, make([]byte, model.TransferSize))
	}
	return dst
}
