package e2e

import "testing"

// TestReviewsg48StandbyBackAfterTheSagaTimeout: PROTOCOL.md section 18, row 86: a restart
// however long gives the sagas it interrupted the whole saga timeout again once the node
// serves, and a sync primary serves once its standby has caught up. A sync pair restarted
// whole, the primary at once and the standby saga48Held after step 1 (past the 2 s
// --saga-timeout), completes the transfer its restart interrupted: the resend answers
// ok, duplicate. When the router counted from its first Tick (saga48) the primary's
// first outbox answer came only once the standby had caught up, so the first Credit was
// an abort and the resend answered saga_timed_out.
func TestReviewsg48StandbyBackAfterTheSagaTimeout(t *testing.T) { saga48Restart(t, true) }
