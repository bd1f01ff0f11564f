package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGo stands for go in TestReviewci48CIRunFailsInEveryStep: each command .ci/run gives
// it succeeds at once, except the one of the step named by $FAIL_STEP. The test binaries
// and the mutation tool it "builds" are scripts that fail the same way. fuzz-build fails
// the build of a package's fuzzing test binary (go test -c), which fuzz_all must count;
// tests-killed kills the tests' go test, tests-shell and invariants-shell the shell of
// their step beside (which then writes no status: the poll loop must still see it end);
// fuzz-list its go list of the packages (which prints what it could, then fails): until
// review of session 49 the list came through a process substitution, whose status
// nothing checks, so CI passed with the packages after the failure never fuzzed;
// race-list the race step's go list, whose status the grep's "|| true" (for a list with
// no race package) swallowed: the race step never started and CI passed.
const fakeGo = `#!/bin/sh
fail() { [ "$FAIL_STEP" = "$1" ] && exit 1; exit 0; }
case "$1" in
version) echo "go version fake"; exit 0 ;;
mod) exit 0 ;;
vet) fail vet ;;
env) echo "$FAKE_ROOT/cache"; exit 0 ;;
list)
	if [ "$2" = -f ]; then echo "sequent/fz $FAKE_ROOT/fz"; [ "$FAIL_STEP" = fuzz-list ] && exit 1; exit 0; fi
	# race-list: the race step's go list ./... fails after printing a package that is not one of its.
	[ "$FAIL_STEP" = race-list ] && [ "$2" = ./... ] && { echo sequent/core/ledger; exit 1; }
	printf 'sequent/core/ledger\nsequent/wal\n'; exit 0 ;;
build)
	if [ "$2" = -o ]; then
		# The mutation tool: -json DIR/guard-K.json comes last; run K fails for
		# FAIL_STEP=guard-K. Like the real one given -claim DIR, it first claims the list's
		# package (one here: an exclusive mkdir) and says so when the claim is its own.
		cat >"$3" <<'TOOL'
#!/bin/sh
claims=
while [ $# -gt 0 ]; do
	[ "$1" = -claim ] && claims=$2
	last=$1
	shift
done
name=${last##*/}
name=${name%.json}
[ -d "$claims" ] || { echo "fake guard: no -claim directory"; exit 1; }
mkdir "$claims/package" 2>/dev/null && echo "fake guard: $name claimed the package"
[ "$FAIL_STEP" = "$name" ] && exit 1
exit 0
TOOL
		chmod +x "$3"
	fi
	fail build ;;
test)
	case " $* " in
	*" -c "*)
		[ "$FAIL_STEP" = fuzz-build ] && exit 1
		while [ "$1" != -o ]; do shift; done
		printf '#!/bin/sh\n[ "$FAIL_STEP" = fuzz ] && exit 1\nexit 0\n' >"$2"; chmod +x "$2"; exit 0 ;;
	*" -race "*) fail race ;;
	*" invariants "*) [ "$FAIL_STEP" = invariants-shell ] && kill -KILL $PPID; fail invariants ;;
	*) [ "$FAIL_STEP" = tests-killed ] && kill -KILL $$; [ "$FAIL_STEP" = tests-shell ] && kill -KILL $PPID; fail tests ;;
	esac ;;
esac
echo "fake go: unexpected $*" >&2
exit 3
`

// ciRunHangMax bounds one fake .ci/run in TestReviewci48CIRunFailsInEveryStep: a bound on
// a hang (a poll loop that never sees a step end), not a timing assertion (each takes
// seconds).
const ciRunHangMax = 5 * time.Minute

// TestReviewci48CIRunFailsInEveryStep runs the whole .ci/run with go, gofmt, git and the
// system tools replaced by fakes that succeed, except in one step at a time: CI must pass
// with none failing, and exit non-zero, without "CI passed", for a failure in any step
// (a step run beside another and collected before or after it included: tests,
// invariants, race, either half of the guard). A trap or a collect that swallowed a status would turn CI green on a failure.
func TestReviewci48CIRunFailsInEveryStep(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	files := map[string]string{
		".ci/run":   string(script),
		"bin/go":    fakeGo,
		"bin/gofmt": "#!/bin/sh\n[ \"$FAIL_STEP\" = gofmt ] && echo a.go\nexit 0\n",
		"bin/git":   "#!/bin/sh\necho a.go\n",
		"bin/promtool": "#!/bin/sh\n[ \"$1\" = --version ] && { echo promtool fake; exit 0; }\n" +
			"[ \"$FAIL_STEP\" = promtool ] && exit 1\nexit 0\n",
		"bin/chromium": "#!/bin/sh\necho chromium fake\n",
		"bin/curl":     "#!/bin/sh\nexit 0\n",
		"bin/openssl":  "#!/bin/sh\nexit 0\n",
		"fz/a_test.go": "package fz\n\nfunc FuzzOne(f *testing.F) {}\n",
		"tools/deploy/prometheus/sequent-alerts.yml": "",
		"cache/.keep": "",
	}
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []string{"", "gofmt", "vet", "build", "promtool", "tests",
		"invariants", "race", "fuzz", "fuzz-build", "fuzz-list", "race-list", "guard-1", "guard-2",
		"tests-killed", "tests-shell", "invariants-shell"} {
		command := exec.Command("bash", filepath.Join(root, ".ci/run"))
		command.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"),
			"FAIL_STEP="+step, "FAKE_ROOT="+root)
		outputFile, err := os.Create(filepath.Join(root, "output-"+step))
		if err != nil {
			t.Fatal(err)
		}
		command.Stdout, command.Stderr = outputFile, outputFile
		if err := command.Start(); err != nil {
			t.Fatal(err)
		}
		var hung atomic.Bool
		stop := time.AfterFunc(ciRunHangMax, func() { hung.Store(true); command.Process.Kill() })
		runErr := command.Wait()
		stop.Stop()
		if hung.Load() {
			t.Errorf("step %q failing: .ci/run still running after %v (a step it never sees end)", step, ciRunHangMax)
		}
		defer func() { out, _ := os.ReadFile(outputFile.Name()); t.Logf("%q:\n%s", step, out) }()
		outputFile.Close()
		out, _ := os.ReadFile(outputFile.Name())
		// Both guard runs collected: the package was claimed, and tested, by exactly one,
		// in this CI run's own claim directory (a directory two CI runs shared would
		// leave the second run's guard testing nothing).
		if strings.Contains(string(out), "-- guard-1: exit status") && strings.Contains(string(out), "-- guard-2: exit status") {
			if claimed := strings.Count(string(out), "claimed the package"); claimed != 1 {
				t.Errorf("step %q failing: the guard's package was claimed %d times, want once:\n%s", step, claimed, out)
			}
		}
		passed := runErr == nil && strings.Contains(string(out), "== CI passed")
		switch {
		case step == "" && !passed:
			t.Errorf("nothing failing: .ci/run failed (%v):\n%s", runErr, out)
		case step != "" && (runErr == nil || strings.Contains(string(out), "== CI passed")):
			t.Errorf("step %q failing: .ci/run passed (%v):\n%s", step, runErr, out)
		}
	}
}
