package client

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// answerWith completes call ok with body, as the reader does with a reply frame.
func answerWith(c *Client, call *Call, body []byte) {
	c.complete(&wire.Frame{Kind: wire.KindReply, Operation: call.Operation,
		Number: call.Number, Status: uint32(model.StatusOK), Body: body}, c.generation)
}

// TestGoIntoCopiesTheReplyIntoTheCallersBuffer: a call made with GoInto gets its reply's
// body in the buffer it was given when that is large enough, in a grown one when not,
// and never in the reader's frame (which the next reply overwrites); Go's reply is a new
// slice as before.
func TestGoIntoCopiesTheReplyIntoTheCallersBuffer(t *testing.T) {
	c := newConnClient(&recordingConn{})
	ctx := context.Background()
	results := bytes.Repeat([]byte{0x5a, 0x01}, 8189*model.EventResultSize/2)
	request := bytes.Repeat([]byte{1}, 8189*model.TransferSize)

	buffer := make([]byte, 3, len(results))
	call := c.GoInto(ctx, model.OperationCreateTransfers, 0, request, buffer, nil)
	answerWith(c, call, results)
	reply, err := call.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply.Body, results) || arrayOf(reply.Body) != arrayOf(buffer) {
		t.Fatal("the reply's body is not the results copied into the caller's buffer")
	}

	short := make([]byte, 0, 16)
	call = c.GoInto(ctx, model.OperationCreateTransfers, 0, request, short, nil)
	answerWith(c, call, results)
	if reply, err = call.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply.Body, results) || overlap(reply.Body, results) {
		t.Fatal("a short buffer: the reply's body is not a grown copy of the results")
	}

	call = c.Go(ctx, model.OperationCreateTransfers, 0, request, nil)
	answerWith(c, call, results)
	if reply, err = call.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply.Body, results) || overlap(reply.Body, results) {
		t.Fatal("Go: the reply's body is not a copy of the results")
	}
}

// TestFailedCallLeavesItsReplyBufferAlone: a reply that arrives for a call already
// failed (its caller stopped waiting after the reader had taken the call from the
// pending table) writes nothing into the call's buffer, which is the caller's again and
// may be in use for something else.
func TestFailedCallLeavesItsReplyBufferAlone(t *testing.T) {
	c := newConnClient(&recordingConn{})
	ctx := context.Background()
	buffer := make([]byte, 0, 1024)
	call := c.GoInto(ctx, model.OperationCreateTransfers, 0,
		bytes.Repeat([]byte{1}, 4*model.TransferSize), buffer, nil)
	// The interleaving: the reader has found the call pending; the caller's abandon then
	// fails it (abandon finds it no longer pending and only fails it).
	stopped := errors.New("caller stopped waiting")
	call.fail(stopped)
	buffer = append(buffer, "the caller's own data"...)
	answerWith(c, call, bytes.Repeat([]byte{0xee}, 4*model.EventResultSize))
	if string(buffer) != "the caller's own data" {
		t.Fatalf("the late reply wrote into the failed call's buffer: %q", buffer)
	}
	if _, err := call.Wait(ctx); !errors.Is(err, stopped) {
		t.Fatalf("call ended with %v, want its failure", err)
	}
}
