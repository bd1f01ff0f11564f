package netio_test

import (
	"net"
	"testing"

	"sequent/netio"
	"sequent/netio/fakeshard"
)

// TestShutdownAfterAFailedStart (the suspicion of review reviewmd, session 40): a Start
// that cannot listen stops the market-data feeds it started; a Shutdown after it (a
// caller's deferred cleanup) stopped them a second time, closing each feed's stop channel
// twice: a panic. It must return, as a Shutdown of a server that never started does.
func TestShutdownAfterAFailedStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeshard.New(fakeshard.Config{})
	defer fake.Close()
	server, err := netio.NewServer(netio.Config{Address: taken.Addr().String(), Keys: keys,
		Logger: testLogger()}, fake)
	if err != nil {
		t.Fatal(err)
	}
	fake.Start(server)
	if err := server.Start(); err == nil {
		t.Fatalf("Start on %s, a port in use, succeeded", taken.Addr())
	}
	if err := server.Shutdown(background(t)); err != nil {
		t.Fatalf("Shutdown after a failed Start: %v", err)
	}
}
