package e2e

import (
	"syscall"
	"testing"
)

// TestReviewHC49WaitingStandbySurvivesSIGHUP: serve's help says SIGHUP rereads the keys
// file and the HTTP certificate; but serve installed its SIGHUP handler only once the
// node ran (waitAndStop), so a SIGHUP to a standby still waiting for its primary (a
// routine reload, say after renewing the certificate) took Go's default action and
// killed the process. The standby must stay up and still stop cleanly on SIGTERM.
func TestReviewHC49WaitingStandbySurvivesSIGHUP(t *testing.T) {
	waitingStandbyStops(t, syscall.SIGHUP, syscall.SIGTERM)
}
