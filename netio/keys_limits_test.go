package netio_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio"
)

// TestKeysFileAccountsMax: limits.accounts_max parses from the JSON, reaches the
// set_grants body as a client limit (clients by id, only those with a bound), leaves the
// body byte for byte as before when no client has one, and a negative, oversized or
// fractional value refuses the whole file with a clear error.
func TestKeysFileAccountsMax(t *testing.T) {
	secret := strings.Repeat("ab", 32)
	client := func(id, limits string) string {
		return `{"id": ` + id + `, "name": "c` + id + `", "permissions": ["transfer"],
			"keys": [{"id": 1, "secret": "` + secret + `"}]` + limits + `}`
	}
	parse := func(clients ...string) (*netio.Keyring, error) {
		file, err := netio.ParseKeysFile([]byte(`{"version": 1, "clients": [` +
			strings.Join(clients, ",") + `]}`))
		if err != nil {
			return nil, err
		}
		return netio.NewKeyring(file)
	}
	keys, err := parse(client("9", `, "limits": {"accounts_max": 1000, "connections_max": 2}`),
		client("3", `, "limits": {"accounts_max": 5}`),
		client("4", `, "limits": {"accounts_max": 0}`), client("5", ``))
	if err != nil {
		t.Fatal(err)
	}
	if nine, _ := keys.Client(9); nine.Limits.AccountsMax != 1000 || nine.Limits.ConnectionsMax != 2 {
		t.Fatalf("client 9's limits %+v", nine.Limits)
	}
	grants, limits, err := model.DecodeGrants(keys.GrantsBody())
	if err != nil || len(grants) != 0 {
		t.Fatalf("set_grants body: %d grants, %v", len(grants), err)
	}
	want := []model.ClientLimit{{Client: 3, AccountsMax: 5}, {Client: 9, AccountsMax: 1000}}
	if !slices.Equal(limits, want) {
		t.Fatalf("client limits %v, want %v", limits, want)
	}

	// No bound anywhere: the body set_grants had before client limits.
	file := testKeysFile()
	file.Clients[0].Grants = []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	file.Clients[1].Limits = netio.ClientLimits{ConnectionsMax: 3}
	plain, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain.GrantsBody(), model.AppendGrants(nil,
		[]model.Grant{{Client: file.Clients[0].ID, Scopes: model.ScopeOperator}})) {
		t.Fatal("a keys file without accounts_max changed the set_grants body")
	}

	for _, bad := range []struct{ limits, says string }{
		{`, "limits": {"accounts_max": -1}`, "limits must not be negative"},
		{`, "limits": {"accounts_max": 4294967296}`, "limits.accounts_max 4294967296, at most 4294967295"},
		{`, "limits": {"accounts_max": 1.5}`, "accounts_max"},
		{`, "limits": {"acounts_max": 1}`, "acounts_max"},
	} {
		_, err := parse(client("1", bad.limits))
		if !errors.Is(err, netio.ErrKeysFile) || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("limits %s: %v, want an error saying %q", bad.limits, err, bad.says)
		}
	}
	if _, err := parse(client("1", `, "limits": {"accounts_max": 4294967295}`)); err != nil {
		t.Fatalf("the largest accounts_max: %v", err)
	}
}
