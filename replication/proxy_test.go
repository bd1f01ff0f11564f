package replication

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// freezingProxy forwards TCP connections to a target until frozen; from then on it acts
// like a stopped process (SIGSTOP), or a hung witness, at the far end: connections stay open, nothing more
// is forwarded either way, new connections are accepted and never answered. It keeps
// reading both sides while frozen (and drops the bytes) so that it notices when one of
// them closes, and counts the connections it accepted.
type freezingProxy struct {
	listener net.Listener
	target   string
	frozen   atomic.Bool
	accepted atomic.Int64
	// onTargetClosed, when set, runs when the target side of a connection closes.
	onTargetClosed atomic.Pointer[func()]
	targetClosed   atomic.Bool
	mutex          sync.Mutex
	conns          []net.Conn
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{listener: listener, target: target}
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.mutex.Lock()
		for _, conn := range p.conns {
			conn.Close()
		}
		p.mutex.Unlock()
	})
	return p
}

func (p *freezingProxy) address() string { return p.listener.Addr().String() }

func (p *freezingProxy) keep(conn net.Conn) {
	p.mutex.Lock()
	p.conns = append(p.conns, conn)
	p.mutex.Unlock()
}

func (p *freezingProxy) accept() {
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.keep(conn)
		if p.frozen.Load() {
			go io.Copy(io.Discard, conn) // Held open, never answered.
			continue
		}
		go p.forward(conn)
	}
}

// forward connects conn to the target and copies both ways.
func (p *freezingProxy) forward(conn net.Conn) {
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		conn.Close()
		return
	}
	p.keep(upstream)
	go p.pipe(conn, upstream, false)
	p.pipe(upstream, conn, true)
}

// pipe copies from to to until from closes, dropping the bytes while frozen.
func (p *freezingProxy) pipe(from, to net.Conn, fromTarget bool) {
	buffer := make([]byte, 64<<10)
	for {
		n, err := from.Read(buffer)
		if n > 0 && !p.frozen.Load() {
			to.Write(buffer[:n])
		}
		if err != nil {
			if fromTarget {
				p.targetClosed.Store(true)
				if hook := p.onTargetClosed.Load(); hook != nil {
					(*hook)()
				}
			}
			if !p.frozen.Load() {
				to.Close()
			}
			return
		}
	}
}
