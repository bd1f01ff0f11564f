// Package e2e runs Sequent as real server processes on 127.0.0.1 with random free ports
// and drives them through the public Go client. Every test is bounded in time and count
// and stops its processes by itself.
package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/netio"
	"sequent/netio/client"
	"sequent/tools/testlog"
	"sequent/tools/testport"
)

// binary is the sequent executable built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sequent-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sequent")
	build := exec.Command("go", "build", "-o", binary, "sequent/cmd/sequent")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the server:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address for a server process to listen on (testport says
// why not a port from a listen on :0: the ephemeral range is handed out again at once).
func freePort(t testing.TB) string { return testport.Address(t) }

// server is one sequent serve process.
type server struct {
	t       testing.TB
	data    string
	address string
	args    []string
	command *exec.Cmd
	output  *testlog.Buffer // Its output: for failure messages, and read while it runs.
	exited  chan struct{}
}

// startServer starts `sequent serve` on data with extra flags and waits until it
// accepts connections. Without --http among the flags the operators' HTTP gets a free
// port too: serve's default (127.0.0.1:7401) is shared by every process on the machine,
// and a test failed when another one held it.
func startServer(t testing.TB, data string, address string, extra ...string) *server {
	t.Helper()
	if !slices.Contains(extra, "--http") {
		extra = append(extra, "--http", freePort(t))
	}
	s := &server{t: t, data: data, address: address,
		args: append([]string{"serve", "--data", data, "--addr", address}, extra...)}
	s.start()
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *server) start() {
	s.t.Helper()
	// A port this server used before a restart can be taken meanwhile by another
	// process's outgoing connection (ports come from one range); that ends soon, so a
	// start that fails for that reason alone is tried again, a bounded number of times.
	for attempt := 1; ; attempt++ {
		if s.startOnce(attempt == startAttemptsMax) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startAttemptsMax bounds the starts of a server whose port was taken.
const startAttemptsMax = 5

// startOnce starts the process and waits until it accepts connections. It reports false
// when the process exited because an address was in use and last is false; any other
// failure fails the test.
func (s *server) startOnce(last bool) bool {
	s.t.Helper()
	s.output = &testlog.Buffer{}
	s.command = exec.Command(binary, s.args...)
	s.command.Stdout, s.command.Stderr = s.output, s.output
	s.exited = make(chan struct{})
	if err := s.command.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		s.command.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.address, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			// serve's check that its ports are free (checkListenAddressesFree) listened
			// on them for a moment before session 49, and a dial could land in that
			// moment: the test then went on before the keys file existed, or promoted a
			// standby still waiting for its primary (409; both seen in CI's race step).
			// The check no longer listens; the server's own line, logged once it is
			// really bound, stays the sign that it started.
			if strings.Contains(s.output.String(), `msg="netio: listening"`) {
				return true
			}
		}
		select {
		case <-s.exited:
			if !last && strings.Contains(s.output.String(), "address already in use") {
				s.t.Logf("server could not bind, trying again:\n%s", s.output.String())
				return false
			}
			s.t.Fatalf("server exited at start:\n%s", s.output.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server not listening after 30 s:\n%s", s.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (a crash) and waits for the process to end.
func (s *server) kill() {
	if s.command == nil || s.command.Process == nil {
		return
	}
	s.command.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// pause stops the process with SIGSTOP and returns once every one of its threads is
// stopped. kill(2) returns as soon as the signal is queued: the kernel wakes one thread
// to take it, which then asks the others to stop, and on a loaded machine the others go
// on running meanwhile. A sync standby SIGSTOPped that way still acknowledged the write
// sent right after the signal, and its primary released it (CI, session 50:
// TestReviewsg48StandbyBackAfterTheSagaTimeout). It reads /proc (Linux).
func (s *server) pause() {
	s.t.Helper()
	if err := s.stopEveryThread(); err != nil {
		s.t.Fatal(err)
	}
}

// stopEveryThread is pause for a goroutine other than the test's, which must not call
// t.Fatal: it returns what went wrong instead.
func (s *server) stopEveryThread() error {
	pid := s.command.Process.Pid
	if err := s.command.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP to process %d: %w", pid, err)
	}
	ended := false
	if !becomes(func() bool {
		select {
		case <-s.exited:
			ended = true
			return true
		default:
		}
		return everyThreadStopped(pid)
	}) {
		return fmt.Errorf("timed out waiting for process %d to stop after SIGSTOP", pid)
	}
	if ended {
		return fmt.Errorf("process %d ended instead of stopping:\n%s", pid, s.output.String())
	}
	return nil
}

// everyThreadStopped reports whether every thread of process pid is in state T (stopped
// by a signal), read from /proc/pid/task/*/stat.
func everyThreadStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// "pid (command) state ...": the command may hold spaces and parentheses, so the
		// state is found after the last ')'.
		end := strings.LastIndexByte(string(stat), ')')
		if end < 0 || end+2 >= len(stat) || stat[end+2] != 'T' {
			return false
		}
	}
	return true
}

// stop sends SIGTERM (a clean shutdown) and waits, bounded.
func (s *server) stop() {
	s.t.Helper()
	s.command.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Fatalf("server did not stop within 30 s:\n%s", s.output.String())
	}
}

// restart starts the process again on the same data and address.
func (s *server) restart() { s.start() }

// credentials reads the development key the server generated in its data directory.
func credentials(t testing.TB, data string) (uint64, uint32, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(data, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file netio.KeysFile
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(file.Clients[0].Keys[0].Secret)
	if err != nil {
		t.Fatal(err)
	}
	return file.Clients[0].ID, file.Clients[0].Keys[0].ID, secret
}

// dial connects a client to the given servers with the data directory's dev key.
func dial(t testing.TB, data string, session uint64, addresses ...string) *client.Client {
	t.Helper()
	id, key, secret := credentials(t, data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: addresses, Client: id, Key: key,
		Secret: secret, Session: session, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls condition every 20 ms, for up to hangGuard.
func eventually(t testing.TB, what string, condition func() bool) {
	t.Helper()
	if !becomes(condition) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// becomes polls condition every 20 ms until it holds (true) or hangGuard has passed
// (false): eventually's wait, for a goroutine other than the test's.
func becomes(condition func() bool) bool {
	deadline := time.Now().Add(hangGuard)
	for !condition() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// run executes the sequent binary with arguments and returns its output.
func run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	command := exec.Command(binary, args...)
	output, err := command.CombinedOutput()
	return strings.TrimSpace(string(output)), err
}

// hangGuard bounds a wait for something a healthy run does: it only turns a hang into a
// failure, and is long enough that no slowness of the loaded 2-core CI machine reaches
// it (a whole test step took 27.7 s under -race with the load average near 35).
const hangGuard = time.Minute

// dialTimeout bounds one connect plus login of the tests' clients. Dial tries each
// address once, and the client's default (2 s) was the whole budget of a dial to a
// freshly started or promoted node: too short a hang guard on the loaded CI machine.
const dialTimeout = 30 * time.Second

func context30s() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// syscallHangup is SIGHUP (reload keys).
func syscallHangup() os.Signal { return syscall.SIGHUP }
