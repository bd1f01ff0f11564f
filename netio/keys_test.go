package netio_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// TestKeysFileGrants: grants parse into the table the core enforces (clients by id, each
// client's grants in file order), and every malformed grant refuses the whole file.
func TestKeysFileGrants(t *testing.T) {
	file := testKeysFile()
	file.Clients[2].Grants = []netio.KeysFileGrant{
		{Scopes: []string{"trade"}, Ledger: 2},
		{Scopes: []string{"read", "transfer"}, Accounts: "1000-1999"}}
	file.Clients[0].Grants = []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	file.Clients[1].Grants = []netio.KeysFileGrant{{Scopes: []string{"read"}, Accounts: "0x2a"}}
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	grants, _, err := model.DecodeGrants(keys.GrantsBody())
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Grant{
		{Client: clientAll, Scopes: model.ScopeOperator},
		{Client: clientReader, Scopes: model.ScopeRead, First: model.U128(42), Last: model.U128(42)},
		{Client: clientTrader, Scopes: model.ScopeTrade, Ledger: 2},
		{Client: clientTrader, Scopes: model.ScopeRead | model.ScopeTransfer,
			First: model.U128(1000), Last: model.U128(1999)}}
	if len(grants) != len(want) {
		t.Fatalf("grants %+v, want %+v", grants, want)
	}
	for i := range want {
		if grants[i] != want[i] {
			t.Fatalf("grant %d: %+v, want %+v", i, grants[i], want[i])
		}
	}
	for _, bad := range []netio.KeysFileGrant{
		{Scopes: []string{"steal"}},
		{},
		{Scopes: []string{"operator"}, Ledger: 1},
		{Scopes: []string{"operator"}, Accounts: "5"},
		{Scopes: []string{"read"}, Accounts: "9-3"},
		{Scopes: []string{"read"}, Accounts: "0-3"},
		{Scopes: []string{"read"}, Accounts: "x"},
	} {
		broken := testKeysFile()
		broken.Clients[1].Grants = []netio.KeysFileGrant{bad}
		if _, err := netio.NewKeyring(broken); !errors.Is(err, netio.ErrKeysFile) {
			t.Fatalf("grant %+v: %v", bad, err)
		}
	}
	crowded := testKeysFile()
	for range model.GrantsPerClientMax + 1 {
		crowded.Clients[1].Grants = append(crowded.Clients[1].Grants,
			netio.KeysFileGrant{Scopes: []string{"read"}})
	}
	if _, err := netio.NewKeyring(crowded); !errors.Is(err, netio.ErrKeysFile) {
		t.Fatalf("%d grants for one client: %v", model.GrantsPerClientMax+1, err)
	}
	if _, err := netio.ParseKeysFile([]byte(`{"version": 1, "clients": [{"id": 1, "name": "a",
		"permissions": ["read"], "keys": [{"id": 1, "secret": "` + strings.Repeat("ab", 32) + `"}],
		"grants": [{"scopes": ["read"], "acounts": "1"}]}]}`)); err == nil {
		t.Fatal("a misspelt grant field was accepted")
	}
}

// TestDevKeysAreOperators: the key 'sequent serve' generates on first start has the
// operator scope, so a single-tenant setup keeps seeing and moving every account.
func TestDevKeysAreOperators(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	dev, err := netio.GenerateDevKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	grants, _, err := model.DecodeGrants(keys.GrantsBody())
	if err != nil || len(grants) != 1 || grants[0].Client != dev.Client ||
		grants[0].Scopes != model.ScopeOperator {
		t.Fatalf("development grants %+v, %v", grants, err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"operator"`) {
		t.Fatalf("the generated file does not show the operator scope: %v\n%s", err, data)
	}
}

// TestKeysFilePublicKeys: a key is a secret or an ECDSA P-256 public key (PEM or base64
// DER), never both nor neither; a public key is not a secret (the binary login, which
// needs one, cannot use it), and keys of other curves or kinds are refused.
func TestKeysFilePublicKeys(t *testing.T) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for _, text := range []string{base64.StdEncoding.EncodeToString(der), pemText} {
		file := testKeysFile()
		file.Clients[1].Keys = append(file.Clients[1].Keys, netio.KeysFileKey{ID: 9, PublicKey: text})
		keys, err := netio.NewKeyring(file)
		if err != nil {
			t.Fatal(err)
		}
		client, _ := keys.Client(file.Clients[1].ID)
		public, ok := client.PublicKey(9)
		if !ok || !public.Equal(&private.PublicKey) {
			t.Fatalf("public key %v %v", public, ok)
		}
		if _, ok := client.Secret(9); ok {
			t.Fatal("a public key served as a secret")
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	secret := strings.Repeat("ab", 32)
	for name, key := range map[string]netio.KeysFileKey{
		"both":        {ID: 9, Secret: secret, PublicKey: base64.StdEncoding.EncodeToString(der)},
		"neither":     {ID: 9},
		"P-384":       {ID: 9, PublicKey: base64.StdEncoding.EncodeToString(p384DER)},
		"not base64":  {ID: 9, PublicKey: "%%%"},
		"not a key":   {ID: 9, PublicKey: base64.StdEncoding.EncodeToString([]byte("hello"))},
		"private PEM": {ID: 9, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))},
		"id reused":   {ID: 1, PublicKey: base64.StdEncoding.EncodeToString(der)},
	} {
		file := testKeysFile()
		file.Clients[1].Keys = append([]netio.KeysFileKey{{ID: 1, Secret: secret}}, key)
		if _, err := netio.NewKeyring(file); !errors.Is(err, netio.ErrKeysFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPermissionsInForce: login_accepted reports what Allows grants (PROTOCOL.md
// section 4): every permission includes read, admin includes every other.
func TestPermissionsInForce(t *testing.T) {
	all := wire.PermissionRead | wire.PermissionTransfer | wire.PermissionTrade | wire.PermissionAdmin
	for _, c := range []struct{ held, want uint32 }{
		{0, 0},
		{wire.PermissionRead, wire.PermissionRead},
		{wire.PermissionTrade, wire.PermissionTrade | wire.PermissionRead},
		{wire.PermissionTransfer | wire.PermissionTrade, wire.PermissionTransfer | wire.PermissionTrade | wire.PermissionRead},
		{wire.PermissionAdmin, all},
	} {
		client := netio.Client{Permissions: c.held}
		if got := client.PermissionsInForce(); got != c.want {
			t.Errorf("held %04b: in force %04b, want %04b", c.held, got, c.want)
		}
	}
}
