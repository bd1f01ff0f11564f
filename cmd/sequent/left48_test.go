package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/ops"
)

// TestExitCodeTableNamesEveryCommand: README's exit-code table has a row for every
// top-level command (cobra's help aside), so that a script writer finds what 1 and 2 mean
// for each. witness and version had none.
func TestExitCodeTableNamesEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n### Exit codes\n")
	if !found {
		t.Fatal("README has no 'Exit codes' section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	named := map[string]bool{}
	firstCell := regexp.MustCompile("(?m)^\\| ([^|]*) \\|")
	commandName := regexp.MustCompile("`([a-z-]+)")
	for _, row := range firstCell.FindAllStringSubmatch(section, -1) {
		for _, name := range commandName.FindAllStringSubmatch(row[1], -1) {
			named[name[1]] = true
		}
	}
	root := newRootCommand()
	root.InitDefaultHelpCmd()
	checked := 0
	for _, command := range root.Commands() {
		if command.Name() == "help" {
			continue
		}
		checked++
		if !named[command.Name()] {
			t.Errorf("README's exit-code table has no row for 'sequent %s'", command.Name())
		}
	}
	if checked < 10 {
		t.Fatalf("only %d commands checked: the walk is broken", checked)
	}
}

// TestAdminRiskHelpShowsAValidClientRule: 'sequent admin risk --help' shows a rule file
// with a client-scope rule, and every rule it shows is one the server would take (the
// help showed ledger and account rules only, and a client rule's fields are the ones a
// reader gets wrong: an amount needs a ledger).
func TestAdminRiskHelpShowsAValidClientRule(t *testing.T) {
	help := newAdminRiskCommand(&adminOptions{}).Long
	example := strings.Index(help, "for example:")
	start := strings.Index(help[example+1:], `{"rules": [`) + example + 1
	if example < 0 || start <= example {
		t.Fatal("the help shows no rule file")
	}
	end := strings.Index(help[start:], "]}")
	if end < 0 {
		t.Fatal("the help's rule file does not end")
	}
	var request ops.RiskSetRequest
	if err := json.Unmarshal([]byte(help[start:start+end+2]), &request); err != nil {
		t.Fatalf("the help's rule file does not parse: %v", err)
	}
	scopes := map[string]bool{}
	for _, shown := range request.Rules {
		rule, err := shown.Model()
		if err != nil {
			t.Errorf("rule %d: %v", shown.ID, err)
			continue
		}
		if status := rule.Validate(); status != model.StatusOK {
			t.Errorf("rule %d: the server would refuse it: %v", shown.ID, status)
		}
		scopes[shown.Scope] = true
	}
	for _, scope := range []string{"ledger", "account", "client"} {
		if !scopes[scope] {
			t.Errorf("the help shows no %s rule", scope)
		}
	}
}
