package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sequent/core/node/reconcile"
)

// node is one `sequent serve` process of the pair, with its fixed addresses and data.
type node struct {
	name        string
	binary      string
	data        string
	client      string // Binary protocol address.
	http        string // Operations HTTP address.
	replication string // Replication listen address.
	keys        string
	key         string // Replication key.
	witness     string // Witness address ("" in manual mode).
	witnessID   string // The witness's id, pinned with --witness-id as a deployment should.
	lease       time.Duration
	shards      int // --shards.
	logPath     string
	command     *exec.Cmd
	exited      chan struct{}
}

// freeAddress returns a loopback address whose port was free a moment ago.
func freeAddress() (string, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer listener.Close()
	return listener.Addr().String(), nil
}

func newNode(name, binary, directory, keys, key, witness string, lease time.Duration,
	shards int) (*node, error) {
	n := &node{name: name, binary: binary, data: filepath.Join(directory, name), keys: keys,
		key: key, witness: witness, lease: lease, shards: max(shards, 1),
		logPath: filepath.Join(directory, name+".log")}
	var err error
	for _, address := range []*string{&n.client, &n.http, &n.replication} {
		if *address, err = freeAddress(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// start runs the process: as primary when standbyOf is "", else as its standby.
func (n *node) start(standbyOf string) error {
	args := []string{"serve", "--data", n.data, "--addr", n.client, "--http", n.http,
		"--keys", n.keys, "--replication-listen", n.replication, "--replication-key", n.key,
		"--snapshot-every", "20000", "--accounts-capacity", "1024",
		"--transfers-capacity", "1048576", "--shards", strconv.Itoa(n.shards)}
	if standbyOf != "" {
		args = append(args, "--standby-of", standbyOf, "--peer", standbyOf)
	}
	if n.witness != "" {
		args = append(args, "--witness", n.witness, "--node-name", n.name, "--lease",
			n.lease.String())
		if n.witnessID != "" {
			args = append(args, "--witness-id", n.witnessID)
		}
	}
	logFile, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "\n=== %s: sequent %s\n", time.Now().Format(time.RFC3339Nano),
		strings.Join(args, " "))
	n.command = exec.Command(n.binary, args...)
	n.command.Stdout, n.command.Stderr = logFile, logFile
	n.exited = make(chan struct{})
	if err := n.command.Start(); err != nil {
		logFile.Close()
		return err
	}
	go func() {
		n.command.Wait()
		logFile.Close()
		close(n.exited)
	}()
	return nil
}

// startServing starts the process and waits until its HTTP port answers. A process that
// exits first because a port of its was taken in the meantime (another process's
// outgoing connection can land on a port this node used before its restart) is started
// again, a bounded number of times; any other early exit is an error.
func (n *node) startServing(ctx context.Context, standbyOf string) error {
	for attempt := 1; ; attempt++ {
		if err := n.start(standbyOf); err != nil {
			return err
		}
		err := n.waitFor(ctx, "its HTTP port to answer", func(status) bool { return true })
		if err == nil {
			return nil
		}
		if n.running() || attempt == startAttemptsMax || !n.logSays("address already in use") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(startRetryDelay):
		}
	}
}

// logSays reports whether the node's log contains text since its latest start.
func (n *node) logSays(text string) bool {
	raw, err := os.ReadFile(n.logPath)
	if err != nil {
		return false
	}
	latest := string(raw)
	if i := strings.LastIndex(latest, "\n=== "); i >= 0 {
		latest = latest[i:]
	}
	return strings.Contains(latest, text)
}

// kill sends SIGKILL and waits for the process to end (SIGKILL ends a stopped one too).
func (n *node) kill() {
	if n.command == nil || n.command.Process == nil {
		return
	}
	n.command.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// suspend sends SIGSTOP: the process hangs, its connections stay open.
func (n *node) suspend() {
	if n.command != nil && n.command.Process != nil {
		n.command.Process.Signal(syscall.SIGSTOP)
	}
}

// resume sends SIGCONT to a suspended process.
func (n *node) resume() {
	if n.command != nil && n.command.Process != nil {
		n.command.Process.Signal(syscall.SIGCONT)
	}
}

// stop sends SIGTERM and waits (bounded), killing it past the bound.
func (n *node) stop(bound time.Duration) {
	if n.command == nil || n.command.Process == nil {
		return
	}
	n.command.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(bound):
		n.kill()
	}
}

func (n *node) running() bool {
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// status is the part of /v1/status the drill reads.
type status struct {
	Role   string `json:"role"`
	Epoch  uint64 `json:"epoch"`
	Shards []struct {
		AppliedOp      uint64 `json:"applied_op"`
		DurableOp      uint64 `json:"durable_op"`
		ReleasedOp     uint64 `json:"released_op"`
		AcknowledgedOp uint64 `json:"replication_acknowledged_op"`
	} `json:"shards"`
	Replication struct {
		StandbyAttached  bool   `json:"standby_attached"`
		PrimaryConnected bool   `json:"primary_connected"`
		AcknowledgedOp   uint64 `json:"acknowledged_op"`
		Degraded         bool   `json:"degraded"`
		LeaseLosses      uint64 `json:"lease_losses"`
	} `json:"replication"`
}

// caughtUp reports whether every shard of s has made durable what target's had.
func (s *status) caughtUp(target *status) bool {
	if len(s.Shards) != len(target.Shards) {
		return false
	}
	for i := range s.Shards {
		if s.Shards[i].DurableOp < target.Shards[i].DurableOp {
			return false
		}
	}
	return true
}

// releasedAlone returns the first shard that released an op beyond what its standby
// acknowledged (a write acknowledged by this node alone), if any.
func (s *status) releasedAlone() (shard int, released, acknowledged uint64, found bool) {
	for i, stats := range s.Shards {
		if stats.ReleasedOp > stats.AcknowledgedOp {
			return i, stats.ReleasedOp, stats.AcknowledgedOp, true
		}
	}
	return 0, 0, 0, false
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// status fetches the node's /v1/status.
func (n *node) status(ctx context.Context) (status, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.http+"/v1/status", nil)
	if err != nil {
		return status{}, err
	}
	response, err := httpClient.Do(request)
	if err != nil {
		return status{}, err
	}
	defer response.Body.Close()
	var s status
	if err := json.NewDecoder(io.LimitReader(response.Body, 1<<20)).Decode(&s); err != nil {
		return status{}, err
	}
	return s, nil
}

// promote asks the node to become primary through the admin API.
func (n *node) promote(ctx context.Context, token string) error {
	request, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+n.http+"/v1/admin/promote", nil)
	if err != nil {
		return err
	}
	request.Header.Set("Authorization", "Bearer "+token)
	response, err := httpClient.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("promote %s: HTTP %d: %s", n.name, response.StatusCode, body)
	}
	return nil
}

// waitFor polls condition against the node's status until it holds or ctx ends.
func (n *node) waitFor(ctx context.Context, what string, condition func(s status) bool) error {
	for {
		if s, err := n.status(ctx); err == nil && condition(s) {
			return nil
		}
		if !n.running() && n.command != nil {
			return fmt.Errorf("%s exited while waiting for %s (see %s)", n.name, what, n.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: timed out waiting for %s (see %s)", n.name, what, n.logPath)
		case <-time.After(statusPollInterval):
		}
	}
}

// reconcile fetches the node's cross-shard report (GET /v1/reconcile, with the admin
// token).
func (n *node) reconcile(ctx context.Context, token string) (reconcile.Report, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+n.http+"/v1/reconcile", nil)
	if err != nil {
		return reconcile.Report{}, err
	}
	request.Header.Set("Authorization", "Bearer "+token)
	response, err := httpClient.Do(request)
	if err != nil {
		return reconcile.Report{}, err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
		return reconcile.Report{}, fmt.Errorf("reconcile %s: HTTP %d: %s", n.name,
			response.StatusCode, body)
	}
	var report reconcile.Report
	err = json.NewDecoder(io.LimitReader(response.Body, 64<<20)).Decode(&report)
	return report, err
}
