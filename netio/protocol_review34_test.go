package netio_test

// Review of session 34's PROTOCOL.md edits (reviewnetio34): behaviour the edited
// sentences of sections 3 and 4 do not describe yet. Each test pins what the server
// does; the report proposes the wording.

import (
	"encoding/binary"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestErrorNumberOfHeaderRefusedRequest: section 4 now says an error frame's number is
// "the number of the request frame that caused it". A request refused by the header
// checks of section 3 (steps 1 to 3: decided before the frame is known to be well
// formed) is not named: frame_too_large, reserved_not_zero (bytes 40..43) and
// truncated_frame all carry number 0, while they carry the session (logged in).
func TestErrorNumberOfHeaderRefusedRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	oversized := requestFrame(1, 5, model.OperationLookupAccounts, nil)
	binary.LittleEndian.PutUint32(oversized[8:], model.RequestBodyBytesMax+1)
	truncated := requestFrame(3, 7, model.OperationLookupAccounts, encodeIDs(1))
	cases := []struct {
		name    string
		session uint64
		send    []byte
		cut     bool
		want    wire.ErrorCode
	}{
		{"body above the request bound", 1, oversized, false, wire.ErrorFrameTooLarge},
		{"header bytes 40..43 not zero", 2, rawFrame(wire.KindRequest,
			model.OperationLookupAccounts, 0, 0, 2, 6, 0, 1, encodeIDs(1)), false,
			wire.ErrorReservedNotZero},
		{"stream ends inside the body", 3, truncated[:len(truncated)-3], true,
			wire.ErrorTruncatedFrame},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			r.login(clientAll, 1, secretOne, c.session)
			r.write(c.send)
			if c.cut {
				_ = r.conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			frame := r.expectErrorFrame(c.want)
			if frame.Number != 0 || frame.Session != c.session {
				t.Fatalf("%s: number %d session %d, want 0 and %d", c.want, frame.Number,
					frame.Session, c.session)
			}
		})
	}
}

// TestMarketDataHeaderFields: section 3's header table gives `status` only to reply,
// error and subscribed ("else 0"), and says the session field is ignored "in
// heartbeat, subscribe and logout frames". md_subscribed carries a status too (section
// 8a: here 206, undefined channel bits), and an md_subscribe's session field is
// ignored as well: the answer carries the login's session, not the frame's.
func TestMarketDataHeaderFields(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 4)
	r.marketDataSubscribe(99, 5, 1<<7, 0) // Session 99 is not the login's.
	_, answer := r.untilSubscribed()
	if model.Status(answer.Status) != model.StatusInvalidBody || answer.Session != 4 {
		t.Fatalf("md_subscribed: status %d session %d, want %d and 4", answer.Status,
			answer.Session, model.StatusInvalidBody)
	}
}

// TestErrorNamesTheRequestThatCausedIt: section 4, error: "number = the number of the
// request frame that caused it". The other side of TestConformanceErrorFrameNumber: a
// request refused after its header was read whole is named, so that a client fails that
// request rather than its whole session. (No test checked it: requestNumber returning 0
// for every kind passed the package's tests and the Go client's.)
func TestErrorNamesTheRequestThatCausedIt(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	damaged := requestFrame(1, 11, model.OperationLookupAccounts, encodeIDs(1))
	damaged[len(damaged)-1] ^= 1
	cases := []struct {
		name   string
		login  bool
		send   []byte
		want   wire.ErrorCode
		number uint64
	}{
		{"bad checksum", true, damaged, wire.ErrorBadChecksum, 11},
		{"aux not zero", true, rawFrame(wire.KindRequest, model.OperationLookupAccounts, 0, 0,
			1, 12, 1, 0, encodeIDs(1)), wire.ErrorReservedNotZero, 12},
		{"request before login", false, requestFrame(1, 13, model.OperationLookupAccounts,
			encodeIDs(1)), wire.ErrorUnexpectedFrame, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			if c.login {
				r.login(clientAll, 1, secretOne, 1)
			}
			r.write(c.send)
			if frame := r.expectErrorFrame(c.want); frame.Number != c.number {
				t.Fatalf("%s names request %d, want %d", c.want, frame.Number, c.number)
			}
		})
	}
}

// TestPermissionsInForceMatchAllows: section 4, login_accepted reports "permissions in
// force", which a client may use to decide what to send: for every set of permissions
// a keys file can grant and every operation a client may send, Allows grants the
// operation exactly when the bit it requires (RequiredPermission) is among the bits
// login_accepted reports, and both follow section 5's rule as written here on its own
// (Allows is computed from the bits in force, so the rule is checked independently):
// admin allows everything, any permission allows reading, otherwise the operation's
// own bit. (TestPermissionsInForce checks the bits alone.)
func TestPermissionsInForceMatchAllows(t *testing.T) {
	all := wire.PermissionRead | wire.PermissionTransfer | wire.PermissionTrade |
		wire.PermissionAdmin
	for held := uint32(1); held <= all; held++ {
		c := netio.Client{Permissions: held}
		inForce := c.PermissionsInForce()
		for _, operation := range model.Operations() {
			if info, _ := operation.Info(); info.Internal {
				continue // Refused as unknown_operation before any permission check.
			}
			required := netio.RequiredPermission(operation)
			reported := inForce&required != 0
			rule := held&wire.PermissionAdmin != 0 || held&required != 0 ||
				required == wire.PermissionRead // held is never 0 here.
			if allowed := c.Allows(operation); allowed != reported || allowed != rule {
				t.Errorf("held %04b (in force %04b), %s: Allows %v, login_accepted says %v, "+
					"section 5 says %v", held, inForce, operation, allowed, reported, rule)
			}
		}
	}
}
