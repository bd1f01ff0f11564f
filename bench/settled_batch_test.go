package bench

import (
	"testing"

	"sequent/core/model"
)

// TestSettledBatchesMatchOneByOne settles transfers of every effect (single-phase,
// pending, post, void) through settleTransfers, some refused, a count that is no
// multiple of settledEffectsMax, and checks that the expected balances and the count
// accounted for after flushAccounted are exactly what applying each created transfer
// at once gives: the batches (expectedBalances.applyBatch) change when the balances are
// added to, never what they add up to, and a worker's last, partial batch is not lost.
func TestSettledBatchesMatchOneByOne(t *testing.T) {
	config := Config{Addresses: []string{"x"}, Events: 7, Accounts: 50,
		Mix: Mix{KindSingle: 1, KindTwoPhase: 1}, Count: 1}.WithDefaults()
	r := newRun(config)
	want := newExpectedBalances(config.Accounts)
	w := newWorker(0, r, nil, &recorder{interval: newSample()})
	s := &w.slots[0]
	body := make([]byte, config.Events*model.EventResultSize)
	wantCount, settled := uint64(0), 0
	effects := map[effect]bool{} // Of the created transfers.
	for request := range 61 {
		if request%2 == 0 {
			w.buildSingle(s)
		} else {
			w.buildTwoPhase(s)
		}
		for i := range s.events {
			status := model.StatusOK
			if (request+i)%5 == 0 {
				status = model.StatusExists // Not applied.
			}
			result := model.EventResult{Status: status}
			result.Encode(body[i*model.EventResultSize:])
			if status == model.StatusOK {
				effects[s.meta[i].effect] = true
				want.apply(&s.meta[i])
				wantCount++
			}
		}
		if !w.settleTransfers(body, s, w.recorder.interval) {
			t.Fatalf("request %d: not settled", request)
		}
		settled += s.events
	}
	if wantCount%settledEffectsMax == 0 {
		t.Fatalf("%d transfers created: want a partial last batch", wantCount)
	}
	w.flushAccounted()
	if got := r.expected.transfers.Load(); got != wantCount {
		t.Fatalf("%d transfers accounted, want %d (of %d settled)", got, wantCount, settled)
	}
	if len(effects) != 4 {
		t.Fatalf("created transfers of %d effects, want all 4: %v", len(effects), effects)
	}
	for account := range config.Accounts {
		for _, pair := range []struct {
			name      string
			got, want int64
		}{
			{"debits_pending", r.expected.debitsPending[account].Load(), want.debitsPending[account].Load()},
			{"debits_posted", r.expected.debitsPosted[account].Load(), want.debitsPosted[account].Load()},
			{"credits_pending", r.expected.creditsPending[account].Load(), want.creditsPending[account].Load()},
			{"credits_posted", r.expected.creditsPosted[account].Load(), want.creditsPosted[account].Load()},
		} {
			if pair.got != pair.want {
				t.Errorf("account %d %s: %d, want %d", account, pair.name, pair.got, pair.want)
			}
		}
	}
}
