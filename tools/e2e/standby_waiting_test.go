package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/netio/ops"
	"sequent/tools/testlog"
)

// TestStandbyWaitingForItsPrimaryAnswersProbes starts a standby with an empty log whose
// primary is not up (it waits for it without a time limit): its operators' HTTP answers
// all the same, with what is true (healthy, not ready: not_primary and no_shards, role
// standby, waiting_for_primary, the sequent_ready gauge 0; promote refused 409), while
// its binary port is not open yet. Once the primary starts, the standby attaches and the
// same HTTP port serves its full status (shards open, no longer waiting). Before session 45 the port answered
// nothing during the wait, and an orchestrator's probe killed the standby.
func TestStandbyWaitingForItsPrimaryAnswersProbes(t *testing.T) {
	primaryReplication, standbyHTTP, standbyAddress := freePort(t), freePort(t), freePort(t)
	standbyData := t.TempDir()
	output := &testlog.Buffer{}
	command := exec.Command(binary, "serve", "--data", standbyData, "--addr", standbyAddress,
		"--http", standbyHTTP, "--replication-listen", freePort(t),
		"--standby-of", primaryReplication, "--replication-key", replicationTestKey)
	command.Stdout, command.Stderr = output, output
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { command.Wait(); close(exited) }()
	t.Cleanup(func() { command.Process.Signal(syscall.SIGKILL); <-exited })

	base := "http://" + standbyHTTP
	deadline := time.Now().Add(hangGuard)
	for {
		if code, _ := fetch(base + ops.PathHealth); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on the waiting standby's HTTP port within %s:\n%s", hangGuard, output)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := fetch(base + ops.PathHealth); code != http.StatusOK ||
		!strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz while waiting: %d %s", code, body)
	}
	code, body := fetch(base + ops.PathReady)
	var readiness ops.Readiness
	if err := json.Unmarshal([]byte(body), &readiness); err != nil || code != http.StatusServiceUnavailable ||
		readiness.Role != ops.RoleStandby || len(readiness.Reasons) != 2 ||
		readiness.Reasons[0].Code != ops.ReadyNotPrimary || readiness.Reasons[1].Code != ops.ReadyNoShards {
		t.Fatalf("readyz while waiting: %d %s", code, body)
	}
	status := standbyStatus(t, base)
	if status.Role != ops.RoleStandby || !status.Replication.WaitingForPrimary ||
		len(status.Shards) != 0 || !status.Healthy || status.Ready {
		t.Fatalf("status while waiting: %+v", status)
	}
	if code, body := fetch(base + ops.PathMetrics); code != http.StatusOK ||
		!strings.Contains(body, "\nsequent_ready 0\n") || !strings.Contains(body, "\nsequent_healthy 1\n") {
		t.Fatalf("metrics while waiting: %d\n%s", code, body)
	}
	promote, err := http.NewRequest("POST", base+ops.PathPromote, nil)
	if err != nil {
		t.Fatal(err)
	}
	promote.Header.Set("Authorization", "Bearer "+adminTokenOf(t, filepath.Join(standbyData, "keys.json")))
	if answer, err := (&http.Client{Timeout: httpAnswerMax}).Do(promote); err != nil {
		t.Fatal(err)
	} else if answer.Body.Close(); answer.StatusCode != http.StatusConflict {
		t.Fatalf("promote while waiting: HTTP %d, want 409", answer.StatusCode)
	}
	if conn, err := net.DialTimeout("tcp", standbyAddress, time.Second); err == nil {
		conn.Close()
		t.Fatal("the binary port is open: the standby was not waiting for its primary")
	}

	startServer(t, t.TempDir(), freePort(t), "--http", "", "--replication-listen",
		primaryReplication, "--replication-key", replicationTestKey)
	eventually(t, "the standby to attach and serve its full status", func() bool {
		// eventually polls every 20 ms, faster than the port's 20 requests a second per
		// address (40 of burst): while the primary is slow to start (CI's race run), the
		// port rightly answers 429, which is "not yet" here, not a failure.
		// No answer within fetch's bound (a starved machine) is "not yet" too.
		code, body := fetch(base + ops.PathStatus)
		if code == 0 {
			return false
		}
		if code == http.StatusTooManyRequests {
			time.Sleep(time.Second)
			return false
		}
		var status ops.Status
		if err := json.Unmarshal([]byte(body), &status); err != nil || code != http.StatusOK {
			t.Fatalf("status: %d %s (%v)", code, body, err)
		}
		return !status.Replication.WaitingForPrimary && len(status.Shards) == 1 &&
			status.Replication.PrimaryConnected
	})
	if code, body := fetch(base + ops.PathReady); code != http.StatusServiceUnavailable ||
		strings.Contains(body, ops.ReadyNoShards) || !strings.Contains(body, ops.ReadyNotPrimary) {
		t.Fatalf("readyz of the attached standby: %d %s", code, body)
	}
	command.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the standby did not stop within 30 s:\n%s", output)
	}
}

// httpAnswerMax bounds one request to a local operators' HTTP port: a hang guard, not a
// speed check, so generous enough for a process starved on a loaded CI machine.
const httpAnswerMax = 30 * time.Second

// fetch GETs url within httpAnswerMax: status code and body, code 0 when nothing answered.
func fetch(url string) (int, string) {
	client := http.Client{Timeout: httpAnswerMax}
	response, err := client.Get(url)
	if err != nil {
		return 0, ""
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return response.StatusCode, string(body)
}

// standbyStatus reads /v1/status.
func standbyStatus(t *testing.T, base string) ops.Status {
	t.Helper()
	code, body := fetch(base + ops.PathStatus)
	var status ops.Status
	if err := json.Unmarshal([]byte(body), &status); err != nil || code != http.StatusOK {
		t.Fatalf("status: %d %s (%v)", code, body, err)
	}
	return status
}
