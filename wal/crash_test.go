package wal

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

var crashCycles = flag.Int("wal.crashcycles", crashCyclesDefault, "kill-and-recover cycles in TestCrashLoop")

// crashChildEnvironment names the log directory when the test binary runs as the
// crash test's child.
const crashChildEnvironment = "SEQUENT_WAL_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnvironment); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child process: it opens the log (recovering what the previous child
// left), says where it starts, then appends deterministic entries forever with SyncEvery
// and prints every durable op as it is published. The parent kills it.
func crashChild(dir string) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := Open(Options{Dir: dir, SegmentBytes: testSegmentBytes, Sync: SyncEvery, Logger: logger})
	if err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stdout, "open %d\n", l.LastOp())
	go func() {
		for range l.DurableNotify() {
			fmt.Fprintf(os.Stdout, "durable %d\n", l.Durable())
		}
	}()
	for {
		e := entryFor(l.LastOp() + 1)
		if err := l.Append(e); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			os.Exit(2)
		}
	}
}

// TestCrashLoop kills a child process that appends with SyncEvery at random moments
// (SIGKILL, sometimes during its recovery, mostly while it appends) and checks after
// each kill that every op the child reported durable is in the log, exactly once, intact,
// that the chain verifies, and that the next child continues the log.
func TestCrashLoop(t *testing.T) {
	dir := t.TempDir()
	// The seed picks the kill delays; when a kill lands also depends on scheduling, so a
	// seed does not replay a run, but it is logged for a failure's report.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := newRand(seed)
	durableMax := uint64(0)
	for cycle := range *crashCycles {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), crashChildEnvironment+"="+dir)
		child.Stderr = testWriter{t}
		stdout, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		reports := make(chan string, 1024)
		go readLines(stdout, reports)
		killEarly := cycle%5 == 4
		target := durableMax + 1 + r.Uint64N(300)
		reported := waitForKill(t, reports, killEarly, target, r.Uint64N(3000))
		child.Process.Kill()
		child.Wait()
		for line := range reports {
			if strings.HasPrefix(line, "error") {
				t.Fatalf("cycle %d: child: %s", cycle, line)
			}
			reported = max(reported, parseDurable(t, line))
		}
		durableMax = max(durableMax, reported)
		checkAfterCrash(t, dir, durableMax)
		t.Logf("cycle %d: killed (early %v) after durable op %d", cycle, killEarly, reported)
	}
	if durableMax == 0 {
		t.Fatal("the children never made anything durable: the test tested nothing")
	}
}

// waitForKill returns when the child should be killed: after a random delay from its
// start if early, else once it reported op target durable plus a random delay; it
// returns the highest durable op seen.
func waitForKill(t *testing.T, reports <-chan string, early bool,
	target, delayMicroseconds uint64) uint64 {
	t.Helper()
	reported := uint64(0)
	if early {
		time.Sleep(time.Duration(delayMicroseconds*10) * time.Microsecond)
		return reported
	}
	for line := range reports {
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
		reported = max(reported, parseDurable(t, line))
		if reported >= target {
			break
		}
	}
	time.Sleep(time.Duration(delayMicroseconds) * time.Microsecond)
	return reported
}

func readLines(r io.Reader, lines chan<- string) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		lines <- scanner.Text()
	}
	close(lines)
}

func parseDurable(t *testing.T, line string) uint64 {
	digits, ok := strings.CutPrefix(line, "durable ")
	if !ok {
		return 0
	}
	op, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0 // a line cut by the kill
	}
	return op
}

// checkAfterCrash opens the killed child's log and checks it holds every op reported
// durable, each exactly once and intact, then verifies the chain offline.
func checkAfterCrash(t *testing.T, dir string, durable uint64) {
	t.Helper()
	l := openTest(t, dir)
	if l.LastOp() < durable {
		t.Fatalf("log ends at op %d but op %d was reported durable", l.LastOp(), durable)
	}
	if l.LastOp() > 0 {
		if _, last := readAll(t, l, 0); last != l.LastOp() {
			t.Fatalf("read up to %d, log ends at %d", last, l.LastOp())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, "", &sumReplayer{}); err != nil {
		t.Fatal(err)
	}
}
