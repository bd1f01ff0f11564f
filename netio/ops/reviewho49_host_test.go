package ops

import (
	"net/http"
	"testing"
	"time"
)

// TestReviewHO49HostCheckedBeforeTheRateLimit: doc.go promises allow-list → Host (421) →
// the address's rate (429), so that a rebinding page, whose requests come from the
// operator's own address, cannot spend the operator's budget. Every other Host test
// turns the rate limit off, so the two checks could be swapped unnoticed. With the
// test's clock standing still, more refused-Host requests than the whole burst must all
// be 421 (never 429), and the operator's next burst must still be served in full.
func TestReviewHO49HostCheckedBeforeTheRateLimit(t *testing.T) {
	fake := newFakeSources()
	const rate = 1
	server := startServer(t, Config{RequestsPerSecondPerAddress: rate}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	burst := rate * requestBurstSeconds
	for i := range burst + 2 {
		got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.1\r\nHost: attacker.example:7401\r\n")
		if got.code != http.StatusMisdirectedRequest {
			t.Fatalf("refused-Host request %d of %d: %d %s, want 421 (the Host check "+
				"comes before the rate limit)", i+1, burst+2, got.code, got.body)
		}
	}
	for i := range burst {
		got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.1\r\nHost: 127.0.0.1\r\n")
		if got.code != http.StatusOK {
			t.Fatalf("the operator's request %d of a fresh burst of %d after refused-Host "+
				"requests: %d %s, want 200 (the refusals must not spend the budget)",
				i+1, burst, got.code, got.body)
		}
	}
}

// TestReviewHO49NamesMatchOnlyInASCIICase: Host names are DNS names, compared without
// regard to ASCII case. bytes.EqualFold folds Unicode too, so a Host header holding
// U+017F (long s, folds to "s") or U+212A (Kelvin sign, folds to "k") matched localhost
// or a listed name and was served, though it names neither. (No browser sends such a
// Host: it sends the IDNA/punycode ASCII form; this is the check saying what it means.)
func TestReviewHO49NamesMatchOnlyInASCIICase(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Hosts: []string{"sequent-k"},
		RequestsPerSecondPerAddress: -1}, fake.sources())
	for _, host := range []string{"localho\u017ft", "sequent-\u212a:7401"} {
		got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.1\r\nHost: "+host+"\r\n")
		if got.code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with Host %q: %d %.60s, want 421", PathStatus, host, got.code,
				got.body)
		}
	}
	for _, host := range []string{"LocalHost", "SEQUENT-K:7401"} {
		got := rawRequest(t, server, "GET "+PathStatus+" HTTP/1.1\r\nHost: "+host+"\r\n")
		if got.code != http.StatusOK {
			t.Errorf("GET %s with Host %q: %d %.60s, want 200", PathStatus, host, got.code,
				got.body)
		}
	}
}
