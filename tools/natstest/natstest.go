// Package natstest runs a real nats-server with JetStream inside a test binary, so the
// change-capture tests and benchmarks need nothing installed. Only tests import it: the
// sequent binary does not link the server.
package natstest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs nats-server with JetStream (file storage under dir) on address
// ("127.0.0.1:port"; port 0 picks one) until the test ends. Call Shutdown on the result
// to stop it earlier (a restart on the same dir and address keeps the streams).
func Start(t testing.TB, dir, address string) *server.Server {
	t.Helper()
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: host, Port: port, JetStream: true,
		StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}
