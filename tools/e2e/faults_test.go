package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/tools/testlog"
)

// probe is what the fault tests read from the operators' HTTP.
type probe struct {
	code int
	body struct {
		Status  string `json:"status"`
		Reasons []struct {
			Code string `json:"code"`
		} `json:"reasons"`
		Problems []struct {
			Code string `json:"code"`
		} `json:"problems"`
		Replication struct {
			StandbyAttached bool `json:"standby_attached"`
			Degraded        bool `json:"degraded"`
		} `json:"replication"`
		Shards []struct {
			Requests   uint64 `json:"requests"`
			AppliedOp  uint64 `json:"applied_op"`
			DurableOp  uint64 `json:"durable_op"`
			ReleasedOp uint64 `json:"released_op"`
			Log        struct {
				Failure            string `json:"failure"`
				NextSegmentFailure string `json:"next_segment_failure"`
			} `json:"log"`
		} `json:"shards"`
	}
}

// get fetches an operators' endpoint (bounded by hangGuard: its answer is asserted on)
// and decodes it; code 0 if unreachable.
func get(t *testing.T, url string) probe {
	t.Helper()
	var p probe
	response, err := (&http.Client{Timeout: hangGuard}).Get(url)
	if err != nil {
		return p
	}
	defer response.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	p.code = response.StatusCode
	json.Unmarshal(raw, &p.body)
	return p
}

func (p probe) says(code string) bool {
	for _, reason := range p.body.Reasons {
		if reason.Code == code {
			return true
		}
	}
	for _, problem := range p.body.Problems {
		if problem.Code == code {
			return true
		}
	}
	return false
}

// signal sends sig to the server's process.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.command.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// TestHungStandbyIsSeenAndDegradedFrom: a sync standby is SIGSTOPped (a hung process:
// its connection stays open). The primary must say so: /readyz 503
// standby_not_acknowledging and standby_attached 0 (both used to stay 200 and 1 until the
// silence timeout dropped the connection). With --replication-degrade-after it then
// releases the waiting write alone, and /readyz is 200 again since it takes writes, with
// /healthz 503 replication_degraded. After SIGCONT the standby re-attaches and the
// primary returns to sync.
//
// The two parts run on two starts of the primary: the first without
// --replication-degrade-after, so that the 503 lasts as long as the standby hangs. With
// the flag it lasts only from the standby's silence (a second) to the degradation (4 s
// of silence): a test stalled for those 3 s on a loaded machine missed it and waited for
// a 503 that had come and gone.
func TestHungStandbyIsSeenAndDegradedFrom(t *testing.T) {
	replicationAddress, primaryHTTP := freePort(t), freePort(t)
	primaryData := t.TempDir()
	primary := startServer(t, primaryData, freePort(t), "--http", primaryHTTP,
		"--replication-listen", replicationAddress, "--replication-key", replicationTestKey)
	standby := startServer(t, t.TempDir(), freePort(t), "--http", "",
		"--replication-listen", freePort(t), "--standby-of", replicationAddress,
		"--replication-key", replicationTestKey)
	c := dial(t, primaryData, 1, primary.address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + primaryHTTP
	eventually(t, "the primary to be ready", func() bool { return get(t, base+"/readyz").code == 200 })

	// (1) Seen: without a degradation, the primary reports the hung standby until it is back.
	// Every thread stopped (pause): kill(2) returns before they all are, and a standby
	// thread still running could acknowledge meanwhile.
	standby.pause()
	eventually(t, "/readyz to report the hung standby", func() bool {
		ready := get(t, base+"/readyz")
		return ready.code == 503 && ready.says("standby_not_acknowledging")
	})
	if status := get(t, base+"/v1/status"); status.code != 200 || status.body.Replication.StandbyAttached {
		t.Fatalf("/v1/status %d, standby_attached %v while the standby is stopped", status.code,
			status.body.Replication.StandbyAttached)
	}

	// (2) Degraded from: the primary, restarted with --replication-degrade-after, gets its
	// standby back in sync; the standby hangs again and a write waits for it.
	primary.kill()
	primary.args = append(primary.args, "--replication-degrade-after", "4s")
	primary.restart()
	standby.signal(syscall.SIGCONT)
	back := func() bool {
		status := get(t, base+"/v1/status")
		return status.body.Replication.StandbyAttached && !status.body.Replication.Degraded
	}
	eventually(t, "the standby to attach to the restarted primary in sync", back)
	standby.pause()
	// Not attached from a second of silence on, for as long as it hangs: the write below
	// cannot be acknowledged by the standby on its way to stopping.
	eventually(t, "the primary to see the standby hang again", func() bool {
		status := get(t, base+"/v1/status")
		return status.code == 200 && !status.body.Replication.StandbyAttached
	})
	written := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		_, err := c.CreateTransfers(ctx, []model.Transfer{transfer(10, 1, 2, 5)})
		written <- err
	}()
	if err := <-written; err != nil { // Bounded by hangGuard.
		t.Fatalf("write while the standby hangs, degrading after 4 s: %v", err)
	}
	status := get(t, base+"/v1/status")
	health := get(t, base+"/healthz")
	if ready := get(t, base+"/readyz"); ready.code != 200 || !status.body.Replication.Degraded ||
		health.code != 503 || !health.says("replication_degraded") {
		t.Fatalf("degraded and taking writes: /readyz %d, degraded %v, /healthz %d %+v",
			ready.code, status.body.Replication.Degraded, health.code, health.body.Problems)
	}

	standby.signal(syscall.SIGCONT)
	eventually(t, "the standby to re-attach and the primary to return to sync", back)
}

// TestStandbyWithAWrongKeyExits: a standby whose --replication-key the primary refuses
// exits at start with an authentication error (it used to retry for ever, logging
// "primary not reachable yet").
func TestStandbyWithAWrongKeyExits(t *testing.T) {
	replicationAddress := freePort(t)
	startServer(t, t.TempDir(), freePort(t), "--http", "", "--replication-listen",
		replicationAddress, "--replication-key", replicationTestKey)
	ctx, cancel := context30s()
	defer cancel()
	output, err := exec.CommandContext(ctx, binary, "serve", "--data", t.TempDir(), "--addr",
		freePort(t), "--http", "", "--standby-of", replicationAddress, "--replication-listen",
		freePort(t), "--replication-key", "not-the-key").CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(output), "authentication") {
		t.Fatalf("standby with a wrong key: %v (timed out: %v)\n%s", err, ctx.Err() != nil, output)
	}
}

// TestStandbyWaitingForItsPrimaryStopsOnSIGTERM: a standby with an empty log waits for
// its primary at start for ever; SIGTERM must end the wait (it used to need SIGKILL).
func TestStandbyWaitingForItsPrimaryStopsOnSIGTERM(t *testing.T) {
	waitingStandbyStops(t, syscall.SIGTERM)
}

// waitingStandbyStops starts a standby whose primary never answers, waits until it
// waits for it, sends it signals in turn (the last one SIGTERM), and checks that it
// stops cleanly, saying so, within 30 s.
func waitingStandbyStops(t *testing.T, signals ...syscall.Signal) {
	t.Helper()
	output := &testlog.Buffer{}
	command := exec.Command(binary, "serve", "--data", t.TempDir(), "--addr", freePort(t),
		"--http", "", "--standby-of", freePort(t), "--replication-listen", freePort(t),
		"--replication-key", replicationTestKey)
	command.Stdout, command.Stderr = output, output
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- command.Wait() }()
	t.Cleanup(func() { command.Process.Kill() })
	eventually(t, "the standby to wait for its primary", func() bool {
		return strings.Contains(output.String(), "primary not reachable yet")
	})
	for _, signal := range signals {
		command.Process.Signal(signal)
	}
	select {
	case err := <-exited:
		if !strings.Contains(output.String(), "stopped while waiting for the primary") {
			t.Fatalf("exit (%v) after %v without a clean stop:\n%s", err, signals, output)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the standby ignored %v while waiting for its primary:\n%s", signals, output)
	}
}

// TestDiskFullRefusesWritesAndResumes runs a node whose data directory is a small tmpfs,
// with a ballast file taking part of it. Writes fill the log until the next segment
// cannot be created: from then on writes are refused with log_unavailable (nothing
// applied), the process stays up, /readyz is 503 log_full, /healthz 503
// disk_space_low, reads still work. Deleting the ballast (an operator freeing space)
// lets writes go through again without a restart; after a restart every acknowledged
// transfer is there. Skipped where tmpfs cannot be mounted (not root).
// diskFullPhaseMax bounds each phase of TestDiskFullRefusesAndResumes: a hang guard,
// not a timing assertion.
const diskFullPhaseMax = 60 * time.Second

func TestDiskFullRefusesAndResumes(t *testing.T) {
	data := mountSmallFileSystem(t, 24<<20)
	ballast := filepath.Join(data, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddress := freePort(t)
	segment := "2228608" // wal.SegmentBytesMin plus a little: eight or so full batches.
	node := startServer(t, data, freePort(t), "--http", httpAddress, "--snapshot-every", "0",
		"--wal-segment-bytes", segment, "--data-free-bytes-warn", "4194304")
	base := "http://" + httpAddress
	id, key, secret := credentials(t, data)
	// Each phase (fill the disk, resume once space is freed, read back after a restart)
	// has its own hang bound: one 60 s budget for the whole test ran out during the
	// read-back under -race on a loaded machine (load average near 30 on 2 cores).
	ctx, cancel := context.WithTimeout(context.Background(), diskFullPhaseMax)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: []string{node.address}, Client: id,
		Key: key, Secret: secret, BusyRetryDelay: -1, DialTimeout: dialTimeout}) // log_unavailable comes back to us.
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	next, acknowledged := uint64(100), 0
	refused := false
	for range 400 { // ~0.4 MB stored per batch: the file system fills long before.
		batch := make([]model.Transfer, 4000)
		for i := range batch {
			next++
			batch[i] = transfer(next, 1+next%2, 2-next%2, 1+next%97)
		}
		_, err := c.CreateTransfers(ctx, batch)
		var status *client.StatusError
		if errors.As(err, &status) && status.Status == model.StatusLogUnavailable {
			refused = true
			break
		}
		if err != nil {
			t.Fatalf("write before the disk was full: %v", err)
		}
		acknowledged += len(batch)
	}
	if !refused {
		t.Fatal("the small file system never filled up")
	}
	ready := get(t, base+"/readyz")
	if ready.code != 503 || !ready.says("log_full") {
		t.Fatalf("disk full: /readyz %d %+v", ready.code, ready.body.Reasons)
	}
	eventually(t, "/healthz to report disk_space_low (space is measured every 10 s)", func() bool {
		health := get(t, base+"/healthz")
		return health.code == 503 && health.says("disk_space_low") && !health.says("log_failed")
	})
	if found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(101)}); err != nil || len(found) != 1 {
		t.Fatalf("read while the disk is full: %v, %d found", err, len(found))
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), diskFullPhaseMax)
	defer cancel()
	deadline := time.Now().Add(hangGuard) // Preparation is retried every second.
	for {
		next++
		_, err := c.CreateTransfers(ctx, []model.Transfer{transfer(next, 1, 2, 1)})
		if err == nil {
			acknowledged++
			break
		}
		var status *client.StatusError
		if !errors.As(err, &status) || status.Status != model.StatusLogUnavailable ||
			time.Now().After(deadline) {
			t.Fatalf("writes after space was freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, "/readyz 200 once the next segment could be prepared", func() bool {
		return get(t, base+"/readyz").code == 200
	})
	for range 20 { // Several segments' worth: rolls work again.
		batch := make([]model.Transfer, 4000)
		for i := range batch {
			next++
			batch[i] = transfer(next, 1+next%2, 2-next%2, 1+next%97)
		}
		if _, err := c.CreateTransfers(ctx, batch); err != nil {
			t.Fatalf("write after space was freed: %v", err)
		}
		acknowledged += len(batch)
	}
	c.Close()
	node.stop()
	node.restart()
	ctx, cancel = context.WithTimeout(context.Background(), diskFullPhaseMax)
	defer cancel()
	reader := dial(t, data, 2, node.address)
	accounts, err := reader.LookupAccounts(ctx, []model.Uint128{model.U128(1), model.U128(2)})
	if err != nil || len(accounts) != 2 {
		t.Fatalf("after restart: %v", err)
	}
	transfers := 0
	for id := uint64(101); id <= next; id += 8000 {
		ids := make([]model.Uint128, 0, 8000)
		for i := id; i < id+8000 && i <= next; i++ {
			ids = append(ids, model.U128(i))
		}
		found, err := reader.LookupTransfers(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		transfers += len(found)
	}
	if transfers != acknowledged {
		t.Fatalf("after restart %d transfers stored, %d acknowledged (refused ones must "+
			"not be applied)", transfers, acknowledged)
	}
}

// mountSmallFileSystem mounts a tmpfs of the given size on a fresh directory and
// unmounts it when the test ends; it skips the test where that is not permitted.
func mountSmallFileSystem(t *testing.T, bytes int) string {
	t.Helper()
	dir := t.TempDir()
	options := "size=" + strconv.Itoa(bytes)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
