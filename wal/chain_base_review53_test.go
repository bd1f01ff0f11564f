package wal

import (
	"encoding/hex"
	"testing"
	"time"
)

// TestVerifyChainBaseOfARetiredLog_review53 (review of wal53, claim 1): a log whose first
// segments were retired after a snapshot (not a started-over standby) reports as its base
// the retired point, with the chain the log itself had there before the retirement (the
// first retained entry's link, covered by its checksums and chain hash), and answers an
// anchor at that op with it; an anchor one op earlier, retired, is not answered. Method:
// a durable log of several segments, the chain at the end of its second segment read
// with ChainAt before Retire, then VerifyChain after it.
func TestVerifyChainBaseOfARetiredLog_review53(t *testing.T) {
	l := retiringLog(t, t.TempDir())
	point := l.segments[1].LastOp
	chain, found := l.ChainAt(point)
	if !found {
		t.Fatalf("no chain at op %d before the retirement", point)
	}
	if retired, err := l.Retire(point, ""); err != nil || retired != 2 {
		t.Fatalf("retired %d (%v), want 2", retired, err)
	}
	future := time.Now().Add(waitMax)
	want := hex.EncodeToString(chain[:])
	check, err := l.VerifyChain(0, 0, point, future)
	if err != nil || !check.OK || check.RetainedFromOp != point+1 ||
		check.BaseOp != point || check.BaseChain != want || check.AnchorChain != want {
		t.Fatalf("a log retired up to op %d: %+v, %v; want base %d %s answering the anchor",
			point, check, err, point, want)
	}
	check, err = l.VerifyChain(0, 0, point-1, future)
	if err != nil || check.AnchorChain != "" || check.BaseOp != point {
		t.Fatalf("an anchor at retired op %d: %+v, %v; want none", point-1, check, err)
	}
}
