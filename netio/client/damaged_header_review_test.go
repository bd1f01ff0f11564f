package client

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestHeaderDamageNamingAnAppliedWriteKeepsExactlyOnce: two writes are pipelined on one
// connection; the server applies the first, and a header refusal (reserved_not_zero,
// which carries a number) names that first write although the damage may have been in
// the second frame: the number is unverified. The reply to the applied write is lost
// with the connection. After the reconnect both are resent under their numbers; the
// first is answered from the exactly-once cache (duplicate, the original op), the second
// is applied. Neither call may fail, and the first must report the original op.
func TestHeaderDamageNamingAnAppliedWriteKeepsExactlyOnce(t *testing.T) {
	const firstOp, secondOp = 41, 42 // Log positions the fake server gives the writes.
	for _, code := range headerDamageCodes {
		t.Run(code.String(), func(t *testing.T) {
			address := startScriptedServer(t, func(connection int, peer *scriptedPeer) {
				if connection == 0 {
					first, ok := peer.request()
					if !ok {
						return
					}
					if _, ok := peer.request(); !ok {
						return
					}
					// The first was applied; its reply never leaves.
					peer.refuse(code, first.Number)
					return
				}
				applied := map[uint64]bool{}
				for {
					request, ok := peer.request()
					if !ok {
						return
					}
					reply := wire.Frame{Kind: wire.KindReply, Operation: request.Operation,
						Session: request.Session, Number: request.Number, Aux: secondOp}
					if len(applied) == 0 && !applied[request.Number] {
						// The lowest number, resent first: the applied one.
						reply.Aux, reply.Flags = firstOp, wire.ReplyFlagDuplicate
					}
					applied[request.Number] = true
					if _, err := peer.conn.Write(wire.AppendFrame(nil, &reply, nil)); err != nil {
						return
					}
				}
			})
			c := dialScripted(t, address)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c.Cork() // Both frames in one write, the order of their numbers.
			first := c.Go(ctx, model.OperationCreateTransfers, 0,
				make([]byte, model.TransferSize), nil)
			second := c.Go(ctx, model.OperationCreateTransfers, 0,
				make([]byte, model.TransferSize), nil)
			c.Uncork()
			firstReply, firstErr := first.Wait(ctx)
			secondReply, secondErr := second.Wait(ctx)
			if firstErr != nil || firstReply == nil || firstReply.Status != model.StatusOK ||
				!firstReply.Duplicate || firstReply.Op != firstOp {
				t.Fatalf("the applied write got %+v, %v; want its duplicate reply (op %d)",
					firstReply, firstErr, firstOp)
			}
			if secondErr != nil || secondReply == nil || secondReply.Status != model.StatusOK ||
				secondReply.Duplicate || secondReply.Op != secondOp {
				t.Fatalf("the other write got %+v, %v; want ok (op %d)", secondReply,
					secondErr, secondOp)
			}
		})
	}
}

// headerDamagingProxy forwards loopback connections to target. On the first connection
// it damages the header of the client's request frame number damageAt (from 1, in
// stream order; damage, over the frame's bytes) and drops every reply the server sends
// on it to the request before that one or later, so that the one before is applied and
// its reply lost with the connection; later connections pass untouched.
type headerDamagingProxy struct {
	listener net.Listener
	target   string
	damageAt int
	damage   func(frame []byte)
	lostFrom atomic.Uint64 // Replies to numbers from this one on are dropped (0: none).
	mu       sync.Mutex
	open     []net.Conn
	pumps    sync.WaitGroup
	damaged  atomic.Bool // The second request of the first connection was damaged.
}

func startHeaderDamagingProxy(t *testing.T, target string, damageAt int,
	damage func(frame []byte)) *headerDamagingProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &headerDamagingProxy{listener: listener, target: target, damageAt: damageAt,
		damage: damage}
	p.pumps.Add(1)
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.mu.Lock()
		for _, conn := range p.open {
			conn.Close()
		}
		p.mu.Unlock()
		p.pumps.Wait()
	})
	return p
}

func (p *headerDamagingProxy) accept() {
	defer p.pumps.Done()
	for index := 0; ; index++ {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			return
		}
		p.mu.Lock()
		p.open = append(p.open, client, server)
		p.mu.Unlock()
		p.pumps.Add(2)
		go p.pump(client, server, index == 0, true)
		go p.pump(server, client, index == 0, false)
	}
}

// pump copies frames from one side to the other until either ends, then closes both.
func (p *headerDamagingProxy) pump(from, to net.Conn, first, fromClient bool) {
	defer p.pumps.Done()
	defer from.Close()
	defer to.Close()
	requests := 0
	for {
		frame := make([]byte, wire.HeaderSize)
		if _, err := io.ReadFull(from, frame); err != nil {
			return
		}
		bodyBytes := binary.LittleEndian.Uint32(frame[8:12])
		frame = append(frame, make([]byte, bodyBytes)...)
		if _, err := io.ReadFull(from, frame[wire.HeaderSize:]); err != nil {
			return
		}
		kind := wire.Kind(frame[5])
		if first && fromClient && kind == wire.KindRequest {
			requests++
			if requests == p.damageAt-1 {
				p.lostFrom.Store(binary.LittleEndian.Uint64(frame[24:32]))
			}
			if requests == p.damageAt {
				p.damage(frame)
				p.damaged.Store(true)
			}
		}
		lostFrom := p.lostFrom.Load()
		if first && !fromClient && kind == wire.KindReply && lostFrom != 0 &&
			binary.LittleEndian.Uint64(frame[24:32]) >= lostFrom {
			continue // Lost with the connection.
		}
		if _, err := to.Write(frame); err != nil {
			return
		}
	}
}

// TestHeaderDamageEndToEndAppliesOnce: against the real server (fake shard), a request's
// header damaged on the way (each byte the server checks before the checksum) while the
// reply to the request before it is lost: both calls complete ok, each request applied
// exactly once, the client still running.
func TestHeaderDamageEndToEndAppliesOnce(t *testing.T) {
	damages := map[string]func(frame []byte){
		"magic":       func(frame []byte) { frame[0] ^= 0x01 },
		"version":     func(frame []byte) { frame[4] = 2 },
		"kind":        func(frame []byte) { frame[5] = 99 },
		"body_length": func(frame []byte) { frame[11] = 0x7f },
		"reserved":    func(frame []byte) { frame[40] = 1 },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			server := startTestServer(t)
			proxy := startHeaderDamagingProxy(t, server.server.Address(), 2, damage)
			c := dialTestClient(t, proxy.listener.Addr().String(),
				func(config *Config) { config.CoalesceEventsMax = -1 })
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c.Cork()
			calls := []*Call{
				c.Go(ctx, model.OperationCreateTransfers, 0, make([]byte, model.TransferSize), nil),
				c.Go(ctx, model.OperationCreateTransfers, 0, make([]byte, model.TransferSize), nil),
			}
			c.Uncork()
			for index, call := range calls {
				reply, err := call.Wait(ctx)
				if err != nil || reply.Status != model.StatusOK {
					t.Fatalf("write %d got %+v, %v; want ok", index+1, reply, err)
				}
				if applied := server.backend.Applications(1, c.Session(),
					call.Number); applied != 1 {
					t.Fatalf("write %d applied %d times", index+1, applied)
				}
			}
			if !proxy.damaged.Load() {
				t.Fatal("the proxy damaged nothing: the test proves nothing")
			}
		})
	}
}
