package deploy

import (
	"regexp"
	"strings"
	"testing"
)

// TestFencedRunbookRestartsTheFencedProcess (review hb45): SequentFenced's runbook
// (hunt45b) rejoins the fenced node with `systemctl disable --now sequent-primary &&
// systemctl enable --now sequent-standby`. That stops a fenced process that runs under
// sequent-primary, but a node promoted while it ran sequent-standby (the witness's
// automatic failover; README "Operators' kit" step 5 keeps it running there, only
// re-pointing the units) is fenced under sequent-standby: `enable --now` of an active
// unit starts nothing, and the fenced process (which stays up, refusing every request)
// is never replaced by a standby. Whichever unit runs the fenced process, the runbook's
// systemctl commands must end it and leave sequent-standby running a new process.
func TestFencedRunbookRestartsTheFencedProcess(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	runbook := ""
	for _, rule := range rules {
		if rule.Alert == "SequentFenced" {
			runbook = rule.Annotations["runbook"]
		}
	}
	commands := regexp.MustCompile("`(systemctl [^`]*)`").FindAllStringSubmatch(runbook, -1)
	if len(commands) == 0 {
		t.Fatalf("SequentFenced's runbook gives no systemctl command:\n%s", runbook)
	}
	for _, fencedUnder := range []string{"sequent-primary", "sequent-standby"} {
		// The units' processes: "fenced", "standby" (started by the runbook) or "".
		running := map[string]string{fencedUnder: "fenced"}
		for _, command := range commands {
			for _, step := range strings.Split(command[1], "&&") {
				runSystemctl(t, running, strings.Fields(step))
			}
		}
		if running["sequent-primary"] != "" || running["sequent-standby"] != "standby" {
			t.Errorf("fenced under %s: after the runbook's commands sequent-primary runs %q "+
				"and sequent-standby %q, want none and a new standby:\n%s", fencedUnder,
				running["sequent-primary"], running["sequent-standby"], runbook)
		}
	}
}

// runSystemctl applies one systemctl command line to running (unit → its process), as
// systemd does: start leaves an active unit as it is, stop ends it, restart replaces it;
// enable and disable change nothing that runs unless given --now.
func runSystemctl(t *testing.T, running map[string]string, words []string) {
	t.Helper()
	if len(words) < 2 || words[0] != "systemctl" {
		t.Fatalf("not a systemctl command: %q", strings.Join(words, " "))
	}
	verb, now, units := words[1], false, []string{}
	for _, word := range words[2:] {
		if word == "--now" {
			now = true
		} else {
			units = append(units, strings.TrimSuffix(word, ".service"))
		}
	}
	for _, unit := range units {
		switch {
		case verb == "start" || verb == "enable" && now:
			if running[unit] == "" {
				running[unit] = "standby"
			}
		case verb == "stop" || verb == "disable" && now:
			running[unit] = ""
		case verb == "restart":
			running[unit] = "standby"
		case verb == "enable" || verb == "disable" || verb == "daemon-reload":
		default:
			t.Fatalf("systemctl %s: not modelled", verb)
		}
	}
}
