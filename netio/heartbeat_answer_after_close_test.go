package netio_test

import (
	"net"
	"testing"

	"sequent/netio/wire"
)

// TestShutDownWithinHeartbeatsReadsPastAFailedAnswer pins the helper that
// TestReviewr44FencedNodeOfOneFeedClosesEveryShardsReportSubscribers and
// TestReportSubscriberOfAFencedPrimaryIsTold end with. Under load (session 47) that test
// failed with "write: broken pipe": the server had sent heartbeats, then the error frame
// shutting_down, and closed, all before the test read the first heartbeat; the test's
// answer to it drew the closed socket's reset, and its answer to the next heartbeat
// failed, although the error frame the test waits for was already received and readable.
//
// A stand-in server here does exactly that, every time: heartbeatsSent heartbeats, the
// error frame, then the close, all finished before the helper reads anything. The helper
// must answer what it can, read on, and report the shutdown.
func TestShutDownWithinHeartbeatsReadsPastAFailedAnswer(t *testing.T) {
	const (
		session        = 5
		heartbeatsSent = 10
	)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	closed := make(chan error, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			closed <- err
			return
		}
		var frames []byte
		for range heartbeatsSent {
			frames = wire.AppendFrame(frames, &wire.Frame{Kind: wire.KindHeartbeat,
				Session: session}, nil)
		}
		frames = wire.AppendFrame(frames, &wire.Frame{Kind: wire.KindError,
			Status: uint32(wire.ErrorShuttingDown), Session: session}, []byte("shutting down"))
		_, err = conn.Write(frames)
		if closeErr := conn.Close(); err == nil {
			err = closeErr
		}
		closed <- err
	}()
	conn, err := net.DialTimeout("tcp", listener.Addr().String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !shutDownWithinHeartbeats(t, &rawConn{t: t, conn: conn}, session, heartbeatsSent+1) {
		t.Fatalf("%d heartbeats then shutting_down were sent; the helper saw no error frame",
			heartbeatsSent)
	}
}
