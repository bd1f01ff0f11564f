package replication

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// gate accepts the node's replication connections on its one listener while the node is
// primary: it sends each the challenge, then hands a fence to the node (which fences every
// shard) and a standby's hello to the primary of the shard the hello names. One listener
// serves all of a node's shards, so a pair of nodes needs one replication address each
// whatever the shard count.
type gate struct {
	node     *Node
	listener net.Listener
	closed   chan struct{}
	once     sync.Once
	conns    sync.WaitGroup // The accept loop and every connection it serves.
}

func startGate(n *Node, listener net.Listener) *gate {
	g := &gate{node: n, listener: listener, closed: make(chan struct{})}
	g.conns.Add(1)
	go g.accept()
	return g
}

func (g *gate) accept() {
	defer g.conns.Done()
	for {
		conn, err := g.listener.Accept()
		if err != nil {
			select {
			case <-g.closed:
				return
			default:
			}
			g.node.config.Logger.Warn("replication: accept failed", "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		g.conns.Add(1)
		go func() {
			defer g.conns.Done()
			g.serve(conn)
		}()
	}
}

// close stops accepting; connections already served end with their primaries' sessions
// (Primary.Close), and wait returns once they have.
func (g *gate) close() {
	g.once.Do(func() {
		close(g.closed)
		g.listener.Close()
	})
}

func (g *gate) wait() { g.conns.Wait() }

// serve runs one connection: the challenge, then either a fence or a standby session.
func (g *gate) serve(conn net.Conn) {
	defer conn.Close()
	logger := g.node.config.Logger
	reader := newFrameReader(conn)
	writer := bufio.NewWriterSize(conn, 1<<16)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		logger.Error("replication: no randomness for a nonce", "error", err)
		return
	}
	timeout := handshakeTimeout
	if g.node.config.gateHandshakeTimeout > 0 {
		timeout = g.node.config.gateHandshakeTimeout
	}
	conn.SetDeadline(time.Now().Add(timeout))
	if secured, ok := conn.(*tls.Conn); ok {
		// Handshake now rather than on the first write, so that a refused certificate is
		// logged as what it is.
		if err := secured.Handshake(); err != nil {
			logger.Warn("replication: TLS handshake failed", "peer", conn.RemoteAddr().String(),
				"error", err)
			return
		}
	}
	epoch := g.node.Epoch()
	challenge := append(append([]byte(nil), nonce...), encodeUint64s(0)...)
	if writeFrame(writer, frameChallenge, epoch, challenge) != nil || writer.Flush() != nil {
		return
	}
	// Read before its MAC can be checked: a peer without the key may send it.
	first, err := reader.readAtMost(unauthenticatedFrameBytesMax)
	if errors.Is(err, errFrameTooLarge) {
		logger.Warn("replication: first frame too large, refused unread", "peer",
			conn.RemoteAddr().String(), "error", err)
		writeFrame(writer, frameError, epoch, []byte(err.Error()))
		writer.Flush()
		return
	}
	if err != nil {
		return
	}
	switch first.kind {
	case frameFence:
		g.node.handleFence(first, nonce)
	case frameHello:
		if err := g.hello(conn, reader, writer, first, nonce); err != nil {
			logger.Warn("replication: standby session ended", "peer",
				conn.RemoteAddr().String(), "error", err)
			switch {
			case errors.Is(err, ErrUnauthenticated):
				// Said as a refusal the standby stops on, not as a text it retries after.
				writeFrame(writer, frameRefused, g.node.Epoch(),
					encodeRefusal(refusedUnauthenticated, "replication key mismatch"))
			case errors.Is(err, errShardMap):
				writeFrame(writer, frameRefused, g.node.Epoch(),
					encodeRefusal(refusedShardMap, err.Error()))
			default:
				writeFrame(writer, frameError, g.node.Epoch(), []byte(err.Error()))
			}
			writer.Flush()
		}
	default:
		logger.Warn("replication: unexpected first frame", "type", first.kind)
	}
}

// hello routes a standby's hello to the primary of the shard it names.
func (g *gate) hello(conn net.Conn, reader *frameReader, writer *bufio.Writer, f frame,
	nonce []byte) error {
	if len(f.body) < 32 {
		return ErrUnauthenticated
	}
	h, err := decodeHello(f.body[32:])
	if err != nil {
		return err
	}
	groups := g.node.groups
	index := int(h.shard)
	if index >= len(groups) {
		// Authenticate before saying anything about the map.
		if !verifyMAC(g.node.config.Key, frameHello, nonce, f.epoch, f.body[32:], f.body[:32]) {
			return ErrUnauthenticated
		}
		return errShardMap
	}
	primary := groups[index].primary.Load()
	if primary == nil {
		return errFenced // Not serving as a primary (closing, or not yet promoted).
	}
	return primary.handleHello(conn, reader, writer, f, h, nonce)
}
