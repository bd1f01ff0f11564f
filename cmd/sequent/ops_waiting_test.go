package main

import (
	"errors"
	"net"
	"testing"
	"time"

	"sequent/netio/ops"
)

// A lent listener's Close stops an Accept blocked on it (net.ErrClosed, as a closed
// listener reports, so that a server's Serve ends) without closing the socket: once
// given back, the same listener accepts the next connection.
func TestLentListenerStopsAcceptAndKeepsThePort(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	lent := &lentListener{Listener: listener, deadlines: listener.(*net.TCPListener)}
	accepted := make(chan error, 1)
	go func() {
		_, err := lent.Accept()
		accepted <- err
	}()
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Accept still blocked 30 s after Close")
	}
	if err := lent.giveBack(); err != nil {
		t.Fatal(err)
	}
	client, err := net.DialTimeout("tcp", listener.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := listener.Accept()
	if err != nil {
		t.Fatalf("the port after it was given back: %v", err)
	}
	conn.Close()
}

// A standby waiting for its primary reports disk_space_low as the running node does
// (TestAFullFileSystemIsReportedLow): a full file system (0 bytes left of a known size)
// is the lowest of all, not "unknown"; only a size of 0 (no statfs) is.
func TestWaitingSnapshotReportsAFullFileSystemLow(t *testing.T) {
	o := &serveOptions{data: t.TempDir(), dataFreeBytesWarn: dataFreeBytesWarnDefault}
	for _, c := range diskSpaceCases {
		low := false
		for _, problem := range waitingSnapshot(o, time.Second, c.available, c.filesystem).Problems {
			low = low || problem.Code == ops.ProblemDiskSpaceLow
		}
		if low != c.low {
			t.Errorf("%s (%d of %d bytes left): disk_space_low %v, want %v", c.name,
				c.available, c.filesystem, low, c.low)
		}
	}
}
