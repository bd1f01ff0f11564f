package ops

import (
	"net/http"
	"testing"
	"time"
)

// TestOpsleft52AdminTokenHasItsOwnBudget: every request from an address drew on one
// budget (20 a second, 40 at once), and one console tab polls about 2.5 a second, so
// eight tabs behind one bastion spent it and `sequent admin promote` from the same
// address was answered 429. A request bearing an accepted admin token now draws on a
// budget of its own per address; a wrong token (or two Authorization headers) still
// draws on the address's shared one, so guessing is no faster, and the token's budget is
// bounded too. The clock is the test's: no budget refills during the test.
func TestOpsleft52AdminTokenHasItsOwnBudget(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{Tokens: TokenChecker(testTokens)}, fake.sources())
	clock := &testClock{at: time.Unix(1_000_000, 0)}
	server.now = clock.now
	burst := RequestsPerSecondPerAddressDefault * requestBurstSeconds
	url := "http://" + server.Address()
	for i := range burst { // The consoles' polls spend the address's budget.
		if result := get(t, server, PathStatus); result.code != http.StatusOK {
			t.Fatalf("console poll %d of the burst: %d %s", i+1, result.code, result.body)
		}
	}
	if result := get(t, server, PathStatus); result.code != http.StatusTooManyRequests {
		t.Fatalf("a poll past the address's budget: %d, want 429", result.code)
	}
	// Wrong tokens, and a good one beside a second header, share the spent budget.
	for _, wrong := range []string{"not-" + testTokens["alice"], "wrong-token-0123"} {
		if result := post(t, server, PathPromote, wrong); result.code != http.StatusTooManyRequests {
			t.Errorf("promote with a wrong token past the address's budget: %d, want 429",
				result.code)
		}
	}
	request, err := http.NewRequest(http.MethodPost, url+PathPromote, nil)
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Add("Authorization", "Bearer "+testTokens["alice"])
	request.Header.Add("Authorization", "Bearer "+testTokens["bob"])
	twoHeaders, err := (&http.Client{Timeout: 20 * time.Second}).Do(request)
	if err != nil {
		t.Fatal(err)
	}
	twoHeaders.Body.Close()
	if twoHeaders.StatusCode != http.StatusTooManyRequests {
		t.Errorf("promote with two Authorization headers past the address's budget: %d, "+
			"want 429", twoHeaders.StatusCode)
	}
	// The operator's promote goes through, and so do reads made with the token. The two
	// wrong tokens spent two of the token budget: a token is looked at only within it
	// (TestReview52oTokenGuessesPastTheBudgetAreNotLookedAt).
	if result := post(t, server, PathPromote, testTokens["alice"]); result.code != http.StatusOK ||
		result.reply(t).Action != ActionPromote {
		t.Fatalf("promote with the admin token while the consoles spent the address's "+
			"budget: %d %s, want 200", result.code, result.body)
	}
	for i := 3; i < burst; i++ {
		if result := call(t, nil, http.MethodGet, url+PathStatus, testTokens["bob"], nil,
			nil); result.code != http.StatusOK {
			t.Fatalf("token request %d of its budget: %d %s", i+1, result.code, result.body)
		}
	}
	// The token's budget is bounded as the address's is.
	if result := call(t, nil, http.MethodGet, url+PathStatus, testTokens["alice"], nil,
		nil); result.code != http.StatusTooManyRequests {
		t.Errorf("a token request past the token budget: %d, want 429", result.code)
	}
}
