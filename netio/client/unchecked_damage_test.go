package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// uncheckedDamageCodes are the error codes the server derives from header fields of a
// client's frame after the login, past the checks made before a checksum: with
// unchecked frames (Config.UncheckedFrames) nothing of the frame is verified, so a
// flipped bit gets them (a request's or heartbeat's kind read as reply:
// unexpected_frame; its session: session_mismatch; its number read as 0:
// bad_request_number), and the client's encoder never produces them otherwise.
var uncheckedDamageCodes = []wire.ErrorCode{wire.ErrorUnexpectedFrame,
	wire.ErrorSessionMismatch, wire.ErrorBadRequestNumber}

// uncheckedRequest is request for a client that negotiated unchecked frames: it reads
// frames without verifying their checksum (0), as the server does then.
func (p *scriptedPeer) uncheckedRequest() (wire.Frame, bool) {
	for {
		header := make([]byte, wire.HeaderSize)
		if _, err := io.ReadFull(p.conn, header); err != nil {
			return wire.Frame{}, false
		}
		frame, err := wire.DecodeHeader(header)
		if err != nil {
			return wire.Frame{}, false
		}
		frame.Body = make([]byte, frame.FrameSize()-wire.HeaderSize)
		if _, err := io.ReadFull(p.conn, frame.Body); err != nil {
			return wire.Frame{}, false
		}
		if frame.Kind == wire.KindRequest {
			return frame, true
		}
	}
}

// TestUncheckedFrameDamageReconnects: a client that negotiated unchecked frames sends
// frames the server cannot verify. One damaged on the way in a header field checked
// after the checksum's place (the kind, the session, the number) is refused with one of
// uncheckedDamageCodes, and the client must take it as damage to the connection, as
// bad_checksum is in checked mode: reconnect, resend the write under its number, and
// complete it with the reply to the resend. It stopped for good (unexpected_frame,
// bad_request_number: a protocol error naming no request), or failed the write
// (session_mismatch, naming it).
func TestUncheckedFrameDamageReconnects(t *testing.T) {
	const newConnectionMark = 78 // The aux of replies from the reconnect's connection.
	for _, code := range uncheckedDamageCodes {
		t.Run(code.String(), func(t *testing.T) {
			address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
				if connection > 0 {
					for {
						request, ok := peer.uncheckedRequest()
						if !ok {
							return
						}
						if _, err := peer.conn.Write(wire.AppendFrame(nil,
							&wire.Frame{Kind: wire.KindReply, Operation: request.Operation,
								Session: request.Session, Number: request.Number,
								Aux: newConnectionMark}, nil)); err != nil {
							return
						}
					}
				}
				request, ok := peer.uncheckedRequest()
				if !ok {
					return
				}
				number := uint64(0) // What the server sends for these but session_mismatch.
				if code == wire.ErrorSessionMismatch {
					number = request.Number
				}
				peer.refuse(code, number)
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c, err := Dial(ctx, Config{Addresses: []string{address}, Client: 1, Key: 1,
				Secret: []byte("secret"), CoalesceEventsMax: -1, UncheckedFrames: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			reply, err := c.Do(ctx, model.OperationCreateTransfers, 0,
				make([]byte, model.TransferSize))
			if err != nil || reply.Status != model.StatusOK || reply.Op != newConnectionMark {
				t.Fatalf("unchecked frames, a write refused %s: got %+v, %v; want the ok "+
					"reply (op %d) to its resend on the reconnect's connection", code, reply,
					err, newConnectionMark)
			}
		})
	}
}

// TestCheckedFrameCodesKeepTheirMeaning: with checked frames (the default) the server
// verified the frame before deciding these codes, so they are the client's own doing,
// not damage: unexpected_frame and bad_request_number (no request named) still stop the
// client, as before, and are not counted as damage.
func TestCheckedFrameCodesKeepTheirMeaning(t *testing.T) {
	for _, code := range []wire.ErrorCode{wire.ErrorUnexpectedFrame,
		wire.ErrorBadRequestNumber} {
		conn, peer := net.Pipe()
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			stop: make(chan struct{}), conn: conn, generation: 2,
			endLifetime: func() {}, lost: make(chan struct{}, 1)}
		frame := wire.Frame{Kind: wire.KindError, Status: uint32(code)}
		_ = c.handle(&frame, 2)
		c.mu.Lock()
		stopped, fatal, damaged := c.closed, c.fatal, c.refusedAsDamaged
		c.mu.Unlock()
		var refused *ServerError
		if !stopped || !errors.As(fatal, &refused) || refused.Code != uint32(code) ||
			damaged != 0 {
			t.Fatalf("checked frames, %s naming no request: stopped %v with %v, %d "+
				"counted as damage; want stopped with the *ServerError, none counted",
				code, stopped, fatal, damaged)
		}
		peer.Close()
		conn.Close()
	}
}
