package deploy

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestRunbookSettingsAreTheUnitsSettings (hunt45b): a runbook that tells an operator to
// edit a setting must name a file a shipped unit reads (EnvironmentFile) and a
// SEQUENT_* variable that file sets and the unit does not override with a flag. The
// SequentFenced runbook said "set SEQUENT_STANDBY_OF in /etc/sequent/standby.env": no
// unit reads that file (both node units read /etc/sequent/node.env), and
// sequent-standby.service passes --standby-of ${SEQUENT_PEER}, which wins over any
// SEQUENT_STANDBY_OF.
func TestRunbookSettingsAreTheUnitsSettings(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	units, err := fs.Glob(Files, "systemd/*.service")
	if err != nil || len(units) == 0 {
		t.Fatalf("units: %v %v", units, err)
	}
	environmentFiles := map[string]bool{} // Installed path → read by a unit.
	commandLines := ""
	for _, unit := range units {
		data, err := fs.ReadFile(Files, unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if path, ok := strings.CutPrefix(line, "EnvironmentFile="); ok {
				environmentFiles[strings.TrimPrefix(path, "-")] = true
			}
			if command, ok := strings.CutPrefix(line, "ExecStart="); ok {
				commandLines += command + "\n"
			}
		}
	}
	// What the shipped settings files set (or show commented out), by installed name.
	settings := ""
	for path := range environmentFiles {
		data, err := fs.ReadFile(Files, "systemd/"+strings.TrimPrefix(path, "/etc/sequent/"))
		if err != nil {
			t.Errorf("a unit reads %s, which is not shipped: %v", path, err)
			continue
		}
		settings += string(data)
	}
	files := regexp.MustCompile(`/etc/sequent/[a-z-]+\.env`)
	settingsNamed := regexp.MustCompile(`set (SEQUENT_[A-Z_]+)`)
	for _, rule := range rules {
		runbook := rule.Annotations["runbook"]
		for _, path := range files.FindAllString(runbook, -1) {
			if !environmentFiles[path] {
				t.Errorf("%s: the runbook names %s, which no shipped unit reads", rule.Alert, path)
			}
		}
		for _, match := range settingsNamed.FindAllStringSubmatch(runbook, -1) {
			variable := match[1]
			flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(variable,
				"SEQUENT_")), "_", "-")
			if !strings.Contains(settings, variable+"=") {
				t.Errorf("%s: the runbook sets %s, which no shipped settings file has", rule.Alert,
					variable)
			}
			if strings.Contains(commandLines, flag+" ") {
				t.Errorf("%s: the runbook sets %s, but a unit passes %s itself (flags win)",
					rule.Alert, variable, flag)
			}
		}
	}
}
