package client

import (
	"bytes"
	"context"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestReview53OneTransferFillsTheRequestAtTheLimit checks (review of callers53) the
// one-transfer path (submitRun with one, encoded in place by appendEvents) at the event
// limit: a request of 3 events (limit 4) queued behind a busy writer, a one-transfer
// caller joins it and fills it (closed and sealed at once: its frame is written when the
// writer takes it), the next one-transfer caller forms a new request. Each written frame
// holds the bytes of the events it was given at their offsets, each caller's part points
// at its own event, and a transfer rewritten by its caller after submitRun returned
// changes no frame.
func TestReview53OneTransferFillsTheRequestAtTheLimit(t *testing.T) {
	ctx := context.Background()
	conn, c, plainDone, key, a := formingBehindBusyWriter(t)
	first, second := transfer(701, 1, 2, 3, 0), transfer(702, 3, 4, 5, 0)
	joined, err := c.submitRun(ctx, key, nil, &first, 1, false, false, true)
	if err != nil {
		t.Fatal(err)
	}
	formed, err := c.submitRun(ctx, key, nil, &second, 1, false, false, true)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	full, fresh := a.call.events, formed.call.events
	stillForming := c.forming[key]
	c.mu.Unlock()
	if joined.call != a.call || joined.first != 3 || joined.count != 1 || full != 4 {
		t.Fatalf("the joiner: its part starts at %d of %d events (same request: %v), want 3 of 4",
			joined.first, full, joined.call == a.call)
	}
	if formed.call == a.call || formed.first != 0 || fresh != 1 || stillForming != formed.call {
		t.Fatalf("the next caller: same request %v, first %d, %d events, forming %v",
			formed.call == a.call, formed.first, fresh, stillForming == formed.call)
	}
	first, second = transfer(709, 9, 9, 9, 0), transfer(708, 8, 8, 8, 0) // Rewritten.

	c.mu.Lock()
	c.closeFormingLocked(formed.call) // B is sealed for its write.
	c.mu.Unlock()
	release(t, c, conn)
	<-plainDone
	bodies := writtenBodies(t, conn)
	encoded := func(transfers ...model.Transfer) []byte {
		body := make([]byte, len(transfers)*model.TransferSize)
		for i := range transfers {
			transfers[i].Encode(body[i*model.TransferSize:])
		}
		return body
	}
	wantA := append(eventsBody(3, 0xa), encoded(transfer(701, 1, 2, 3, 0))...)
	if got, ok := bodies[a.call.Number]; !ok || !bytes.Equal(got, wantA) {
		t.Errorf("request A (%d): written %v, body of %d bytes matching: %v", a.call.Number,
			ok, len(got), bytes.Equal(got, wantA))
	}
	wantB := encoded(transfer(702, 3, 4, 5, 0))
	if got, ok := bodies[formed.call.Number]; !ok || !bytes.Equal(got, wantB) {
		t.Errorf("request B (%d): written %v, body of %d bytes matching: %v",
			formed.call.Number, ok, len(got), bytes.Equal(got, wantB))
	}
}

// writtenBodies decodes the request frames written so far: their bodies by number.
func writtenBodies(t *testing.T, g *gatedConn) map[uint64][]byte {
	g.mu.Lock()
	data := bytes.Clone(g.written.Bytes())
	g.mu.Unlock()
	decoder := &wire.Decoder{}
	_, _ = decoder.Write(data)
	bodies := map[uint64][]byte{}
	for {
		frame, ok, err := decoder.Next()
		if err != nil {
			t.Fatalf("decoding what was written: %v", err)
		}
		if !ok {
			return bodies
		}
		if frame.Kind == wire.KindRequest {
			bodies[frame.Number] = bytes.Clone(frame.Body)
		}
	}
}
