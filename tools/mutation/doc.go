// Command mutation measures how well a package's tests notice deliberate one-line changes
// (mutants) to its code: a comparison moved by one, a condition dropped or negated, an
// operator swapped, a named constant (a status code) replaced by its neighbour, a
// statement removed. A mutant that makes a test fail is killed; one that every test passes
// survived, and is either a gap in the tests or an equivalent mutant (one that changes
// nothing observable). The score of a package is killed / (killed + survived), with
// mutants judged equivalent and mutants that do not compile left out.
//
//	go run ./tools/mutation [flags] ./core/ledger ./core/match ./wal ./replication
//
// # How a run works
//
//  1. Discovery: every non-test Go file the package builds by default is parsed and type
//     checked (types come from the export data `go list -export` produces, so the tool
//     needs nothing beyond the Go toolchain). Each operator lists the sites it can change;
//     each site gives one mutant: a byte range of the file and its replacement text.
//  2. Sampling: the mutants are put in a deterministic order and shuffled with -seed; the
//     first -sample are tested (0: all). The same seed on the same code tests the same
//     mutants.
//  3. Test selection: the package's test binary is built once with coverage and each
//     top-level test (Test, Fuzz seeds, Example) runs alone, writing its own profile. A
//     mutant runs only the tests that execute its line; a mutant on a line no test
//     executes survives without running ("not covered"). Code outside functions (package
//     variables, constants) runs every test.
//  4. Running: the mutated file is written to a temporary directory and handed to
//     `go test -overlay`, so the working tree is never touched (an interrupted run leaves
//     nothing to revert). -failfast stops at the first failing test. A mutant whose tests
//     exceed -timeout-factor times their baseline duration (plus -timeout-slack) is
//     "timed out" and counts as killed: a test suite that hangs is noticed.
//  5. Budget: no new mutant starts after -budget per package; the rest are reported as
//     not run, never as survived.
//
// # Mutant keys and equivalent mutants
//
// Each mutant has a key that does not depend on line numbers, so that it survives edits
// elsewhere in the file:
//
//	wal/scan.go tornEvidence boundary "int64(h.SyncedOffset) > offset"→">=" #1
//
// (file, function, operator, the changed source text, the replacement, and which
// occurrence of that text in the function). tools/mutation/equivalent.txt lists the
// mutants judged equivalent, one per line: the key, a tab, and the reason. They are not
// run (-check-equivalent runs them and warns when one is killed, which means it is no
// longer equivalent) and are left out of the score.
//
// # Output
//
// Per package: mutants found, tested, killed, timed out, survived (of which not
// covered), not viable (did not compile), equivalent, not run, and the score with its 95%
// interval (a sample estimates the score of all mutants); then every surviving mutant as
// file:line:column with its key and a diff. -json writes every tested mutant's outcome.
//
// # Working with results
//
//   - -rerun FILE tests again only the mutants that survived in FILE (after adding tests)
//     and carries FILE's other outcomes into the counts, so the score covers the same
//     sample. Mutants the code no longer has are reported and left out.
//   - -report FILE prints FILE's summary again with the current equivalent.txt, running
//     nothing: after judging survivors, the scores follow.
//   - -keys FILE tests only the listed mutants; a line may name the tests that must kill
//     the mutant (key, a tab, tests), and then only those run and no coverage map is
//     built. A listed key the code no longer has is an error. With -fail-under 100 this is
//     CI's guard (guard.txt): the gaps once found stay closed. Without packages on the
//     command line, -keys tests every package the file names. So that the guard cannot
//     pass while checking less than it lists: a listed test that does not run and pass
//     unmutated (renamed, skipped) stops the run before its mutants; a listed mutant
//     that does not build is tried once more, and then fails the run (a mutant that does
//     not build is otherwise left out of the score). A mutant whose tests time out
//     counts as killed, never as survived.
//   - -fail-under P exits with status 1 when a package scores below P percent.
//
// Only the package's own tests are measured: a mutant of wal that only the end-to-end
// tests in tools/e2e would notice counts as survived here.
package main
