package netio_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// connectionRecorder is the fake shard, remembering each request's connection id, in
// order, and the connection each session's requests last came on.
type connectionRecorder struct {
	*fakeshard.Backend
	mutex       sync.Mutex
	connections []uint64
	sessions    map[uint64]uint64 // Session → backend.Request.Connection.
}

func newConnectionRecorder() *connectionRecorder {
	return &connectionRecorder{sessions: map[uint64]uint64{}}
}

func (r *connectionRecorder) Submit(request *backend.Request) model.Status {
	r.mutex.Lock()
	r.connections = append(r.connections, request.Connection)
	r.sessions[request.Session] = request.Connection
	r.mutex.Unlock()
	return r.Backend.Submit(request)
}

// of is the connection session's requests last came on (0: none yet).
func (r *connectionRecorder) of(session uint64) uint64 {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.sessions[session]
}

// BenchmarkDeliverOneTransferReplies is what a shard's goroutine spends in Deliver per
// one-transfer reply in the shape of 32 connections x 16 in flight: one call per released
// entry with 14 replies to each of 32 connections, in runs per connection as the ring
// holds them (a read's worth of requests from one connection in a row). The sockets are
// real (loopback) and drained by one goroutine per connection; each call waits (blocked,
// not spinning) until its bytes have been read, so that the outbound queues stay below
// their bound. The reliable figure is callgrind's instruction count for Deliver alone
// (--toggle-collect='*Server).Deliver', two runs of different b.N subtracted).
func BenchmarkDeliverOneTransferReplies(b *testing.B) {
	const connections, perConnection = 32, 14
	var recorder *connectionRecorder
	h := newHarness(b, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 1 },
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			recorder = newConnectionRecorder()
			recorder.Backend = fake
			return recorder
		}})
	raws := make([]*rawConn, connections)
	for i := range raws {
		raws[i] = dialRaw(b, h.server.Address())
		raws[i].login(clientAll, 1, secretOne, uint64(100+i))
		raws[i].write(requestFrame(uint64(100+i), 1, model.OperationLookupAccounts,
			encodeIDs(1)))
		raws[i].next()
	}
	// Copied under the recorder's mutex: Submit wrote them on the event loop, and a reply
	// read from a socket is no synchronization the race detector sees.
	recorder.mutex.Lock()
	seen := slices.Clone(recorder.connections)
	recorder.mutex.Unlock()
	if len(seen) != connections {
		b.Fatalf("%d requests seen, want %d", len(seen), connections)
	}
	var body [model.EventResultSize]byte // One result: ok.
	replies := make([]backend.Reply, 0, connections*perConnection)
	for i, connection := range seen {
		for j := range perConnection {
			replies = append(replies, backend.Reply{Connection: connection, Client: clientAll,
				Session: uint64(100 + i), Number: uint64(2 + j),
				Operation: model.OperationCreateTransfers, Status: model.StatusOK, Op: 1,
				Body: body[:]})
		}
	}
	var read atomic.Int64
	progress := make(chan struct{}, 1) // A reader read something.
	for _, r := range raws {
		go func() {
			buffer := make([]byte, 64<<10)
			for {
				n, err := r.conn.Read(buffer)
				read.Add(int64(n))
				select {
				case progress <- struct{}{}:
				default:
				}
				if err != nil {
					return
				}
			}
		}()
	}
	callBytes := int64(len(replies) * (wire.HeaderSize + len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.server.Deliver(replies)
		for read.Load() < int64(i+1)*callBytes {
			<-progress
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(replies)), "replies")
}
