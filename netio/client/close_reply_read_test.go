package client

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// replyOnCloseConn is a connection whose Read blocks until Close and then returns a
// reply frame, and an error after that: the reader holds a reply (read, not yet handled)
// at the moment the client closes the connection. Writes (the logout) succeed.
type replyOnCloseConn struct {
	net.Conn // Unused methods; nil.
	reply    []byte
	closed   chan struct{}
	once     sync.Once
	read     bool
}

func (r *replyOnCloseConn) Read(buffer []byte) (int, error) {
	<-r.closed
	if r.read {
		return 0, net.ErrClosed
	}
	r.read = true
	return copy(buffer, r.reply), nil
}

func (r *replyOnCloseConn) Write(buffer []byte) (int, error) { return len(buffer), nil }
func (r *replyOnCloseConn) SetWriteDeadline(time.Time) error { return nil }
func (r *replyOnCloseConn) Close() error                     { r.once.Do(func() { close(r.closed) }); return nil }
func (r *replyOnCloseConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// TestCloseHandlesARepliedReadFirst: a reply the reader has read when Close closes the
// connection (it arrived as Close ran: the logout's acknowledgement did not come in
// time, or the logout's write ended the connection) completes its call. Close failed
// the pending calls before it closed the connection, so the reader, handling the reply
// after, found its call gone: the caller got ErrClosed, an unknown outcome for a write
// whose reply the client held, which it must then look up by id.
func TestCloseHandlesARepliedReadFirst(t *testing.T) {
	reply, err := closeWithAReplyRead(model.StatusOK, Config{})
	var outcomeUnknown *OutcomeUnknownError
	if err != nil {
		t.Fatalf("the reply read as Close ran was dropped: %v (an *OutcomeUnknownError: "+
			"%v, ErrClosed: %v)", err, errors.As(err, &outcomeUnknown),
			errors.Is(err, ErrClosed))
	}
	if reply.Number != 1 || reply.Status != model.StatusOK {
		t.Fatalf("reply %+v, want number 1, ok", reply)
	}
}

// closeWithAReplyRead closes a client whose one write (create_transfers, number 1) was
// written and whose reply, with the given status, the connection returns as Close
// closes it; it returns how the call ended.
func closeWithAReplyRead(status model.Status, config Config) (*Reply, error) {
	conn := &replyOnCloseConn{closed: make(chan struct{}),
		reply: wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
			Operation: model.OperationCreateTransfers, Number: 1,
			Status: uint32(status)}, nil)}
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: conn,
		generation: 1, silence: waitLimit, logoutSeen: make(chan struct{}),
		endLifetime: func() {}, config: config}
	close(c.logoutSeen) // Close waits for no acknowledgement.
	call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
		complete: make(chan struct{}), client: c, frame: []byte("request 1")}
	c.mu.Lock()
	c.pending[1] = call
	c.queueLocked(call, call.frame)
	c.outbox = c.outbox[:0] // A writer took it.
	c.startReaderLocked(conn, &wire.Decoder{})
	c.mu.Unlock()
	_ = c.Close()
	return (&unknownOutcomeFixture{c: c, call: call}).waitBounded()
}
