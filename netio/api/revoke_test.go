package api

import (
	"encoding/hex"
	"net/http"
	"testing"

	"sequent/netio"
)

// TestRevokedKeyRefusedAtOnce holds that the API has no session a revoked key could
// outlive: every request is checked against the keys in force, so the request after a
// reload that removed the client's key is refused (401 unknown_key) even though the
// same key was accepted just before, and the client's new key is accepted.
func TestRevokedKeyRefusedAtOnce(t *testing.T) {
	h := newHarness(t)
	old := h.signer(readerClient)
	if r := h.do(old, http.MethodGet, "/v1/accounts/1", ""); r.code == http.StatusUnauthorized {
		t.Fatalf("key 1 before the reload: HTTP %d %s", r.code, r.body)
	}
	file := netio.KeysFile{Version: netio.KeysFileVersion}
	for _, client := range h.server.config.Keys.Clients() {
		entry := netio.KeysFileClient{ID: client.ID, Name: client.Name,
			Permissions: netio.PermissionNames(client.Permissions),
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}}
		if client.ID == readerClient {
			entry.Keys[0].ID = 2 // Rotated: key 1 removed.
		}
		file.Clients = append(file.Clients, entry)
	}
	if err := h.server.config.Keys.Replace(file); err != nil {
		t.Fatal(err)
	}
	h.expect(h.do(old, http.MethodGet, "/v1/accounts/1", ""), http.StatusUnauthorized,
		"unknown_key")
	rotated := &Signer{Client: readerClient, Key: 2, Secret: testSecret, Now: h.clock.now}
	if r := h.do(rotated, http.MethodGet, "/v1/accounts/1", ""); r.code == http.StatusUnauthorized {
		t.Fatalf("key 2 after the reload: HTTP %d %s", r.code, r.body)
	}
}
