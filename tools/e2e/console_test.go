package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"sequent/core/model"
	"sequent/tools/deploy"
)

var consoleScreenshot = flag.String("e2e.screenshot", "",
	"write a PNG of the live console to this file (TestConsoleInBrowser)")

// browserTimeout bounds the whole browser session of a test.
const browserTimeout = 90 * time.Second

// startBrowser starts headless Chromium (Debian's chromium) on a fresh profile with
// everything that would reach outside turned off, and returns a context driving one tab.
// Uncaught JavaScript exceptions are collected in the returned list.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path := deploy.FindTool(t, true, "chromium", "chromium-browser", "google-chrome")
	options := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	}
	timeout, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocator, cancelAllocator := chromedp.NewExecAllocator(timeout, options...)
	tab, cancelTab := chromedp.NewContext(allocator)
	t.Cleanup(func() {
		cancelTab()
		cancelAllocator()
		cancelTimeout()
	})
	var mutex sync.Mutex
	var exceptions []string
	err := chromedp.Listen(tab, func(event any) { // Starts the browser.
		if thrown, ok := event.(*runtime.EventExceptionThrown); ok && thrown.ExceptionDetails != nil {
			details := thrown.ExceptionDetails
			text := fmt.Sprintf("%s at %s:%d", details.Text, details.URL, details.LineNumber+1)
			if details.Exception != nil {
				text += ": " + details.Exception.Description
			}
			mutex.Lock()
			exceptions = append(exceptions, text)
			mutex.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return tab, func() []string {
		mutex.Lock()
		defer mutex.Unlock()
		return append([]string(nil), exceptions...)
	}
}

// pageText evaluates a JavaScript expression that yields a string.
func pageText(t *testing.T, tab context.Context, expression string) string {
	t.Helper()
	text, err := chromedp.Run(tab, chromedp.Evaluate[string](expression))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expression, err)
	}
	return text
}

// elementText is the text of the element with this id ("" when there is none).
func elementText(t *testing.T, tab context.Context, id string) string {
	t.Helper()
	return pageText(t, tab, `(document.getElementById(`+strconv.Quote(id)+`) || {}).textContent || ""`)
}

// waitForPage polls the page until condition holds (bounded by browserTimeout's
// context and a 30 s deadline), failing with what was last seen.
func waitForPage(t *testing.T, what string, condition func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, seen := condition()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not show %s within 30 s; it shows %s", what, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// displayedNumber parses a number the console formats with thousands separators.
func displayedNumber(text string) (uint64, bool) {
	value, err := strconv.ParseUint(strings.ReplaceAll(text, ",", ""), 10, 64)
	return value, err == nil
}

// bookRows reads one side of the console's order book: each row's cells joined by "|".
func bookRows(t *testing.T, tab context.Context, side string) string {
	t.Helper()
	return pageText(t, tab, `Array.from(document.querySelectorAll("#depth-`+side+` tr")).map(
		row => Array.from(row.cells).map(cell => cell.textContent).filter(text => text).join("|")).join(" ")`)
}

// TestConsoleInBrowser opens the live console of a running server in headless Chromium
// and checks that it shows the server's live values (role, epoch, the shard's
// positions, connections, the order book of instrument 1), loads nothing from anywhere
// else, raises no script error, and updates without a reload when load runs: the applied
// op follows the server, a new order appears in the book, and the latency chart draws the
// requests. Skipped without chromium, except in CI (SEQUENT_REQUIRE_TOOLS=1).
func TestConsoleInBrowser(t *testing.T) {
	tab, exceptions := startBrowser(t)
	node := startKitNode(t)
	node.openBook(t)
	node.transfers(t, 1, 100)
	status := node.status(t)
	origin := "http://" + node.http
	if err := chromedp.Do(tab, chromedp.Navigate(origin+"/?instrument=1")); err != nil {
		t.Fatal(err)
	}

	waitForPage(t, "the primary's role and epoch", func() (bool, string) {
		role, epoch := elementText(t, tab, "role"), elementText(t, tab, "epoch")
		return role == "primary" && epoch == fmt.Sprint(status["epoch"]), role + " " + epoch
	})
	applied := shardField(status, "applied_op")
	waitForPage(t, "the shard's positions", func() (bool, string) {
		seen := elementText(t, tab, "shard-0-applied") + " " + elementText(t, tab, "shard-0-durable") +
			" " + elementText(t, tab, "shard-0-released")
		for _, id := range []string{"shard-0-applied", "shard-0-durable", "shard-0-released"} {
			if value, ok := displayedNumber(elementText(t, tab, id)); !ok || value < applied {
				return false, seen
			}
		}
		return true, seen
	})
	if open, _ := displayedNumber(elementText(t, tab, "connections-open")); open < 1 {
		t.Errorf("open connections %q, want at least the test's client", elementText(t, tab, "connections-open"))
	}
	if ready := elementText(t, tab, "ready"); ready != "yes" {
		t.Errorf("ready %q", ready)
	}
	waitForPage(t, "instrument 1's book", func() (bool, string) {
		bids, asks := bookRows(t, tab, "bids"), bookRows(t, tab, "asks")
		return bids == "1|7|100 1|3|99" && asks == "105|10|1 106|5|1", bids + " / " + asks
	})

	// Load: transfers and a new best bid. The page must follow without a reload.
	node.transfers(t, 1001, 2000)
	node.placeOrders(t, 100, [][3]uint64{{uint64(model.SideBuy), 101, 2}})
	after := shardField(node.status(t), "applied_op")
	if after <= applied {
		t.Fatalf("load did not move the applied op (%d then %d)", applied, after)
	}
	waitForPage(t, "the applied op moving with the load", func() (bool, string) {
		text := elementText(t, tab, "shard-0-applied")
		value, ok := displayedNumber(text)
		return ok && value >= after, text + fmt.Sprintf(" (want ≥ %d)", after)
	})
	waitForPage(t, "the new order in the book", func() (bool, string) {
		bids := bookRows(t, tab, "bids")
		return strings.HasPrefix(bids, "1|2|101 1|7|100"), bids
	})
	waitForPage(t, "the requests in the latency chart", func() (bool, string) {
		points := pageText(t, tab, `(document.getElementById("latency-p99") || {getAttribute: () => "0"}).getAttribute("data-points") || "0"`)
		latest := elementText(t, tab, "latency-latest")
		count, _ := strconv.Atoi(points)
		return count >= 1, points + " points; " + latest
	})
	if state := elementText(t, tab, "connection-state"); state != "live" {
		t.Errorf("connection state %q", state)
	}

	resources := pageText(t, tab, `performance.getEntriesByType("resource").map(e => e.name).join(" ")`)
	for _, resource := range strings.Fields(resources) {
		if !strings.HasPrefix(resource, origin+"/") {
			t.Errorf("the console loaded %s, not from its own server", resource)
		}
	}
	if !strings.Contains(resources, "/console/console.js") || !strings.Contains(resources, "/v1/status") {
		t.Errorf("resources the page loaded: %s", resources)
	}
	if thrown := exceptions(); len(thrown) > 0 {
		t.Errorf("script errors: %v", thrown)
	}
	if *consoleScreenshot != "" {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*consoleScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
