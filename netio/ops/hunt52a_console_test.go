package ops

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sequent/core/model"
	"sequent/tools/deploy"
)

// TestHunt52aConsoleNeverOverlapsItsDepthRequests: the console's poll promised that a
// slow server never gets overlapping requests from one page, but the order book's
// "show" button (and a change of instrument) ran the poll again while its request was
// still out, starting a second request and a second polling chain beside the first
// (with requests slower than the interval, each chain went on for good: every click
// added a depth read a second to a server already slow). Now a request asked for while
// one is out waits for it and then runs once, whatever the number of clicks.
//
// The depth source holds every read until the test lets it go, so the page's first
// request is out for as long as the test needs; the test counts, in the page, the depth
// requests started by three clicks made meanwhile (fetch is wrapped: the count is
// exact, not a timing). Skipped without chromium, except in CI (SEQUENT_REQUIRE_TOOLS=1).
func TestHunt52aConsoleNeverOverlapsItsDepthRequests(t *testing.T) {
	path := deploy.FindTool(t, true, "chromium", "chromium-browser", "google-chrome")
	started := make(chan struct{}, 64)
	gate := make(chan struct{})
	sources := newFakeSources().sources()
	sources.Console = fakeConsoleSources(nil)
	fakeDepth := sources.Console.Depth
	sources.Console.Depth = func(instrument, levels uint32) ([]model.DepthLevel, model.Status,
		error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-gate
		return fakeDepth(instrument, levels)
	}
	server := startServer(t, Config{RequestsPerSecondPerAddress: -1}, sources)
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(open) // Before the server's shutdown (cleanups run last first).

	timeout, cancelTimeout := context.WithTimeout(context.Background(), 2*waitMax)
	allocator, cancelAllocator := chromedp.NewExecAllocator(timeout, chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	tab, cancelTab := chromedp.NewContext(allocator)
	t.Cleanup(func() { cancelTab(); cancelAllocator(); cancelTimeout() })
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+server.Address()+"/?instrument=7")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started: // The page's first depth request, held.
	case <-time.After(waitMax):
		t.Fatal("the page sent no depth request")
	}
	const countFetches = `(() => {
		window.depthFetches = 0;
		const original = window.fetch;
		window.fetch = function (resource) {
			if (String(resource).startsWith('/v1/depth')) window.depthFetches++;
			return original.apply(this, arguments);
		};
		return true;
	})()`
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](countFetches)); err != nil {
		t.Fatal(err)
	}
	clicked, err := chromedp.Run(tab, chromedp.Evaluate[int](`(() => {
		const form = document.getElementById('depth-form');
		for (let i = 0; i < 3; i++) form.requestSubmit();
		return window.depthFetches;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if clicked != 0 {
		t.Errorf("three clicks while a depth request was out started %d more at once, "+
			"want 0 (one, after it)", clicked)
	}
	// The clicks are not lost: once the held request ends, one more runs.
	open()
	deadline := time.Now().Add(waitMax)
	for {
		after, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.depthFetches`))
		if err != nil {
			t.Fatal(err)
		}
		if after > clicked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no depth request followed the clicks once the held one ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
