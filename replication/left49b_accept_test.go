package replication

import (
	"net"
	"testing"
	"time"

	"sequent/netio/acceptretry/acceptretrytest"
)

// TestLeft49bOutOfFileDescriptorsDoesNotStopTheWitness: the witness's accept loop
// returned on any error, so one EMFILE (a burst of nodes' connections at the process's
// limit) ended it for good: the port stayed bound and no lease was ever granted or
// renewed again, fencing the primary. The listener now waits such errors out
// (netio/acceptretry): a connection made after the failure gets its challenge.
func TestLeft49bOutOfFileDescriptorsDoesNotStopTheWitness(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := acceptretrytest.NewFileLimitListener(listener)
	witness := StartWitness(WitnessConfig{Listener: limited, Key: testKey,
		LeaseDuration: testLeaseDuration, Logger: testLogger})
	t.Cleanup(func() { witness.Close() })
	conn, err := net.DialTimeout("tcp", listener.Addr().String(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Generous: without the fix nothing is ever written, and the read ends here.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		t.Fatalf("no challenge after an EMFILE on accept: %v", err)
	}
	if !limited.Failed() {
		t.Fatal("the listener never failed")
	}
}
