package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSources records every audit record and action call in order, and serves a
// snapshot the test can change.
type fakeSources struct {
	mutex    sync.Mutex
	snapshot Snapshot
	events   []string      // "audit:promote", "promote", "log-level:debug", …
	records  []AuditRecord // Every audit record written.
	auditErr error         // Returned by Audit when set.
	errs     map[string]error
	epoch    uint64
}

func newFakeSources() *fakeSources {
	return &fakeSources{snapshot: primarySnapshot(), errs: map[string]error{}, epoch: 7}
}

func (f *fakeSources) sources() Sources {
	return Sources{
		Snapshot: func() Snapshot {
			f.mutex.Lock()
			defer f.mutex.Unlock()
			return f.snapshot
		},
		Audit: func(record AuditRecord) error {
			f.mutex.Lock()
			defer f.mutex.Unlock()
			if f.auditErr != nil {
				return f.auditErr
			}
			f.events = append(f.events, "audit:"+record.Action)
			f.records = append(f.records, record)
			return nil
		},
		Promote: func() (uint64, error) {
			return f.epoch, f.act(ActionPromote)
		},
		SnapshotNow: func() error { return f.act(ActionSnapshot) },
		ReloadKeys:  func() error { return f.act(ActionReloadKeys) },
		SetLogLevel: func(level string) error { return f.act(ActionLogLevel + ":" + level) },
	}
}

func (f *fakeSources) act(name string) error {
	f.mutex.Lock()
	defer f.mutex.Unlock()
	f.events = append(f.events, name)
	return f.errs[strings.SplitN(name, ":", 2)[0]]
}

func (f *fakeSources) setSnapshot(snapshot Snapshot) {
	f.mutex.Lock()
	f.snapshot = snapshot
	f.mutex.Unlock()
}

func (f *fakeSources) eventList() []string {
	f.mutex.Lock()
	defer f.mutex.Unlock()
	return append([]string(nil), f.events...)
}

func (f *fakeSources) auditRecords() []AuditRecord {
	f.mutex.Lock()
	defer f.mutex.Unlock()
	return append([]AuditRecord(nil), f.records...)
}

// primarySnapshot is a healthy, ready single-node primary with distinct values in every
// field, so a metric wired to the wrong field shows.
func primarySnapshot() Snapshot {
	return Snapshot{
		Version: "sequent test", UptimeSeconds: 12.5, Role: RolePrimary, Epoch: 3,
		DataDirectory: "/data", DataDirectoryUsageBytes: 1 << 30,
		DataDirectoryAvailableBytes: 3 << 30, DataDirectoryFilesystemBytes: 10 << 30,
		Shards: []ShardStats{{
			ID: 0, OpsApplied: 1001, Entries: 101, Requests: 1234, Queries: 55,
			BusyReplies: 6, RingDepth: 17, AppliedOp: 2001, DurableOp: 1999, ReleasedOp: 1998,
			Snapshots: 2, SnapshotErrors: 1,
			Operations: map[string]uint64{"create_transfers": 900, "lookup_accounts": 55},
			Results:    map[string]uint64{"ok": 880, "exceeds_credits": 20},
			BatchRequests: Quantiles{Count: 101, Sum: 1234, P50: 8, P90: 30, P99: 120,
				P999: 500, Max: 800},
			ApplyLatencyUs: Quantiles{Count: 101, Sum: 50500, P50: 400, P90: 900, P99: 2100,
				P999: 3300, Max: 4400},
			LogFullRefusals: 4, InlineTurns: 9,
			Log: LogStats{Open: true, Entries: 101, Groups: 99, Syncs: 98, InlineGroups: 60, Rolls: 1,
				StoredBytes: 40000, RawBytes: 120000,
				EncodeLatencyUs: Quantiles{Count: 101, Sum: 30300, P50: 250, P90: 500, P99: 700,
					P999: 800, Max: 950},
				WriteLatencyUs: Quantiles{Count: 99, Sum: 9900, P50: 80, P90: 150, P99: 300,
					P999: 900, Max: 1500},
				SyncLatencyUs: Quantiles{Count: 98, Sum: 19600, P50: 200, P90: 350, P99: 420,
					P999: 1100, Max: 2500}},
		}},
		Replication: ReplicationStats{Mode: ModeSync, StandbyAttached: true,
			AcknowledgedOp: 1990, LagOps: 11, LagBytes: 4096, LagMs: 1500, Degradations: 2,
			EntriesSent: 100, BytesSent: 39000, LeaseRenewals: 400, LeaseRenewalFailures: 7,
			LeaseLosses: 1, WitnessRefused: WitnessRefusals{Forged: 3, Identity: 4, Unsigned: 5,
				Downgrade: 6}},
		Network: NetworkStats{ConnectionsOpen: 4, ConnectionsAccepted: 40,
			ConnectionsRefused: 3, LoginsAccepted: 38, LoginsRejected: 5, BytesReceived: 7777,
			BytesSent: 8888, BusyReplies: 9, RateLimitedReplies: 10, ProtocolErrors: 11,
			SlowConsumers: 12, RequestsInflight: 13},
		API: &APIStats{Requests: 500, AuthFailures: 21, Refused: 22, Busy: 23, RateLimited: 24,
			Timeouts: 25, InFlight: 26},
		RequestLatencyUs: map[string]Quantiles{
			"create_transfers": {Count: 900, Sum: 450000, P50: 350, P90: 600, P99: 1200,
				P999: 3000, Max: 9000},
		},
	}
}

// startServer runs a server on a random loopback port and stops it when the test ends.
// waitMax bounds the tests' waits for what a healthy server does (a connection, an
// answer, an action freed): a hang guard, not a timing assertion, long enough for -race
// on the loaded 2-core CI machine.
const waitMax = time.Minute

func startServer(t *testing.T, config Config, sources Sources) *Server {
	t.Helper()
	if config.Address == "" {
		config.Address = "127.0.0.1:0"
	}
	if config.Logger == nil {
		config.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	server, err := New(config, sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return server
}

// testTokens are the admin tokens every test server accepts.
var testTokens = map[string]string{"alice": "alice-token-0123456789", "bob": "bob-token-42"}

// response is one HTTP exchange's outcome.
type response struct {
	code   int
	body   []byte
	header http.Header
}

func (r response) reply(t *testing.T) Reply {
	t.Helper()
	var reply Reply
	if err := json.Unmarshal(r.body, &reply); err != nil {
		t.Fatalf("reply %q: %v", r.body, err)
	}
	return reply
}

// call sends one request with a bounded client.
func call(t *testing.T, client *http.Client, method, url, token string, body []byte,
	header map[string]string) response {
	t.Helper()
	request, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	for name, value := range header {
		request.Header.Set(name, value)
	}
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	result, err := client.Do(request)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer result.Body.Close()
	data, err := io.ReadAll(result.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: result.StatusCode, body: data, header: result.Header}
}

func get(t *testing.T, server *Server, path string) response {
	t.Helper()
	return call(t, nil, http.MethodGet, "http://"+server.Address()+path, "", nil, nil)
}

func post(t *testing.T, server *Server, path, token string) response {
	t.Helper()
	return call(t, nil, http.MethodPost, "http://"+server.Address()+path, token, nil, nil)
}

var errTest = errors.New("test failure")
