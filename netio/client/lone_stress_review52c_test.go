package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// echoSplitScript answers every request ok with the request's body as the reply's body,
// writing each reply in two pieces (a frame split across reads), and sends a heartbeat
// unasked every few replies. It counts its connections.
type echoSplitScript struct{ connections atomic.Int32 }

func (s *echoSplitScript) run(_ int, peer *scriptedPeer) {
	s.connections.Add(1)
	beat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	for n := 0; ; n++ {
		request, ok := peer.request()
		if !ok {
			return
		}
		frame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: request.Operation, Session: request.Session, Number: request.Number},
			request.Body)
		if n%3 == 0 {
			frame = append(beat[:len(beat):len(beat)], frame...)
		}
		cut := 1 + n%(len(frame)-1)
		if _, err := peer.conn.Write(frame[:cut]); err != nil {
			return
		}
		if n%2 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
		if _, err := peer.conn.Write(frame[cut:]); err != nil {
			return
		}
	}
}

// TestLoneReadsStress_review52c — review of client52, claim (3): the handover of the
// connection's read between lone callers and the reader goroutine never has two
// goroutines read the socket, never gives a caller another call's reply, and survives
// contexts that end mid-read (a partial frame left in the decoder). Method: a lone
// caller in a loop (some calls with contexts ending at random, a few µs in), another
// goroutine issuing Go calls now and then, replies split in two writes with heartbeats
// in between, the client's ticker taking the read back every millisecond; every reply's
// body must be its own request's (the server echoes it), every error a context's, and
// the connection never replaced (a frame read from a wrong offset fails its checksum and
// ends it).
func TestLoneReadsStress_review52c(t *testing.T) {
	script := &echoSplitScript{}
	address := startScriptedServer(t, script.run)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
		Secret: []byte("secret"), CoalesceEventsMax: -1, LoneReads: true,
		HeartbeatInterval: 2 * time.Millisecond, SilenceTimeout: waitLimit})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const rounds = 3000
	var wrong atomic.Int32
	check := func(who string, id uint64, body []byte, reply *Reply, err error) {
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s call %d: %v", who, id, err)
				wrong.Add(1)
			}
			return
		}
		if !bytes.Equal(reply.Body, body) {
			t.Errorf("%s call %d: another call's reply (%x…)", who, id, reply.Body[:8])
			wrong.Add(1)
		}
	}
	var group sync.WaitGroup
	stop := make(chan struct{})
	group.Go(func() { // Now and then a Go: the read goes back to the reader.
		random := rand.New(rand.NewPCG(2, 2))
		for id := uint64(1 << 40); ; id++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(random.IntN(300)) * time.Microsecond):
			}
			body := make([]byte, model.TransferSize)
			binary.LittleEndian.PutUint64(body, id)
			call := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
			reply, err := call.Wait(ctx)
			check("Go", id, body, reply, err)
		}
	})
	random := rand.New(rand.NewPCG(1, 1))
	var reads uint64
	for id := uint64(1); id <= rounds && wrong.Load() == 0; id++ {
		body := make([]byte, model.TransferSize)
		binary.LittleEndian.PutUint64(body, id)
		callContext, callCancel := ctx, context.CancelFunc(func() {})
		if random.IntN(4) == 0 {
			callContext, callCancel = context.WithTimeout(ctx,
				time.Duration(random.IntN(60))*time.Microsecond)
		}
		reply, err := c.DoInto(callContext, model.OperationCreateTransfers, 0, body, nil)
		callCancel()
		check("lone", id, body, reply, err)
	}
	close(stop)
	group.Wait()
	c.mu.Lock()
	reads = c.callerReads
	c.mu.Unlock()
	if reads == 0 {
		t.Fatal("no lone read happened: the test tested nothing")
	}
	if n := script.connections.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 (a read from a wrong offset ended one)", n)
	}
	t.Logf("%d of %d lone calls read by their caller", reads, rounds)
}
