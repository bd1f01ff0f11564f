package bench

import (
	"testing"

	"sequent/core/model"
)

// TestSettledEffectsFlushedOnce settles 1 to 2×settledEffectsMax+1 created transfers on
// one worker, so that its last batch holds every size from 0 to settledEffectsMax-1 (one
// effect alone among them), and flushes twice, as nothing stops a caller from doing:
// the expected balances and the count must be exactly what applying each transfer at
// once gives. TestSettledBatchesMatchOneByOne has one count only, whose last batch is
// neither empty nor a single effect, and flushes once: a flush that skipped a batch of
// one effect (len(w.settled) > 1) or that kept its batch after adding it (a second
// flush adds it again) passed it.
func TestSettledEffectsFlushedOnce(t *testing.T) {
	config := Config{Addresses: []string{"x"}, Events: 1, Accounts: 8,
		Mix: Mix{KindSingle: 1}, Count: 1}.WithDefaults()
	ok := make([]byte, model.EventResultSize)
	result := model.EventResult{Status: model.StatusOK}
	result.Encode(ok)
	for created := 1; created <= 2*settledEffectsMax+1; created++ {
		r := newRun(config)
		want := newExpectedBalances(config.Accounts)
		w := newWorker(0, r, nil, &recorder{interval: newSample()})
		s := &w.slots[0]
		s.kind = KindSingle
		for range created {
			w.buildSingle(s)
			want.apply(&s.meta[0])
			if !w.settleTransfers(ok, s, nil) {
				t.Fatalf("%d created: not settled", created)
			}
		}
		w.flushAccounted()
		w.flushAccounted() // Adds nothing: the first flush took everything.
		if got := r.expected.transfers.Load(); got != uint64(created) {
			t.Fatalf("%d created: %d accounted", created, got)
		}
		for account := range config.Accounts {
			got := [4]int64{r.expected.debitsPending[account].Load(),
				r.expected.debitsPosted[account].Load(),
				r.expected.creditsPending[account].Load(),
				r.expected.creditsPosted[account].Load()}
			expected := [4]int64{want.debitsPending[account].Load(),
				want.debitsPosted[account].Load(), want.creditsPending[account].Load(),
				want.creditsPosted[account].Load()}
			if got != expected {
				t.Fatalf("%d created (last batch of %d): account %d balances (debits "+
					"pending, debits posted, credits pending, credits posted) %v, want %v",
					created, created%settledEffectsMax, account, got, expected)
			}
		}
	}
}
