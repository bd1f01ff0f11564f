package ops

import (
	"net"
	"sync"

	"github.com/valyala/fasthttp"

	"sequent/netio/acceptretry"
	"sequent/netio/peer"
)

// Peers outside the allow-list are served apart. fasthttp's Concurrency (connectionsMax)
// counts every open connection, and one answered 403 stays open for its next request
// (keep-alive, up to idleTimeout) like any other: eight addresses outside the allow-list,
// at ConnectionsPerAddressMaxDefault each, held all connectionsMax slots, and the
// operators, Prometheus and the load balancer's probes were answered 503 by fasthttp
// (TestHunt49DisallowedPeersCannotTakeTheOperatorsPort). So the accepting goroutine hands
// a connection from an address the allow-list leaves out to a second fasthttp server of
// its own, with refusedConnectionsMax slots and no keep-alive, which answers it as
// before (the same handler: 403 address_not_allowed, counted and logged) and closes it.
// Such peers can only crowd each other out.

// refusedConnectionsMax bounds the connections of peers outside the allow-list served at
// once (each gets one 403 and is closed; past the bound fasthttp answers 503 and closes):
// a stray scanner needs one.
const refusedConnectionsMax = 16

// allowListener returns the connections of peers the allow-list admits (and of peers
// without an IP address, which the handler refuses) and passes the others to refused.
type allowListener struct {
	net.Listener
	server  *Server
	refused *refusedListener
}

// Accept returns the next connection of an admitted peer. Running out of file
// descriptors (or kernel memory) is waited out (acceptretry.Accept): fasthttp's Serve
// retries only a timeout and returns on any other error, which ended the operators'
// server for good on one EMFILE
// (TestReviewHN49OutOfFileDescriptorsDoesNotStopTheOperatorsPort).
func (l *allowListener) Accept() (net.Conn, error) {
	for {
		conn, err := acceptretry.Accept(l.Listener, l.server.logger, "ops")
		if err != nil {
			return nil, err
		}
		address, ok := peer.AddressOf(conn.RemoteAddr())
		if !ok || allowed(l.server.allow, address) {
			return conn, nil
		}
		l.refused.pass(conn)
	}
}

// refusedListener is the refusal server's listener: the connections allowListener
// passes it, queued up to refusedConnectionsMax.
type refusedListener struct {
	address net.Addr
	conns   chan net.Conn
	mutex   sync.Mutex // Orders pass and Close: no connection is queued after Close.
	done    bool       // Closed; under mutex.
	closed  chan struct{}
}

func newRefusedListener(address net.Addr) *refusedListener {
	return &refusedListener{address: address,
		conns: make(chan net.Conn, refusedConnectionsMax), closed: make(chan struct{})}
}

// pass queues conn for the refusal server, or closes it when the queue is full (peers
// outside the allow-list connecting faster than they are answered) or the server closed.
func (l *refusedListener) pass(conn net.Conn) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if !l.done {
		select {
		case l.conns <- conn:
			return
		default:
		}
	}
	_ = conn.Close()
}

// Accept returns the next connection passed, until Close.
func (l *refusedListener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.conns:
		return conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close ends Accept (the refusal server's Shutdown calls it) and closes the connections
// still queued.
func (l *refusedListener) Close() error {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if !l.done {
		l.done = true
		close(l.closed)
	}
	for {
		select {
		case conn := <-l.conns:
			_ = conn.Close()
		default:
			return nil
		}
	}
}

// Addr is the address the peers connected to.
func (l *refusedListener) Addr() net.Addr { return l.address }

// newRefusalServer returns the server for peers outside the allow-list: the main
// server's handler (which answers them 403) with refusedConnectionsMax slots and no
// keep-alive.
func (s *Server) newRefusalServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               s.handle,
		ErrorHandler:          s.handleError,
		NoDefaultServerHeader: true,
		Concurrency:           refusedConnectionsMax,
		DisableKeepalive:      true,
		ReadBufferSize:        headerBytesMax,
		WriteBufferSize:       headerBytesMax,
		MaxRequestBodySize:    requestBodyBytesMax,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{s.logger},
	}
}
