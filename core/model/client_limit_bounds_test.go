package model

import "testing"

// TestGrantsBodyAtItsBounds: the empty table (a keys file without grants or limits: the
// 8-byte header alone) decodes to nothing; a set_grants body with GrantsMax grants and
// ClientLimitsMax client limits is GrantsBodyBytesMax bytes and decodes; one more grant
// or one more limit is refused, by DecodeGrants and by the validation the keys file runs.
func TestGrantsBodyAtItsBounds(t *testing.T) {
	if grants, limits, err := DecodeGrants(AppendGrants(nil, nil)); err != nil ||
		len(grants) != 0 || limits != nil {
		t.Fatalf("the empty table: %v, %v, %v", grants, limits, err)
	}
	grants := make([]Grant, GrantsMax+1)
	for i := range grants {
		grants[i] = Grant{Client: uint64(1 + i/GrantsPerClientMax), Scopes: ScopeRead}
	}
	limits := make([]ClientLimit, ClientLimitsMax+1)
	for i := range limits {
		limits[i] = ClientLimit{Client: uint64(1 + i), AccountsMax: 1}
	}
	largest := AppendGrantsAndLimits(nil, grants[:GrantsMax], limits[:ClientLimitsMax])
	if len(largest) != GrantsBodyBytesMax {
		t.Fatalf("the largest body is %d bytes, GrantsBodyBytesMax %d", len(largest),
			GrantsBodyBytesMax)
	}
	if gotGrants, gotLimits, err := DecodeGrants(largest); err != nil ||
		len(gotGrants) != GrantsMax || len(gotLimits) != ClientLimitsMax {
		t.Fatalf("the largest body: %d grants, %d limits, %v", len(gotGrants), len(gotLimits), err)
	}
	if _, _, err := DecodeGrants(AppendGrantsAndLimits(nil, grants, nil)); err == nil {
		t.Error("a body with one grant too many was accepted")
	}
	if _, _, err := DecodeGrants(AppendGrantsAndLimits(nil, nil, limits)); err == nil {
		t.Error("a body with one client limit too many was accepted")
	}
	if ValidateClientLimits(limits[:ClientLimitsMax]) != nil || ValidateClientLimits(limits) == nil {
		t.Error("ValidateClientLimits's bound is not ClientLimitsMax")
	}
}
