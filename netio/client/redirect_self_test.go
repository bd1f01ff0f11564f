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
			f.c.dialed = name // As install records it, after following a redirect to it.
			f.c.dialedFollowed = true
			f.c.mu.Unlock()
			f.answerNotPrimary(name)
			f.expectResent(t, "not_primary naming the dialed name")
			f.expectDefiniteReply(t)
		})
	}
}

// TestNotPrimaryNamingTheDialedNameAfterAFailoverIsFollowed: every node announces the
// primary by one name that follows the primary (a floating DNS name, a service name in
// front of the current primary), and the client is configured with that name. After a
// failover the name reaches the new primary, but the client's connection, made before,
// still reaches the old one, which answers not_primary naming that name: the very name
// the client dialed, yet another node now. The client must follow it (a new connection
// resolves the name afresh), as it did before it compared the dialed name: ignored, the
// client stays on the old primary for as long as the connection lives, every write
// refused not_primary. Here the name is localhost:port of a proxy (the client's socket
// address is 127.0.0.1:port, so only the dialed-name comparison matches), pointed at
// the new primary at the failover. A second failover, back to the first node, once the
// client reached the second by following the name and wrote there, is followed too.
func TestNotPrimaryNamingTheDialedNameAfterAFailoverIsFollowed(t *testing.T) {
	proxy := startWireProxy(t, newResendLog())
	_, port, err := net.SplitHostPort(proxy.address()) // 127.0.0.1:port
	if err != nil {
		t.Fatal(err)
	}
	name := net.JoinHostPort("localhost", port)
	old := startTestServerWith(t, func(config *netio.Config) {
		config.PrimaryAddress = func() string { return name }
	})
	primary := startTestServerWith(t, func(config *netio.Config) {
		config.PrimaryAddress = func() string { return name }
	})
	proxy.setTarget(old.server.Address())
	c := dialTestClient(t, name, nil)
	// The failover: the name now reaches the new primary; the old one refuses.
	proxy.setTarget(primary.server.Address())
	old.backend.SetNotPrimary(true)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // A hang guard.
	defer cancel()
	results, err := c.CreateAccounts(ctx,
		[]model.Account{{ID: model.U128(1), Ledger: 1, Code: 1}})
	if err != nil || len(results) != 1 {
		t.Fatalf("the old primary naming %s, the name the client dialed, now the new "+
			"primary's: %v (%d results), want the account created on the new primary",
			name, err, len(results))
	}
	if logins := primary.server.Stats().LoginsAccepted; logins != 1 {
		t.Fatalf("%d logins on the new primary, want 1 (the redirect followed)", logins)
	}
	// The second failover: the client's connection was dialed to follow the name.
	proxy.setTarget(old.server.Address())
	old.backend.SetNotPrimary(false)
	primary.backend.SetNotPrimary(true)
	results, err = c.CreateAccounts(ctx,
		[]model.Account{{ID: model.U128(2), Ledger: 1, Code: 1}})
	if err != nil || len(results) != 1 {
		t.Fatalf("after a second failover, the former primary naming %s: %v (%d "+
			"results), want the account created on the first node again", name, err,
			len(results))
	}
}
