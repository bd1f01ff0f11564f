package client

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

var replyBufferSeed = flag.Uint64("reply-buffer-seed", 1,
	"seed of TestGoIntoBufferIsWrittenOnlyForTheWinningReply")

// TestGoIntoBufferIsWrittenOnlyForTheWinningReply races, call after call, the reader
// (a busy reply that is resent, then the reply, then a duplicate of it) against the
// caller abandoning the call, with random yields in between, all calls sharing two reply
// buffers as a load generator's slots do. When the caller's wait ends in failure, it
// takes its buffer back and fills it at once: nothing the reader does afterwards may
// change it. When the reply wins, the body is the reply's results in the caller's
// buffer, and neither the busy reply before it nor the duplicate after it shows there.
// Under -race it also holds the copy to happen before the caller is told. Seed:
// -reply-buffer-seed.
func TestGoIntoBufferIsWrittenOnlyForTheWinningReply(t *testing.T) {
	seed := *replyBufferSeed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -reply-buffer-seed %d)", seed, seed)
		}
	})
	random := rand.New(rand.NewPCG(seed, 0xb0ff))
	c := newConnClient(&recordingConn{})
	request := bytes.Repeat([]byte{1}, 4*model.TransferSize)
	results := bytes.Repeat([]byte{0x5a}, 4*model.EventResultSize)
	busyBody := bytes.Repeat([]byte{0xbb}, 4*model.EventResultSize)
	duplicate := bytes.Repeat([]byte{0xdd}, 4*model.EventResultSize)
	mine := bytes.Repeat([]byte{0x11}, 4*model.EventResultSize)
	buffers := [2][]byte{make([]byte, 0, len(results)), make([]byte, 0, len(results))}
	abandoned, answered := 0, 0
	for i := range 2000 {
		buffer := buffers[i%2]
		ctx, cancel := context.WithCancel(context.Background())
		call := c.GoInto(ctx, model.OperationCreateTransfers, 0, request, buffer, nil)
		yields := random.IntN(4)
		var reader sync.WaitGroup
		reader.Go(func() {
			reply := func(status model.Status, body []byte) {
				c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation,
					Number: call.Number, Status: uint32(status), Body: body}, c.generation)
			}
			reply(model.StatusBusy, busyBody) // Resent later: not the call's reply.
			for range yields {
				runtime.Gosched()
			}
			reply(model.StatusOK, results)
			reply(model.StatusOK, duplicate) // A second answer to a resent request.
		})
		for range random.IntN(4) {
			runtime.Gosched()
		}
		if random.IntN(2) == 0 {
			cancel() // The caller stops waiting, maybe before the reply, maybe after.
		}
		reply, err := call.Wait(ctx)
		cancel()
		if err != nil {
			abandoned++
			buffer = append(buffer[:0], mine...) // Taken back and reused at once.
			reader.Wait()
			if !bytes.Equal(buffer, mine) {
				t.Fatalf("seed %d call %d: a reply wrote into the buffer of a call that "+
					"had failed (%v)", seed, i, err)
			}
			continue
		}
		answered++
		reader.Wait()
		if !bytes.Equal(reply.Body, results) || &reply.Body[0] != &buffer[:1][0] {
			t.Fatalf("seed %d call %d: the reply's body is not the results in the "+
				"caller's buffer", seed, i)
		}
		buffers[i%2] = reply.Body
	}
	if abandoned == 0 || answered == 0 {
		t.Fatalf("seed %d: %d abandoned and %d answered: both outcomes are needed", seed,
			abandoned, answered)
	}
	t.Logf("%d calls abandoned, %d answered", abandoned, answered)
}
