package ops

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestReview52oTokenGuessesPastTheBudgetAreNotLookedAt: opsleft52 gave requests bearing
// an accepted admin token a budget of their own per address and said a wrong token
// "counts in the shared budget (guessing is no faster)". But to choose the budget the
// server looked at the token of every request, before the rate limit, past the address's
// budget too: there a wrong token was answered 429 and the right one served, so once the
// shared budget was spent a guesser at an allowed address had every guess checked, and
// its answer told, at whatever rate it could send (the limiter had bounded the guesses
// to the address's 20 a second), and each cost Config.Tokens (in the node: a SHA-256 of
// every admin token) before any limit. A token is now looked at only within the token
// budget, a wrong one spending it too: past it, right or wrong, the answer is 429.
func TestReview52oTokenGuessesPastTheBudgetAreNotLookedAt(t *testing.T) {
	var looked atomic.Int64
	checker := TokenChecker(testTokens)
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: func(token string) (string, bool) {
		looked.Add(1)
		return checker(token)
	}}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	burst := RequestsPerSecondPerAddressDefault * requestBurstSeconds
	url := "http://" + server.Address() + PathStatus
	for i := range burst { // The address's shared budget is spent (consoles, or the guesser).
		if result := get(t, server, PathStatus); result.code != http.StatusOK {
			t.Fatalf("poll %d of the burst: %d %s", i+1, result.code, result.body)
		}
	}
	guesses := 3 * burst
	for i := range guesses {
		guess := "guess-token-" + strconv.Itoa(i)
		if result := call(t, nil, http.MethodGet, url, guess, nil, nil); result.code !=
			http.StatusTooManyRequests {
			t.Fatalf("guess %d past the address's budget: %d %s, want 429", i+1, result.code,
				result.body)
		}
	}
	if got := looked.Load(); got > int64(burst) {
		t.Errorf("%d guesses past the address's budget: the token checker consulted %d "+
			"times, want at most the token budget (%d)", guesses, got, burst)
	}
	// No clock moved: the right token now is answered as a wrong one (else the answer to
	// every guess says whether it was right).
	if result := call(t, nil, http.MethodGet, url, testTokens["alice"], nil,
		nil); result.code != http.StatusTooManyRequests {
		t.Errorf("the right token after %d guesses past every budget: %d, want 429 as a "+
			"wrong one", guesses, result.code)
	}
}
