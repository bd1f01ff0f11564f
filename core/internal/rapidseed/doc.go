// Package rapidseed runs the rapid property checks of a test from a fixed seed. It is
// for assertions about a run as a whole, such as "the random mix reached every outcome at
// least once": from a new random seed each run such an assertion fails now and then by
// chance (a rare outcome missed by a whole run), which fails CI for nothing; from a fixed
// seed the counts are the same on every run, so it fails only when a change to the
// generators or to the code under test stops the run reaching an outcome. Checks only
// bounds how many checks a costly property runs, from rapid's usual new seed.
//
// Test code only; it sets rapid's command-line flags for the rest of one test and
// restores them afterwards, so tests that use it must not run in parallel with other
// rapid tests of their package.
package rapidseed
