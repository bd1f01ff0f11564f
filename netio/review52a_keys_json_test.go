package netio_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestReview52aKeysFileKeysAreReadOnce: hunt52a
// refused risk bodies with a key given twice or not spelled as the field is, because
// encoding/json keeps the last of two equal keys and folds case, so a reviewer reading
// the JSON saw something else than was applied. The keys file is read the same lenient
// way (ParseKeysFile: only unknown fields are refused), and it is the file whose review
// matters most: a client entry reading "permissions": ["read"] and, further on,
// "Permissions": ["read", "admin"] (or the same key twice), or "scopes" then "Scopes"
// in a grant, loaded with the admin permission or the operator scope. Such a file is now
// refused (jsonkeys.Check; opsleft52).
func TestReview52aKeysFileKeysAreReadOnce(t *testing.T) {
	secret := strings.Repeat("ab", 32)
	client := func(fields string) string {
		return `{"version": 1, "clients": [{"id": 1, "name": "desk-a", "keys": [{"id": 1, ` +
			`"secret": "` + secret + `"}], ` + fields + `}]}`
	}
	for _, data := range []string{
		client(`"permissions": ["read"], "Permissions": ["read", "admin"]`),
		client(`"permissions": ["read"], "permissions": ["read", "admin"]`),
		client(`"permissions": ["read"], "grants": [{"scopes": ["read"], "Scopes": ["operator"]}]`),
		`{"version": 1, "Clients": [], "clients": [], "admin_tokens": [{"name": "alice", ` +
			`"Name": "bob", "token": "` + secret + `"}]}`,
	} {
		file, err := netio.ParseKeysFile([]byte(data))
		if err != nil {
			continue
		}
		loaded := fmt.Sprint("admin tokens ", file.AdminTokens[0:min(1, len(file.AdminTokens))])
		if len(file.Clients) > 0 {
			loaded = fmt.Sprint("permissions ", file.Clients[0].Permissions, ", grants ",
				file.Clients[0].Grants)
		}
		t.Errorf("keys file %.140s… loaded with %s, want it refused", data, loaded)
	}
}

// TestOpsleft52KeysFileRefusalNamesTheKeyAndReloadKeepsTheKeys: the refusal of a key
// given twice or in another case says which key and where, at load and at reload, and a
// reload that meets one keeps the keys in force (as every reload error does).
func TestOpsleft52KeysFileRefusalNamesTheKeyAndReloadKeepsTheKeys(t *testing.T) {
	secret := strings.Repeat("ab", 32)
	clean := `{"version": 1, "clients": [{"id": 1, "name": "desk-a", "keys": [{"id": 1, ` +
		`"secret": "` + secret + `"}], "permissions": ["read"]}]}`
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(clean), 0o600); err != nil {
		t.Fatal(err)
	}
	keyring, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct{ data, want string }{
		{strings.Replace(clean, `"permissions": ["read"]`,
			`"permissions": ["read"], "Permissions": ["read", "admin"]`, 1),
			`clients[0]: key "Permissions"`},
		{strings.Replace(clean, `"permissions": ["read"]`,
			`"permissions": ["read"], "grants": [{"scopes": ["read"], "scopes": ["operator"]}]`, 1),
			`clients[0].grants[0]: key "scopes" given twice`},
	} {
		if err := os.WriteFile(path, []byte(test.data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, loadErr := netio.LoadKeys(path)
		reloadErr := keyring.Reload()
		for _, err := range []error{loadErr, reloadErr} {
			if !errors.Is(err, netio.ErrKeysFile) || !strings.Contains(err.Error(), test.want) ||
				!strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v, want ErrKeysFile naming the file and %s", test.data, err, test.want)
			}
		}
		client, ok := keyring.Client(1)
		if !ok || client.Permissions&wire.PermissionAdmin != 0 ||
			client.Permissions&wire.PermissionRead == 0 {
			t.Errorf("after the refused reload client 1 is %+v (%v), want the old keys: read only",
				client, ok)
		}
	}
}

// TestOpsleft52AdminTokenNameNoLongerThanTheAuditKeeps: the audit record keeps 128 bytes
// of who acted (netio/ops whoBytesMax), so two names alike in those bytes would read as
// one person; a longer name is refused at load.
func TestOpsleft52AdminTokenNameNoLongerThanTheAuditKeeps(t *testing.T) {
	for _, test := range []struct {
		nameBytes int
		refused   bool
	}{{netio.AdminTokenNameBytesMax, false}, {netio.AdminTokenNameBytesMax + 1, true}} {
		file := netio.KeysFile{Version: netio.KeysFileVersion, AdminTokens: []netio.KeysFileAdminToken{
			{Name: strings.Repeat("a", test.nameBytes), Token: strings.Repeat("0a", 16)}}}
		_, err := netio.NewKeyring(file)
		if refused := errors.Is(err, netio.ErrKeysFile); refused != test.refused || (err != nil && !refused) {
			t.Errorf("admin token name of %d bytes: %v, want refused %v", test.nameBytes, err,
				test.refused)
		}
	}
	if netio.AdminTokenNameBytesMax != 128 {
		t.Errorf("AdminTokenNameBytesMax %d, want netio/ops whoBytesMax (128)",
			netio.AdminTokenNameBytesMax)
	}
}
