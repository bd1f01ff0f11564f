package client

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"sequent/core/model"
	"sequent/netio/wire"
)

// churnServer plays the server (and the network) for TestFramesIntactUnderChurn: it
// reads every request frame the client writes, records its bytes by hash, and answers in
// every way a real deployment can: ok at once, busy (resent by the client's timer),
// not_primary (redirect: the connection ends and the pending requests are resent), no
// answer (resent on the next connection), an ok held back and delivered only after the
// connection was replaced (the old connection's reader handing over a reply it decoded
// before the drop, while the new connection already has the request queued), and a
// duplicate of an ok. Replies go straight to complete, as the reader would deliver them.
type churnServer struct {
	c    *Client
	seed maphash.Seed

	mu         sync.Mutex
	received   []receivedFrame
	held       []heldReply // Replies of the current connection, delivered after its drop.
	current    net.Conn    // The server's end of the current connection.
	read       int         // Request frames read on the current connection.
	generation uint64      // The current connection's.
	failure    error
	random     *rand.Rand
	readers    sync.WaitGroup
}

type receivedFrame struct {
	generation uint64 // Of the connection it was read from.
	number     uint64
	hash       uint64
	size       int
}

type heldReply struct {
	frame      wire.Frame
	generation uint64
}

func (s *churnServer) fail(err error) {
	s.mu.Lock()
	if s.failure == nil {
		s.failure = err
	}
	s.mu.Unlock()
}

// serve reads the frames of one connection (after start is closed, so that the client's
// writer blocks with frames queued and in write while held replies arrive).
func (s *churnServer) serve(conn net.Conn, generation uint64, start <-chan struct{}) {
	defer s.readers.Done()
	<-start
	decoder := &wire.Decoder{}
	for {
		for {
			frame, ok, err := decoder.Next()
			if err != nil {
				s.fail(err) // A torn or overwritten frame fails its checksum.
				_ = conn.Close()
				return
			}
			if !ok {
				break
			}
			if frame.Kind != wire.KindRequest {
				continue
			}
			s.answer(&frame, generation)
		}
		if _, err := decoder.ReadFrom(conn); err != nil {
			return
		}
	}
}

func (s *churnServer) answer(request *wire.Frame, generation uint64) {
	info, _ := request.Operation.Info()
	reply := wire.Frame{Kind: wire.KindReply, Operation: request.Operation,
		Number: request.Number, Status: uint32(model.StatusOK),
		Body: make([]byte, len(request.Body)/info.EventSize*info.ResultSize)}
	s.mu.Lock()
	if generation == s.generation {
		s.read++
	}
	s.received = append(s.received, receivedFrame{generation: generation, number: request.Number,
		hash: maphash.Bytes(s.seed, request.Body), size: len(request.Body)})
	roll := s.random.IntN(100)
	s.mu.Unlock()
	switch {
	case roll < 50:
		s.c.complete(&reply, generation)
	case roll < 62:
		reply.Status, reply.Body = uint32(model.StatusBusy), nil
		s.c.complete(&reply, generation)
	case roll < 65:
		reply.Status, reply.Body = uint32(model.StatusNotPrimary), []byte("192.0.2.1:7400")
		s.c.complete(&reply, generation)
	case roll < 80:
		s.hold(reply, generation)
	case roll < 85:
		s.c.complete(&reply, generation)
		s.hold(reply, generation) // A duplicate, after the drop.
	default: // No answer: resent on the next connection.
	}
}

func (s *churnServer) hold(reply wire.Frame, generation uint64) {
	s.mu.Lock()
	s.held = append(s.held, heldReply{frame: reply, generation: generation})
	s.mu.Unlock()
}

// reconnect installs a new connection after each loss until stop is closed; the replies
// held by the lost connection are delivered once the new one has queued its resends.
func (s *churnServer) reconnect(stop <-chan struct{}, dial func() (net.Conn, net.Conn)) {
	for {
		select {
		case <-stop:
			return
		case <-s.c.lost:
		}
		ours, theirs := dial()
		s.mu.Lock()
		held := s.held
		s.held = nil
		start := make(chan struct{})
		s.c.mu.Lock()
		generation := s.c.generation + 1
		s.current, s.read, s.generation = theirs, 0, generation
		s.mu.Unlock()
		s.readers.Add(2)
		go s.serve(theirs, generation, start)
		go func() {
			defer s.readers.Done()
			defer close(start)
			for {
				s.c.mu.Lock()
				installed := s.c.generation >= generation
				s.c.mu.Unlock()
				if installed {
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
			for i := range held {
				s.c.complete(&held[i].frame, held[i].generation)
			}
			time.Sleep(200 * time.Microsecond) // Callers take buffers meanwhile.
		}()
		s.c.install(&established{conn: ours, decoder: &wire.Decoder{}, address: "churn",
			timers: wire.Challenge{HeartbeatIntervalMs: 1000, SilenceTimeoutMs: 60000}})
		s.c.mu.Unlock()
	}
}

// drop ends the current connection once it has read a request (so that every
// connection makes progress however slowly the resends go) and reports whether it did.
func (s *churnServer) drop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil || s.read == 0 {
		return false
	}
	_ = s.current.Close()
	s.read = 0
	return true
}

// churnBody draws the events of a caller's call (one of sizes) and returns its token and
// its body, filled with the token.
func churnBody(random *rand.Rand, sizes []int, caller, call int) (uint64, int, []byte) {
	token := uint64(caller+1)<<32 | uint64(call+1)
	events := sizes[random.IntN(len(sizes))]
	body := make([]byte, events*model.TransferSize)
	fillBody(body, token)
	return token, events, body
}

// fillBody fills body with token in every 8-byte word.
func fillBody(body []byte, token uint64) {
	binary.LittleEndian.PutUint64(body, token)
	for n := 8; n < len(body); n *= 2 {
		copy(body[n:], body[:n])
	}
}

// segment is one caller's events in a request: events from first, filled with token.
type segment struct {
	token  uint64
	first  int
	events int
}

// TestFramesIntactUnderChurn drives large and small requests, plain and merged, through a
// client whose connection is dropped every few milliseconds, with busy resends,
// redirects, abandoned calls, duplicate replies and replies that overtake the queued
// resend of their request. Every frame the server reads must carry exactly the bytes of
// the request its number names (a frame buffer reused while a copy could still be
// written shows as another request's bytes under the number, or a torn frame), and the
// free list never exceeds its bound. Run over net.Pipe (the writer blocks per frame) and
// loopback TCP (writev, which consumes the batch as it goes). On each connection the
// requests read for the first time come in number order (resends of busy requests aside:
// each was read on that connection before), and every caller finishes within the guard.
// The corked runs issue the plain callers' calls in bursts under Client.Cork (waited for
// after the Uncork or inside the cork, bursts larger than the window of three) and some
// merged calls inside a cork, so that frames held back meet drops, resends and merging.
func TestFramesIntactUnderChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	transports := map[string]func(t *testing.T) func() (net.Conn, net.Conn){
		"pipe": func(*testing.T) func() (net.Conn, net.Conn) { return net.Pipe },
		"tcp": func(t *testing.T) func() (net.Conn, net.Conn) {
			listener, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = listener.Close() })
			return func() (net.Conn, net.Conn) {
				ours, err := net.Dial("tcp", listener.Addr().String())
				if err != nil {
					panic(err)
				}
				theirs, err := listener.Accept()
				if err != nil {
					panic(err)
				}
				// Small socket buffers, so that the writer blocks inside writev with the
				// rest of its batch (and of each frame) still to write.
				_ = ours.(*net.TCPConn).SetWriteBuffer(tcpBufferBytes)
				_ = theirs.(*net.TCPConn).SetReadBuffer(tcpBufferBytes)
				return ours, theirs
			}
		},
	}
	for _, name := range []string{"pipe", "tcp"} {
		t.Run(name, func(t *testing.T) { churn(t, transports[name](t), false) })
		t.Run(name+" corked", func(t *testing.T) { churn(t, transports[name](t), true) })
	}
}

// tcpBufferBytes is the socket buffer size of the TCP transport: far less than a frame.
const tcpBufferBytes = 256 << 10

func churn(t *testing.T, dial func() (net.Conn, net.Conn), corked bool) {
	config := Config{InflightMax: 3, InflightBytesMax: 64 << 20,
		BusyRetryDelay: 100 * time.Microsecond, SilenceTimeout: time.Minute,
		HeartbeatInterval: time.Second}.withDefaults()
	c := &Client{config: config, session: testSession, log: config.Logger,
		window:      semaphore.NewWeighted(int64(config.InflightMax)),
		windowBytes: newWeighted(int64(config.InflightBytesMax)),
		next:        1, pending: map[uint64]*Call{}, forming: map[coalesceKey]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{})}
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	s := &churnServer{c: c, seed: maphash.MakeSeed(), random: rand.New(rand.NewPCG(1, 2))}
	stop := make(chan struct{})
	reconnected := make(chan struct{})
	go func() { defer close(reconnected); s.reconnect(stop, dial) }()
	c.lost <- struct{}{} // The first connection.

	var expectMu sync.Mutex
	expected := map[uint64][]segment{}
	expect := func(number uint64, token uint64, events, first int) {
		expectMu.Lock()
		defer expectMu.Unlock()
		expected[number] = append(expected[number], segment{token: token, first: first,
			events: events})
	}
	// Event counts around the reuse threshold, up to a full batch.
	threshold := (frameReuseBytesMin - wire.HeaderSize + model.TransferSize - 1) /
		model.TransferSize
	sizes := []int{1, 20, threshold - 1, threshold, threshold + 1, model.EventsPerRequestMax / 2,
		model.EventsPerRequestMax}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const plainCallers, mergedCallers, callsEach = 3, 2, 40
	var callers sync.WaitGroup
	for caller := range plainCallers + mergedCallers {
		callers.Go(func() {
			random := rand.New(rand.NewPCG(uint64(caller), 7))
			if caller >= plainCallers {
				for call := range callsEach {
					token, events, body := churnBody(random, sizes, caller, call)
					corkedCall := corked && random.IntN(2) == 0
					if corkedCall {
						c.Cork()
					}
					p, err := c.submit(ctx, coalesceKey{model.OperationCreateTransfers, 0, 0},
						body, events, false)
					if err == nil {
						_, err = p.wait(ctx)
					}
					if corkedCall {
						c.Uncork()
					}
					if err != nil {
						s.fail(err)
						return
					}
					expect(p.call.Number, token, events, p.first)
				}
				return
			}
			for call := 0; call < callsEach; {
				burst, waitCorked := 1, false
				if corked {
					burst, waitCorked = min(1+random.IntN(5), callsEach-call), random.IntN(2) == 0
					c.Cork()
				}
				calls := make([]*Call, 0, burst)
				for range burst {
					token, events, body := churnBody(random, sizes, caller, call)
					call++
					done := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
					fillBody(body, ^token) // The caller's slice is not the frame.
					expect(done.Number, token, events, 0)
					calls = append(calls, done)
				}
				if corked && !waitCorked {
					c.Uncork()
				}
				var failure error
				for _, done := range calls {
					waitCtx := ctx
					stopWaiting := func() {}
					if random.IntN(10) == 0 { // Abandoned: its frame may still be written.
						waitCtx, stopWaiting = context.WithTimeout(ctx, 100*time.Microsecond)
					}
					_, err := done.Wait(waitCtx)
					stopWaiting()
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						failure = err
						break
					}
				}
				if waitCorked {
					c.Uncork()
				}
				if failure != nil {
					s.fail(failure)
					return
				}
			}
		})
	}
	callersDone := make(chan struct{})
	go func() { callers.Wait(); close(callersDone) }()
	drops, dropRandom := 0, rand.New(rand.NewPCG(3, 4))
	for finished := false; !finished; {
		select {
		case <-callersDone:
			finished = true
		case <-time.After(time.Duration(500+dropRandom.IntN(3000)) * time.Microsecond):
			if s.drop() {
				drops++
			}
		}
		c.mu.Lock()
		free := len(c.freeFrames)
		c.mu.Unlock()
		if free > frameReuseCountMax {
			t.Errorf("%d buffers on the free list, bound %d", free, frameReuseCountMax)
		}
	}
	if ctx.Err() != nil { // Abandoned waits tolerate it: a hang would pass unseen.
		t.Fatal("the callers did not finish within the guard")
	}
	close(stop)
	<-reconnected
	c.shutdown(ErrClosed)
	s.mu.Lock()
	_ = s.current.Close()
	s.mu.Unlock()
	s.readers.Wait()
	if s.failure != nil {
		t.Fatal(s.failure)
	}

	firstRead := map[receivedFrame]bool{} // By generation and number only.
	lastFirst := map[uint64]uint64{}      // By generation: the last number read first.
	for _, got := range s.received {
		key := receivedFrame{generation: got.generation, number: got.number}
		if firstRead[key] {
			continue
		}
		firstRead[key] = true
		if got.number <= lastFirst[got.generation] {
			t.Fatalf("connection %d: request %d read for the first time after request %d",
				got.generation, got.number, lastFirst[got.generation])
		}
		lastFirst[got.generation] = got.number
	}

	var want []byte
	checked := map[uint64]uint64{}
	for _, got := range s.received {
		hash, ok := checked[got.number]
		if !ok {
			segments, known := expected[got.number]
			if !known {
				t.Fatalf("request %d written, never issued", got.number)
			}
			slices.SortFunc(segments, func(a, b segment) int { return a.first - b.first })
			want = want[:0]
			for _, segment := range segments {
				if segment.first*model.TransferSize != len(want) {
					t.Fatalf("request %d: callers' events not contiguous", got.number)
				}
				want = append(want, make([]byte, segment.events*model.TransferSize)...)
				fillBody(want[segment.first*model.TransferSize:], segment.token)
			}
			hash = maphash.Bytes(s.seed, want)
			checked[got.number] = hash
		}
		if got.hash != hash {
			t.Fatalf("request %d: a frame of %d body bytes is not the request's own bytes",
				got.number, got.size)
		}
	}
	t.Logf("%d drops, %d frames read, %d requests", drops, len(s.received), len(checked))
}
