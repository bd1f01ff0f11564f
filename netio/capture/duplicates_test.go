package capture

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sequent/tools/natstest"
)

// TestDuplicateWindowConfigured: a stream capture creates has Config.Duplicates as its
// duplicate window (serve --cdc-duplicate-window); a capture configured otherwise that
// finds the stream made keeps the stream's window (the operator's to change) and says so
// once, however many sessions it connects.
func TestDuplicateWindowConfigured(t *testing.T) {
	url := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0").ClientURL()
	const window = 3 * time.Second
	first := New(Config{URL: url, Duplicates: window})
	if err := first.connect(); err != nil {
		t.Fatal(err)
	}
	defer first.disconnect()
	readWindow := func() time.Duration {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
		defer cancel()
		stream, err := first.js.Stream(ctx, first.stream)
		if err != nil {
			t.Fatal(err)
		}
		return stream.CachedInfo().Config.Duplicates
	}
	if got := readWindow(); got != window {
		t.Fatalf("stream made with a duplicate window of %v, want %v", got, window)
	}
	var logged bytes.Buffer
	other := New(Config{URL: url, Duplicates: 2 * window,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for range 2 {
		if err := other.connect(); err != nil {
			t.Fatal(err)
		}
		other.disconnect()
	}
	if got := readWindow(); got != window {
		t.Errorf("an existing stream's window changed to %v, want %v kept", got, window)
	}
	if n := strings.Count(logged.String(), "duplicate window is not the one configured"); n != 1 {
		t.Errorf("warned %d times, want once: %q", n, logged.String())
	}
}
