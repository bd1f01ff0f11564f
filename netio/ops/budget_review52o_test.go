package ops

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
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

// TestReview52oTokenGuessesLookedAtAreCountedWrongToken: before opsleft52 a token was
// looked at only where the endpoint authorizes, and every one refused there was counted
// in sequent_http_refusals_total{reason="wrong_token"} (the dashboard's panel of token
// guessing). Since, a token is looked at to choose the budget, and a wrong one past the
// address's shared budget was answered 429 and counted rate_limited only: a guesser that
// kept the shared budget spent (tokenless requests do) had its guesses checked and
// answered without one showing as wrong_token. Each token looked at and refused counts
// as wrong_token, its answer still 429.
func TestReview52oTokenGuessesLookedAtAreCountedWrongToken(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	burst := RequestsPerSecondPerAddressDefault * requestBurstSeconds
	url := "http://" + server.Address() + PathPromote
	for i := range burst { // The guesser spends the address's shared budget, tokenless.
		if result := get(t, server, PathStatus); result.code != http.StatusOK {
			t.Fatalf("poll %d of the burst: %d %s", i+1, result.code, result.body)
		}
	}
	wrongBefore := wrongTokenRefusals(t, server)
	const guesses = 10
	for i := range guesses {
		if result := call(t, nil, http.MethodPost, url, "guess-token-"+strconv.Itoa(i), nil,
			nil); result.code != http.StatusTooManyRequests {
			t.Fatalf("guess %d past the address's budget: %d %s, want 429", i+1, result.code,
				result.body)
		}
	}
	wrong := wrongTokenRefusals(t, server) -
		wrongBefore
	if wrong != guesses {
		t.Errorf("%d wrong tokens checked past the address's budget: wrong_token refusals "+
			"grew by %v, want %d", guesses, wrong, guesses)
	}
}

// wrongTokenRefusals reads sequent_http_refusals_total{reason="wrong_token"} from the
// server's counter (a scrape would draw on the spent budget).
func wrongTokenRefusals(t *testing.T, server *Server) float64 {
	t.Helper()
	var metric dto.Metric
	if err := server.metrics.refusals.WithLabelValues("wrong_token").Write(&metric); err != nil {
		t.Fatal(err)
	}
	return metric.GetCounter().GetValue()
}
