package model

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// TestGrantsBodyWithClientLimits: the set_grants body round-trips grants and client
// limits; without limits it is the body AppendGrants wrote before they existed (header
// word 4 zero); and a body whose limits are out of order, unbounded, for client 0, with
// reserved bytes set, or of the wrong length is refused.
func TestGrantsBodyWithClientLimits(t *testing.T) {
	grants := []Grant{{Client: 3, Scopes: ScopeRead}, {Client: 5, Scopes: ScopeTransfer, Ledger: 2}}
	limits := []ClientLimit{{Client: 3, AccountsMax: 10}, {Client: 9, AccountsMax: 1}}
	body := AppendGrantsAndLimits(nil, grants, limits)
	if len(body) != grantsHeaderSize+2*GrantSize+2*ClientLimitSize {
		t.Fatalf("body of %d bytes", len(body))
	}
	gotGrants, gotLimits, err := DecodeGrants(body)
	if err != nil || !slices.Equal(gotGrants, grants) || !slices.Equal(gotLimits, limits) {
		t.Fatalf("decoded %v, %v, %v", gotGrants, gotLimits, err)
	}
	plain := AppendGrants(nil, grants)
	if !bytes.Equal(plain, AppendGrantsAndLimits(nil, grants, nil)) ||
		binary.LittleEndian.Uint32(plain[4:]) != 0 || len(plain) != grantsHeaderSize+2*GrantSize {
		t.Fatal("a body without limits differs from the one before them")
	}
	if _, noLimits, err := DecodeGrants(plain); err != nil || noLimits != nil {
		t.Fatalf("a body without limits decoded %v, %v", noLimits, err)
	}
	for name, bad := range map[string][]byte{
		"out of order": AppendGrantsAndLimits(nil, nil, []ClientLimit{{Client: 9, AccountsMax: 1},
			{Client: 3, AccountsMax: 1}}),
		"twice":    AppendGrantsAndLimits(nil, nil, []ClientLimit{{3, 1}, {3, 2}}),
		"no bound": AppendGrantsAndLimits(nil, nil, []ClientLimit{{Client: 3}}),
		"client 0": AppendGrantsAndLimits(nil, nil, []ClientLimit{{AccountsMax: 1}}),
		"reserved": func() []byte {
			b := AppendGrantsAndLimits(nil, nil, []ClientLimit{{3, 1}})
			b[grantsHeaderSize+12] = 1
			return b
		}(),
		"short": body[:len(body)-1],
		"long":  append(bytes.Clone(body), 0),
		"count": func() []byte {
			b := bytes.Clone(body)
			binary.LittleEndian.PutUint32(b[4:], 3)
			return b
		}(),
	} {
		if _, _, err := DecodeGrants(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
