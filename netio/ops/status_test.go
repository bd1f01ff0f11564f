package ops

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestHealth checks /healthz: exactly {"status":"ok"} with 200 when no problem is
// listed, whatever the role; 503 with every problem, in order, otherwise.
func TestHealth(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	for _, role := range []string{RolePrimary, RoleStandby, RoleFenced} {
		snapshot := primarySnapshot()
		snapshot.Role = role
		fake.setSnapshot(snapshot)
		result := get(t, server, PathHealth)
		if result.code != 200 || string(result.body) != `{"status":"ok"}` {
			t.Errorf("%s: %d %s", role, result.code, result.body)
		}
	}
	snapshot := primarySnapshot()
	snapshot.Problems = []Problem{{Code: ProblemLogFailed, Detail: "shard 0: sync: EIO"},
		{Code: ProblemReplicationDegraded}}
	fake.setSnapshot(snapshot)
	result := get(t, server, PathHealth)
	var body Health
	if err := json.Unmarshal(result.body, &body); err != nil {
		t.Fatal(err)
	}
	want := Health{Status: HealthUnhealthy, Problems: snapshot.Problems}
	if result.code != 503 || !reflect.DeepEqual(body, want) {
		t.Errorf("with problems: %d %+v, want 503 %+v", result.code, body, want)
	}
	head := call(t, nil, "HEAD", "http://"+server.Address()+PathHealth, "", nil, nil)
	if head.code != 503 || len(head.body) != 0 {
		t.Errorf("HEAD: %d %q", head.code, head.body)
	}
}

// TestReady checks /readyz for each role, log state and replication state: 200 only for
// an open, healthy primary with room in its log that is single, async, or sync with a
// standby acknowledging or degraded (releasing alone); 503 with the reason codes
// otherwise.
func TestReady(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Snapshot)
		want   []string // Reason codes; none: ready.
	}{
		{"sync primary with standby", func(*Snapshot) {}, nil},
		{"single node", func(s *Snapshot) { s.Replication = ReplicationStats{Mode: ModeNone} }, nil},
		{"async without standby", func(s *Snapshot) {
			s.Replication = ReplicationStats{Mode: ModeAsync}
		}, nil},
		{"standby", func(s *Snapshot) { s.Role = RoleStandby }, []string{ReadyNotPrimary}},
		{"fenced", func(s *Snapshot) { s.Role = RoleFenced }, []string{ReadyNotPrimary}},
		{"log closed", func(s *Snapshot) { s.Shards[0].Log.Open = false },
			[]string{ReadyLogNotOpen}},
		{"log failed", func(s *Snapshot) { s.Shards[0].Log.Failure = "sync: EIO" },
			[]string{ReadyLogFailed}},
		{"no shards", func(s *Snapshot) { s.Shards = nil }, []string{ReadyNoShards}},
		{"sync without standby", func(s *Snapshot) { s.Replication.StandbyAttached = false },
			[]string{ReadyStandbyNotAcknowledging}},
		{"sync degraded with standby", func(s *Snapshot) { s.Replication.Degraded = true }, nil},
		// Degraded: the primary releases on its own durability, so it takes writes (the
		// loss window is a health problem, not a reason to send traffic elsewhere).
		{"sync degraded without standby", func(s *Snapshot) {
			s.Replication.Degraded, s.Replication.StandbyAttached = true, false
			s.Replication.ReleasingAlone = true
		}, nil},
		// Back to waiting for its standby, loss window still open, standby hung: replies wait.
		{"sync loss window without standby", func(s *Snapshot) {
			s.Replication.Degraded, s.Replication.StandbyAttached = true, false
		}, []string{ReadyStandbyNotAcknowledging}},
		{"log full", func(s *Snapshot) { s.Shards[0].Log.NextSegmentFailure = "ENOSPC" },
			[]string{ReadyLogFull}},
		{"standby with failed log", func(s *Snapshot) {
			s.Role = RoleStandby
			s.Shards[0].Log.Failure = "x"
		}, []string{ReadyNotPrimary, ReadyLogFailed}},
	}
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	for _, c := range cases {
		snapshot := primarySnapshot()
		c.change(&snapshot)
		fake.setSnapshot(snapshot)
		result := get(t, server, PathReady)
		var body Readiness
		if err := json.Unmarshal(result.body, &body); err != nil {
			t.Fatalf("%s: %s: %v", c.name, result.body, err)
		}
		var codes []string
		for _, reason := range body.Reasons {
			codes = append(codes, reason.Code)
		}
		wantCode, wantStatus := 200, ReadinessReady
		if c.want != nil {
			wantCode, wantStatus = 503, ReadinessNotReady
		}
		if result.code != wantCode || body.Status != wantStatus || body.Role != snapshot.Role ||
			!reflect.DeepEqual(codes, c.want) {
			t.Errorf("%s: %d %s, want %d %v", c.name, result.code, result.body, wantCode, c.want)
		}
	}
}

// TestStatus checks /v1/status: the snapshot's fields at the top level with their
// documented names, plus healthy, ready and not_ready, for a ready primary and for a
// standby with a problem; absent maps come out as {} (not null) without the caller's
// snapshot being written.
func TestStatus(t *testing.T) {
	fake := newFakeSources()
	server := startServer(t, Config{}, fake.sources())
	result := get(t, server, PathStatus)
	if result.code != 200 || result.header.Get("Content-Type") != contentTypeJSON {
		t.Fatalf("%d %v", result.code, result.header)
	}
	var body Status
	if err := json.Unmarshal(result.body, &body); err != nil {
		t.Fatal(err)
	}
	want := Status{Snapshot: primarySnapshot(), Healthy: true, Ready: true,
		NotReady: []Problem{}}
	want.Problems = []Problem{}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("status\n got %+v\nwant %+v", body, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(result.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"version", "uptime_seconds", "role", "epoch",
		"data_directory_usage_bytes", "shards", "replication", "network",
		"request_latency_us", "problems", "healthy", "ready", "not_ready"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("status has no %q", key)
		}
	}
	shard := raw["shards"].([]any)[0].(map[string]any)
	for _, key := range []string{"applied_op", "durable_op", "released_op", "ring_depth",
		"operations", "results", "batch_requests", "apply_latency_us", "log"} {
		if _, ok := shard[key]; !ok {
			t.Errorf("shard has no %q", key)
		}
	}
	if lag := raw["replication"].(map[string]any)["lag_ms"]; lag != 1500.0 {
		t.Errorf("lag_ms = %v", lag)
	}

	snapshot := primarySnapshot()
	snapshot.Role, snapshot.PrimaryAddress = RoleStandby, "10.0.0.1:7400"
	snapshot.Problems = []Problem{{Code: ProblemDivergence, Detail: "digest at op 100"}}
	snapshot.RequestLatencyUs, snapshot.Shards[0].Operations = nil, nil
	fake.setSnapshot(snapshot)
	body = Status{}
	result = get(t, server, PathStatus)
	if err := json.Unmarshal(result.body, &body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"request_latency_us":{}`, `"operations":{}`} {
		if !strings.Contains(string(result.body), want) {
			t.Errorf("status has no %s: %s", want, result.body)
		}
	}
	if snapshot.Shards[0].Operations != nil {
		t.Errorf("status wrote into the caller's snapshot")
	}
	if body.Healthy || body.Ready || len(body.NotReady) != 1 ||
		body.NotReady[0].Code != ReadyNotPrimary || body.PrimaryAddress != "10.0.0.1:7400" ||
		body.Problems[0].Code != ProblemDivergence {
		t.Errorf("standby status %+v", body)
	}
}

// TestSnapshotFieldsDocumented parses the files that define the JSON bodies and checks
// that every field of every exported struct has a comment and a snake_case JSON name, so
// /v1/status and the other bodies stay documented as they grow.
func TestSnapshotFieldsDocumented(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	files := token.NewFileSet()
	for _, name := range []string{"snapshot.go", "status.go", "admin.go"} {
		file, err := parser.ParseFile(files, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(node ast.Node) bool {
			spec, ok := node.(*ast.TypeSpec)
			if !ok || !spec.Name.IsExported() {
				return true
			}
			structure, ok := spec.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range structure.Fields.List {
				if len(field.Names) == 0 {
					continue // Embedded Snapshot: documented where it is defined.
				}
				where := spec.Name.Name + "." + field.Names[0].Name
				if field.Doc == nil && field.Comment == nil {
					t.Errorf("%s has no comment", where)
				}
				if field.Tag == nil {
					t.Errorf("%s has no JSON tag", where)
					continue
				}
				tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("json")
				if jsonName := strings.Split(tag, ",")[0]; !snake.MatchString(jsonName) {
					t.Errorf("%s has JSON name %q", where, jsonName)
				}
			}
			return true
		})
	}
}
