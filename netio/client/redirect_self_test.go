package client

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio"
)

// TestNotPrimaryNamingThisNodeByAnotherNameIsNotALoop: a node answers not_primary naming
// itself by another name than the one the client reached it by (localhost:port, the
// client connected to 127.0.0.1:port; or a host name it announces, the client
// configured with its IP). The client cannot tell from the strings that they are one
// node, so it follows the redirect once, to the name. But the node it reaches so answers
// not_primary with that same name: the name it was just dialed by. Followed again, the
// client reconnects to the node that redirected it, again and again (with back-off),
// until its callers give up: their writes never come back. The client must stop at the
// second answer, as for a not_primary naming the socket's own address: a request with
// nothing unknown about it gets not_primary (naming the node), after two logins, not
// more.
func TestNotPrimaryNamingThisNodeByAnotherNameIsNotALoop(t *testing.T) {
	var selfName atomic.Pointer[string]
	s := startTestServerWith(t, func(config *netio.Config) {
		config.PrimaryAddress = func() string { return *selfName.Load() }
	})
	_, port, err := net.SplitHostPort(s.server.Address()) // 127.0.0.1:port
	if err != nil {
		t.Fatal(err)
	}
	name := net.JoinHostPort("localhost", port)
	selfName.Store(&name)
	c := s.dial(t, nil)
	s.backend.SetNotPrimary(true)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // A hang guard.
	defer cancel()
	_, err = c.CreateAccounts(ctx, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1}})
	var statusError *StatusError
	if !errors.As(err, &statusError) || statusError.Status != model.StatusNotPrimary ||
		statusError.Primary != name {
		t.Fatalf("a node naming itself %s: %v, want a *StatusError not_primary naming it",
			name, err)
	}
	if logins := s.server.Stats().LoginsAccepted; logins != 2 {
		t.Fatalf("%d logins, want 2: the dial, then the redirect followed once", logins)
	}
}

// TestUnknownOutcomeThenNotPrimaryNamingTheDialedNameIsResent: the same node, naming
// itself by the name the client dialed, to a resend of a write whose earlier copy may
// have been applied: no redirect to follow, so the write is resent until a definite
// reply (as for a not_primary naming the socket's address, PROTOCOL.md §7), not followed
// back to the same node.
func TestUnknownOutcomeThenNotPrimaryNamingTheDialedNameIsResent(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		t.Run(unknown, func(t *testing.T) {
			f := newUnknownOutcomeFixture(t, 1, unknown)
			const name = "localhost:7400"
			f.c.mu.Lock()
			f.c.dialed = name // As install records it.
			f.c.mu.Unlock()
			f.answerNotPrimary(name)
			f.expectResent(t, "not_primary naming the dialed name")
			f.expectDefiniteReply(t)
		})
	}
}
