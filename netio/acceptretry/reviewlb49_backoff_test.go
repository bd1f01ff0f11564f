package acceptretry

import (
	"bytes"
	"log/slog"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/netio/acceptretry/acceptretrytest"
)

// TestReviewlb49AcceptBackOffDoublesUpToItsMax: the waits between accepts that failed for
// want of resources start at delayFirst, double, and stay at delayMax, with one warning
// per try. TestAcceptWaitsOutResourcesAndReturnsOtherErrors only counted the tries: a
// back-off without its cap (min dropped: after 20 failures, an 87-minute wait during
// which the port answers nothing though descriptors are free again) or a wait that did
// not grow (a warning every 5 ms for as long as descriptors lack) passed it. The delays
// are recorded, not slept, so nothing here depends on time.
func TestReviewlb49AcceptBackOffDoublesUpToItsMax(t *testing.T) {
	var slept []time.Duration
	sleep = func(delay time.Duration) { slept = append(slept, delay) }
	defer func() { sleep = time.Sleep }()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	const failures = 12
	errs := make([]error, failures)
	for i := range errs {
		errs[i] = acceptretrytest.AcceptError(nil, syscall.EMFILE)
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	dialed, err := net.Dial("tcp", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	conn, err := Accept(&scriptedListener{Listener: listener, errors: errs}, logger, "test")
	if err != nil {
		t.Fatalf("Accept after %d EMFILEs: %v", failures, err)
	}
	_ = conn.Close()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond,
		20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
		160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
		time.Second, time.Second, time.Second, time.Second}
	if !slices.Equal(slept, want) {
		t.Fatalf("slept %v; want %v", slept, want)
	}
	if warnings := strings.Count(logged.String(), "level=WARN"); warnings != failures {
		t.Fatalf("%d warnings for %d failed tries:\n%s", warnings, failures, logged.String())
	}
}
