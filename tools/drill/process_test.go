package drill

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a fake `sequent serve` (see fakeServe), so that start-up
// failures can be scripted without a real server.
func TestMain(m *testing.M) {
	if os.Getenv("DRILL_FAKE_SERVE") != "" {
		fakeServe()
		return
	}
	os.Exit(m.Run())
}

// fakeServe fails its first DRILL_FAKE_FAILURES starts with DRILL_FAKE_MESSAGE (counting
// starts in the file DRILL_FAKE_COUNTER), then serves /v1/status on its --http address.
func fakeServe() {
	counter := os.Getenv("DRILL_FAKE_COUNTER")
	raw, _ := os.ReadFile(counter)
	starts, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	os.WriteFile(counter, []byte(strconv.Itoa(starts+1)), 0o644)
	failures, _ := strconv.Atoi(os.Getenv("DRILL_FAKE_FAILURES"))
	if starts < failures {
		fmt.Fprintln(os.Stderr, "sequent:", os.Getenv("DRILL_FAKE_MESSAGE"))
		os.Exit(1)
	}
	address := ""
	for i, arg := range os.Args {
		if arg == "--http" && i+1 < len(os.Args) {
			address = os.Args[i+1]
		}
	}
	http.HandleFunc("/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"role":"primary","epoch":1}`)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(address, nil))
	os.Exit(1)
}

func fakeNode(t *testing.T, failures int, message string) (*node, string) {
	t.Helper()
	directory := t.TempDir()
	counter := filepath.Join(directory, "starts")
	t.Setenv("DRILL_FAKE_SERVE", "1")
	t.Setenv("DRILL_FAKE_COUNTER", counter)
	t.Setenv("DRILL_FAKE_FAILURES", strconv.Itoa(failures))
	t.Setenv("DRILL_FAKE_MESSAGE", message)
	binary, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNode("a", binary, directory, "keys.json", "key", "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.kill() })
	return n, counter
}

func starts(t *testing.T, counter string) int {
	raw, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	count, _ := strconv.Atoi(string(raw))
	return count
}

// TestStartServingRetriesTakenPorts: a node whose port was taken at start is started
// again until it serves; any other start-up failure is reported at once, with no retry.
func TestStartServingRetriesTakenPorts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	n, counter := fakeNode(t, 2, "ops: listen: listen tcp 127.0.0.1:1: bind: address already in use")
	if err := n.startServing(ctx, ""); err != nil {
		t.Fatalf("after two taken-port failures: %v", err)
	}
	if got := starts(t, counter); got != 3 {
		t.Fatalf("%d starts, want 3", got)
	}

	n, counter = fakeNode(t, 1, "log: segment 3 damaged at offset 4096")
	err := n.startServing(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("a damaged log: error %v, want the node's exit", err)
	}
	if got := starts(t, counter); got != 1 {
		t.Fatalf("%d starts for a failure retrying cannot fix, want 1", got)
	}

	n, counter = fakeNode(t, startAttemptsMax, "bind: address already in use")
	if err := n.startServing(ctx, ""); err == nil {
		t.Fatal("a port taken on every attempt: no error")
	}
	if got := starts(t, counter); got != startAttemptsMax {
		t.Fatalf("%d starts, want the bound %d", got, startAttemptsMax)
	}
}

// TestCheckRolesNamesAnUnprovokedFailover: before a fault the drill confirms that the
// node it is about to fault is the primary and the other its standby. When a witness
// failed the pair over on its own (a lease lost to scheduling delays), it says so,
// naming each node's role and leases lost, instead of faulting the wrong node.
func TestCheckRolesNamesAnUnprovokedFailover(t *testing.T) {
	serveStatus := func(body string) string {
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, body)
		}))
		t.Cleanup(server.Close)
		return strings.TrimPrefix(server.URL, "http://")
	}
	primary := `{"role":"primary","epoch":1}`
	standby := `{"role":"standby","epoch":1}`
	fenced := `{"role":"fenced","epoch":1,"replication":{"lease_losses":1}}`
	promoted := `{"role":"primary","epoch":2}`
	d := &drill{config: Config{Automatic: true, Lease: LeaseDefault}}
	d.nodes[0] = &node{name: "a", http: serveStatus(primary)}
	d.nodes[1] = &node{name: "b", http: serveStatus(standby)}
	if err := d.checkRoles(context.Background()); err != nil {
		t.Fatalf("a primary and its standby: %v", err)
	}
	d.nodes[0].http, d.nodes[1].http = serveStatus(fenced), serveStatus(promoted)
	err := d.checkRoles(context.Background())
	if err == nil {
		t.Fatal("a fenced primary and a promoted standby passed the check")
	}
	for _, want := range []string{"a is fenced (1 leases lost)", "b is primary",
		"a failover the drill did not cause", "--lease"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error %q does not say %q", err, want)
		}
	}
}
