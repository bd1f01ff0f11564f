package client

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/wal"
)

// accountLimitsKeys is a keys file with two clients of the transfer permission: client 1
// with limits.accounts_max, client 2 without.
func accountLimitsKeys(accountsMax int64) netio.KeysFile {
	secret := hex.EncodeToString(testSecret)
	return netio.KeysFile{Version: netio.KeysFileVersion, Clients: []netio.KeysFileClient{
		{ID: 1, Name: "bounded", Permissions: []string{"transfer"},
			Keys:   []netio.KeysFileKey{{ID: 1, Secret: secret}},
			Limits: netio.ClientLimits{AccountsMax: accountsMax}},
		{ID: 2, Name: "unbounded", Permissions: []string{"transfer"},
			Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}},
	}}
}

// TestAccountsMaxEndToEnd runs a keys file's limits.accounts_max through a server in
// front of a real shard on a fresh log, as serve wires them (the shard gets the keys'
// set_grants body at start and after each reload): client 1, bounded at 2, gets its
// third account refused with accounts_limit_per_client_reached and its retry answered
// exists; client 2 is not bounded; a reload raising the bound lets client 1's next
// request create the account.
func TestAccountsMaxEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := netio.WriteKeysFile(path, accountLimitsKeys(2), false); err != nil {
		t.Fatal(err)
	}
	keys, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := shard.New(shard.Config{Logger: discard}, core.New(core.Config{}),
		wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrants(keys.GrantsBody()); err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: discard}, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server.Replier()))
	if err := server.Start(); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = s.Close()
	})
	bounded := dialTestClient(t, server.Address(), nil)
	unbounded := dialTestClient(t, server.Address(), func(c *Config) { c.Client = 2 })
	create := func(c *Client, ids ...uint64) []model.Status {
		t.Helper()
		accounts := make([]model.Account, len(ids))
		for i, id := range ids {
			accounts[i] = model.Account{ID: model.U128(id), Ledger: 1, Code: 1,
				Flags: model.AccountDebitsMustNotExceedCredits}
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		results, err := c.CreateAccounts(ctx, accounts)
		if err != nil {
			t.Fatal(err)
		}
		statuses := make([]model.Status, len(results))
		for i := range results {
			statuses[i] = results[i].Status
		}
		return statuses
	}
	if got := create(bounded, 1, 2, 3); got[0] != model.StatusOK || got[1] != model.StatusOK ||
		got[2] != model.StatusAccountsLimitPerClientReached {
		t.Fatalf("client 1's three accounts: %v", got)
	}
	if got := create(bounded, 1); got[0] != model.StatusExists {
		t.Fatalf("client 1's retry: %v", got)
	}
	if got := create(unbounded, 4, 5, 6); got[0] != model.StatusOK || got[1] != model.StatusOK ||
		got[2] != model.StatusOK {
		t.Fatalf("client 2's three accounts: %v", got)
	}
	// A reload raises the bound: applied from the next request the primary sequences.
	if err := netio.WriteKeysFile(path, accountLimitsKeys(3), true); err != nil {
		t.Fatal(err)
	}
	if err := keys.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrants(keys.GrantsBody()); err != nil {
		t.Fatal(err)
	}
	if got := create(bounded, 3); got[0] != model.StatusOK {
		t.Fatalf("client 1's third account after the reload: %v", got)
	}
}
