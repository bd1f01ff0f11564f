package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// closedLoopbackAddress returns a loopback address nothing listens on: a random free
// port, listened on and closed again.
func closedLoopbackAddress(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	return address
}

// TestUnreachableNamesEachAddressOnce: Dial with no server reachable returns one line
// a command-line tool prints as is ("sequent client" does). It named every address with
// its error and then printed the last address's error a second time, after the list.
// The test dials two closed loopback ports and expects each address's error once, in
// order, and the error still to be ErrUnreachable and to wrap the last dial error.
func TestUnreachableNamesEachAddressOnce(t *testing.T) {
	first, second := closedLoopbackAddress(t), closedLoopbackAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := Dial(ctx, Config{Addresses: []string{first, second}, Client: 1, Key: 1,
		Secret: []byte("secret")})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial to closed ports: %v, want ErrUnreachable", err)
	}
	var last *net.OpError
	if !errors.As(err, &last) || !strings.Contains(last.Error(), second) {
		t.Fatalf("Dial to closed ports: %v, want it to wrap the dial error of %s", err, second)
	}
	message := err.Error()
	if count := strings.Count(message, last.Error()); count != 1 {
		t.Fatalf("message %q holds the last dial error %d times, want once", message, count)
	}
	if !strings.HasPrefix(message, ErrUnreachable.Error()+" (") ||
		!strings.HasSuffix(message, ")") || strings.Contains(message, "\n") {
		t.Fatalf("message %q, want one line: %q (ADDRESS: ERROR; ...)", message,
			ErrUnreachable.Error())
	}
	firstAt := strings.Index(message, first+": ")
	secondAt := strings.Index(message, second+": ")
	if firstAt < 0 || secondAt < firstAt {
		t.Fatalf("message %q, want %s's error, then %s's", message, first, second)
	}
}
