package netio

import (
	"encoding/hex"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// BenchmarkServerOneTransferRequest is the server's whole per-request path for one
// transfer, without sockets or a shard: OnTraffic reads one checksummed request frame
// (clock, header and checksum checks, session and exactly-once number, permission,
// admission, Submit), a backend that answers at once hands the reply to Deliver (reply
// encode, grouping by connection, admission to the outbound bound, one loop task) and
// the task's callback writes it (writeLent, afterWrite) to a connection that takes every
// byte. Everything runs on the benchmark's goroutine, so a run is deterministic enough
// for callgrind: the reliable figure is its instruction count per request, two runs of
// different b.N subtracted:
//
//	go test -c -o netio.test ./netio
//	GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind \
//	  --toggle-collect='*benchmarkOneTransferRequest*' ./netio.test -test.run '^$' \
//	  -test.bench 'ServerOneTransferRequest$' -test.benchtime 20000x
func BenchmarkServerOneTransferRequest(b *testing.B) {
	benchmarkOneTransferRequest(b)
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

func benchmarkOneTransferRequest(b *testing.B) {
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: 1, Permissions: []string{"read", "transfer"},
		Keys: []KeysFileKey{{ID: 1, Secret: hex.EncodeToString(fuzzSecret)}}}}})
	if err != nil {
		b.Fatal(err)
	}
	answering := &answeringBackend{replies: make([]backend.Reply, 0, 1)}
	s, err := NewServer(Config{Keys: keys}, answering)
	if err != nil {
		b.Fatal(err)
	}
	answering.server = s
	s.log = newAsyncLogger(nil)
	defer s.log.close()
	handler := &eventHandler{server: s}
	c := &loopbackConn{}
	conn := &connection{nonce: fuzzNonce, conn: c}
	if !s.table.insert(conn) {
		b.Fatal("connection table full")
	}
	c.context = conn
	login := wire.Login{Client: 1, Key: 1}
	login.Signature = wire.Sign(fuzzSecret, &fuzzNonce, 1, 1, 0, 5)
	loginBody := make([]byte, wire.LoginSize)
	login.Encode(loginBody)
	c.inbound = wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: 5}, loginBody)
	c.inboundLeft = len(c.inbound)
	if handler.OnTraffic(c) != gnet.None || !conn.active.Load() {
		b.Fatalf("login refused")
	}
	// One frame per number: the numbers go up as a client's do, each frame sealed with
	// its own checksum, built before the measured loop.
	const framesDistinct = 4096
	frames := make([][]byte, framesDistinct)
	for i := range frames {
		frames[i] = wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
			Operation: model.OperationCreateTransfers, Session: 5, Number: uint64(i + 1)},
			make([]byte, model.TransferSize))
	}
	written := c.bytesWritten
	b.ReportAllocs()
	requests := 0
	for b.Loop() {
		c.inbound = frames[requests%framesDistinct]
		c.inboundLeft = len(c.inbound)
		if handler.OnTraffic(c) != gnet.None {
			b.Fatal("request refused")
		}
		answering.deliver()
		requests++
	}
	want := requests * (wire.HeaderSize + model.EventResultSize)
	if got := c.bytesWritten - written; got != want {
		b.Fatalf("%d reply bytes written for %d requests, want %d", got, requests, want)
	}
	b.ReportMetric(float64(requests)/b.Elapsed().Seconds(), "requests/s")
}
