package e2e

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// writeKeys writes a keys file with the given clients and an admin token "ops".
func writeKeys(t *testing.T, path string, clients ...netio.KeysFileClient) string {
	t.Helper()
	token := strings.Repeat("ab", 32)
	file := netio.KeysFile{Version: netio.KeysFileVersion, Clients: clients,
		AdminTokens: []netio.KeysFileAdminToken{{Name: "ops", Token: token}}}
	if err := netio.WriteKeysFile(path, file, true); err != nil {
		t.Fatal(err)
	}
	return token
}

func keyClient(id uint64, secret string, permissions ...string) netio.KeysFileClient {
	return netio.KeysFileClient{ID: id, Name: "client", Permissions: permissions,
		Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}}}
}

// operatorKeyClient is keyClient with the operator scope: the single-tenant setting, for
// tests whose one client creates accounts that may go negative and moves money between
// them (without a grant a client may create only debit-limited accounts).
func operatorKeyClient(id uint64, secret string, permissions ...string) netio.KeysFileClient {
	c := keyClient(id, secret, permissions...)
	c.Grants = []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	return c
}

func dialWith(t *testing.T, address string, id uint64, secret string) (*client.Client, error) {
	raw, _ := hex.DecodeString(secret)
	ctx, cancel := context30s()
	defer cancel()
	return client.Dial(ctx, client.Config{Addresses: []string{address}, Client: id, Key: 1,
		Secret: raw, BusyRetryDelay: -1, DialTimeout: dialTimeout})
}

// TestSecurityControls shows each binary-port control blocking what it must, on a real
// server: unknown client, wrong secret, revoked key after a reload, permission denied,
// rate limit, too many connections for a client, and a disallowed address.
func TestSecurityControls(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	good, other := strings.Repeat("11", 32), strings.Repeat("22", 32)
	limited := keyClient(3, strings.Repeat("33", 32), "read", "transfer")
	limited.Limits = netio.ClientLimits{RequestsPerSecond: 2, ConnectionsMax: 1}
	writeKeys(t, keys, keyClient(1, good, "read", "transfer"), keyClient(2, other, "read"), limited)
	s := startServer(t, data, freePort(t), "--keys", keys)
	var serverError *client.ServerError
	if _, err := dialWith(t, s.address, 9, good); !errors.As(err, &serverError) ||
		wire.ErrorCode(serverError.Code) != wire.ErrorLoginUnknownKey {
		t.Fatalf("unknown client: %v", err)
	}
	if _, err := dialWith(t, s.address, 1, other); !errors.As(err, &serverError) ||
		wire.ErrorCode(serverError.Code) != wire.ErrorLoginBadSignature {
		t.Fatalf("wrong secret: %v", err)
	}
	reader, err := dialWith(t, s.address, 2, other)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	_, err = reader.CreateAccounts(ctx, []model.Account{account(1, 0)})
	var status *client.StatusError
	if !errors.As(err, &status) || status.Status != model.StatusPermissionDenied {
		t.Fatalf("write without the transfer permission: %v", err)
	}
	first, err := dialWith(t, s.address, 3, limited.Keys[0].Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialWith(t, s.address, 3, limited.Keys[0].Secret); !errors.As(err, &serverError) ||
		wire.ErrorCode(serverError.Code) != wire.ErrorConnectionLimit {
		t.Fatalf("second connection of a one-connection client: %v", err)
	}
	// The lookups are pipelined, all sent before the first answer: one after the other,
	// each waiting for its answer, they were all admitted whenever every round trip took
	// half a second (the bucket's refill at 2 a second) on a loaded machine. At once, the
	// server would have to spread their admissions over 5 s for none to be refused.
	const lookups = 12
	limitedOutcomes := map[model.Status]int{}
	var calls []*client.Call
	for range lookups {
		calls = append(calls, first.Go(ctx, model.OperationLookupAccounts, 0,
			model.U128(1).Append(nil), nil))
	}
	for _, call := range calls {
		reply, err := call.Wait(ctx)
		switch {
		case err == nil:
			limitedOutcomes[reply.Status]++
		case errors.As(err, &status):
			limitedOutcomes[status.Status]++
		default:
			t.Fatal(err)
		}
	}
	if limitedOutcomes[model.StatusRateLimited] == 0 || limitedOutcomes[model.StatusOK] == 0 {
		t.Fatalf("2 requests/s, %d sent at once: %v", lookups, limitedOutcomes)
	}
	// Revoke client 1's key and reload with SIGHUP: a new login with it fails.
	writeKeys(t, keys, keyClient(2, other, "read"), limited)
	s.command.Process.Signal(syscallHangup())
	deadline := time.Now().Add(hangGuard)
	for {
		_, err := dialWith(t, s.address, 1, good)
		if errors.As(err, &serverError) && wire.ErrorCode(serverError.Code) == wire.ErrorLoginUnknownKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted after reload: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDisallowedAddress: with --allow naming another network, a loopback connection gets
// an error frame and is closed before any login.
func TestDisallowedAddress(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t), "--allow", "10.0.0.0/8")
	raw := connectRaw(t, s.address)
	errorFrames := raw.readUntilClosed()
	if len(errorFrames) == 0 || wire.ErrorCode(errorFrames[0].Status) != wire.ErrorConnectionRefused {
		t.Fatalf("disallowed address: %v", errorFrames)
	}
}

// TestAdminAPIAndMetrics runs transfers and checks that /metrics counted them, that the
// admin API refuses a missing or wrong token and accepts the right one, and that the
// accepted action left an audit record in the log.
func TestAdminAPIAndMetrics(t *testing.T) {
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("11", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer"))
	httpAddress := freePort(t)
	s := startServer(t, data, freePort(t), "--keys", keys, "--http", httpAddress)
	c, err := dialWith(t, s.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	transfers := make([]model.Transfer, 25)
	for i := range transfers {
		transfers[i] = transfer(uint64(100+i), 1, 2, 1)
	}
	if _, err := c.CreateTransfers(ctx, transfers); err != nil {
		t.Fatal(err)
	}
	metrics := httpGet(t, "http://"+httpAddress+"/metrics")
	for _, want := range []string{`sequent_shard_results_total{result="ok",shard="0"} 27`,
		`sequent_shard_operation_requests_total{operation="create_transfers",shard="0"} 1`,
		`sequent_role{role="primary"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s", want, grepLines(metrics, "sequent_shard"))
		}
	}
	for _, attempt := range []struct {
		token string
		code  int
	}{{"", http.StatusUnauthorized}, {"wrong", http.StatusForbidden}, {token, http.StatusOK}} {
		request, _ := http.NewRequest(http.MethodPost, "http://"+httpAddress+"/v1/admin/snapshot", nil)
		if attempt.token != "" {
			request.Header.Set("Authorization", "Bearer "+attempt.token)
		}
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != attempt.code {
			t.Fatalf("token %q: HTTP %d, want %d", attempt.token, response.StatusCode, attempt.code)
		}
	}
	s.stop()
	output, err := run(t, "wal", "inspect", data, "--json")
	if err != nil {
		t.Fatalf("inspect: %v %s", err, output)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(output), &report); err != nil {
		t.Fatalf("inspect json: %v", err)
	}
	logBytes := readLogBytes(t, data)
	if !strings.Contains(logBytes, `"who":"ops"`) || !strings.Contains(logBytes, `"action":"snapshot"`) {
		t.Fatal("no audit record of the admin action in the log")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	response, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return string(body)
}

func grepLines(text, substring string) string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substring) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// readLogBytes concatenates the log segments (small entries are stored raw, so an audit
// record's JSON is readable in them).
func readLogBytes(t *testing.T, data string) string {
	t.Helper()
	segments, _ := filepath.Glob(filepath.Join(data, "log", "*.wal"))
	var all strings.Builder
	for _, segment := range segments {
		content, err := os.ReadFile(segment)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(content)
	}
	return all.String()
}
