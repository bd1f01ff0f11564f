package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// The help texts' examples and the README's command lines are what a newcomer copies
// first. These tests parse each such command line with the real command tree, as
// 'sequent' would before running it, so that a renamed or removed flag, a misspelt
// subcommand or a missing required flag in the documentation fails here instead of in
// the reader's terminal. Nothing is run: only the command lookup, the flag parsing and
// the commands' own argument and required-flag checks.

// commandLinePrefixes are how a documented command line starts: the installed binary or
// the quick start's 'go run'.
var commandLinePrefixes = []string{"go run ./cmd/sequent ", "sequent "}

// splitShellWords splits a documented command line into arguments the way a POSIX shell
// would for the simple lines documentation holds: blanks separate words, single and
// double quotes group, a '#' starting a word begins a comment, and '&' at the end (run
// in the background) is dropped.
func splitShellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, character := range line {
		switch {
		case quote != 0:
			if character == quote {
				quote = 0
			} else {
				word.WriteRune(character)
			}
		case character == '\'' || character == '"':
			quote = character
			inWord = true
		case character == ' ' || character == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case character == '#' && !inWord:
			return trimBackground(words)
		default:
			word.WriteRune(character)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return trimBackground(words)
}

func trimBackground(words []string) []string {
	if len(words) > 0 && words[len(words)-1] == "&" {
		return words[:len(words)-1]
	}
	return words
}

// checkCommandLine parses one documented command line (without its program name) on a
// fresh command tree and returns what 'sequent' would refuse before running it.
func checkCommandLine(t *testing.T, arguments []string) error {
	t.Helper()
	root := newRootCommand()
	command, rest, err := root.Find(arguments)
	if err != nil {
		return err
	}
	if command == root {
		return errorString("names no subcommand")
	}
	if err := command.ParseFlags(rest); err != nil {
		return err
	}
	if command.HasSubCommands() {
		// A group's argument check refuses a word that names none of its subcommands.
		if err := command.ValidateArgs(command.Flags().Args()); err != nil {
			return err
		}
		return errorString("'" + command.CommandPath() + "' only groups subcommands")
	}
	if err := command.ValidateArgs(command.Flags().Args()); err != nil {
		return err
	}
	return command.ValidateRequiredFlags()
}

type errorString string

func (e errorString) Error() string { return string(e) }

// documentedCommandLines returns the command lines in text that start with one of
// commandLinePrefixes, each without that prefix, with backslash-newline continuations
// joined.
func documentedCommandLines(text string) []string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		for _, prefix := range commandLinePrefixes {
			if strings.HasPrefix(line, prefix) {
				lines = append(lines, strings.TrimPrefix(line, prefix))
				break
			}
		}
	}
	return lines
}

// TestHelpExamplesParse checks every command's Example section, and that the commands a
// newcomer starts from (the runnable ones one level below the root) have one.
func TestHelpExamplesParse(t *testing.T) {
	examplesChecked := 0
	var visit func(command *cobra.Command)
	visit = func(command *cobra.Command) {
		for _, line := range documentedCommandLines(command.Example) {
			examplesChecked++
			if err := checkCommandLine(t, splitShellWords(line)); err != nil {
				t.Errorf("%s: example 'sequent %s': %v", command.CommandPath(), line, err)
			}
		}
		for _, child := range command.Commands() {
			visit(child)
		}
	}
	root := newRootCommand()
	visit(root)
	for _, command := range root.Commands() {
		if command.Name() == "help" || command.Name() == "completion" {
			continue
		}
		if command.Example == "" {
			t.Errorf("'%s --help' shows no example", command.CommandPath())
		}
	}
	if examplesChecked == 0 {
		t.Fatal("no example found: the scan is broken")
	}
	t.Logf("%d example lines parsed", examplesChecked)
}

// readmeCodeSpan matches what README.md shows as code: fenced blocks and inline spans.
var readmeCodeSpan = regexp.MustCompile("(?s)```[a-z]*\n(.*?)```|`([^`]+)`")

// checkCommandAndFlagNames is the check for command lines written inline in prose, which
// often stand for a family of commands ('sequent serve --shards N', 'sequent admin risk'):
// the subcommands named must exist and so must every flag named, whatever its value.
func checkCommandAndFlagNames(arguments []string) error {
	root := newRootCommand()
	command, rest, err := root.Find(arguments)
	if err != nil {
		return err
	}
	if command.HasSubCommands() && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		// A word after a group that names none of its subcommands; prose writes a
		// family as 'inspect/verify' or 'inspect|verify', each of which must exist.
		for _, name := range strings.FieldsFunc(rest[0], func(separator rune) bool {
			return separator == '/' || separator == '|'
		}) {
			if found, _, _ := command.Find([]string{name}); found != command {
				continue
			}
			if err := command.ValidateArgs([]string{name}); err != nil {
				return err
			}
		}
	}
	for _, argument := range rest {
		if !strings.HasPrefix(argument, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(argument, "--"), "=")
		if name == "help" {
			continue
		}
		if command.Flags().Lookup(name) == nil && command.InheritedFlags().Lookup(name) == nil {
			return errorString("'" + command.CommandPath() + "' has no flag --" + name)
		}
	}
	return nil
}

// readmesWithCommandLines are the guides whose command lines must work with this build.
// bench/PERFORMANCE.md is left out on purpose: it is a record, and its commands are
// quoted as each session ran them.
var readmesWithCommandLines = []string{"README.md", "bench/README.md", "tools/drill/README.md"}

// TestReadmeCommandLinesParse checks every 'sequent …' and 'go run ./cmd/sequent …'
// command line the guides show: those in code blocks are parsed in full (flag values,
// arguments, required flags), those inline in prose for their subcommand and flag names.
func TestReadmeCommandLinesParse(t *testing.T) {
	for _, path := range readmesWithCommandLines {
		t.Run(path, func(t *testing.T) { checkReadmeCommandLines(t, path) })
	}
}

func checkReadmeCommandLines(t *testing.T, path string) {
	readme, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	blockLinesChecked, inlineLinesChecked := 0, 0
	for _, match := range readmeCodeSpan.FindAllStringSubmatch(string(readme), -1) {
		block, inline := match[1], match[2]
		for _, line := range documentedCommandLines(block) {
			blockLinesChecked++
			if err := checkCommandLine(t, splitShellWords(line)); err != nil {
				t.Errorf("%s code block: 'sequent %s': %v", path, line, err)
			}
		}
		// An inline span may wrap onto the next line of the paragraph. One with an
		// ellipsis elides, and one whose command word ends in a colon quotes a line the
		// program prints ('sequent drill: seed N'): both are skipped.
		if strings.Contains(inline, "…") {
			inline = ""
		}
		for _, line := range documentedCommandLines(strings.Join(strings.Fields(inline), " ")) {
			if command, _, _ := strings.Cut(line, " "); strings.HasSuffix(command, ":") {
				continue
			}
			inlineLinesChecked++
			if err := checkCommandAndFlagNames(splitShellWords(line)); err != nil {
				t.Errorf("%s inline: 'sequent %s': %v", path, line, err)
			}
		}
	}
	if blockLinesChecked+inlineLinesChecked == 0 {
		t.Fatalf("no command line found in %s: the scan is broken", path)
	}
	t.Logf("%s: command lines checked: %d in code blocks, %d inline", path,
		blockLinesChecked, inlineLinesChecked)
}

// TestHelpIsTheSameEveryTime renders every command's help from two command trees built
// one after the other and requires them equal: a default taken from the clock or from
// randomness (drill's --seed once showed a new "default" at every call) tells the reader
// a value that the next run will not use.
func TestHelpIsTheSameEveryTime(t *testing.T) {
	render := func() map[string]string {
		helps := map[string]string{}
		var visit func(command *cobra.Command)
		visit = func(command *cobra.Command) {
			helps[command.CommandPath()] = command.UsageString()
			for _, child := range command.Commands() {
				visit(child)
			}
		}
		visit(newRootCommand())
		return helps
	}
	first := render()
	time.Sleep(time.Millisecond) // so that a clock-derived default has moved on
	second := render()
	if len(first) < 10 {
		t.Fatalf("only %d commands rendered: the walk is broken", len(first))
	}
	for path, help := range first {
		if second[path] != help {
			t.Errorf("'%s --help' differs between two renderings:\n%s\n---\n%s", path, help,
				second[path])
		}
	}
}

// TestHelpShowsOneDefaultPerFlag checks every flag line of every command's help: a flag
// whose text says what happens without it ("(default: from --ledgers)") or that it is
// required must not also show pflag's "(default …)" of the placeholder value it holds
// (settle's --reference read "(default: the cut-off timestamp) (default \"0\")").
func TestHelpShowsOneDefaultPerFlag(t *testing.T) {
	linesChecked := 0
	var visit func(command *cobra.Command)
	visit = func(command *cobra.Command) {
		for _, line := range strings.Split(command.LocalFlags().FlagUsages(), "\n") {
			if line == "" {
				continue
			}
			linesChecked++
			explained := strings.Contains(line, "(default:") || strings.Contains(line, "required")
			shown := strings.Contains(line, "(default ")
			if explained && shown {
				t.Errorf("%s: %s", command.CommandPath(), strings.TrimSpace(line))
			}
		}
		for _, child := range command.Commands() {
			visit(child)
		}
	}
	visit(newRootCommand())
	if linesChecked < 100 {
		t.Fatalf("only %d flag lines checked: the walk is broken", linesChecked)
	}
}
