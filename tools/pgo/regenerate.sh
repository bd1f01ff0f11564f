#!/usr/bin/env bash
# Writes cmd/sequent/default.pgo, a CPU profile that `go build ./cmd/sequent` then uses
# for profile-guided optimisation (not committed since session 38's measurements:
# bench/PERFORMANCE.md, "Profile-guided build"; commit it to ship it) (PGO; -pgo=auto, Go's default, picks up default.pgo in a
# main package's directory and applies it to that binary and every package it imports).
#
# The profile is four CPU profiles merged, one per hot path of the server, each taken from
# binaries built WITHOUT a profile (-pgo=off), so that a new profile never describes code
# that an older profile had already reshaped:
#   1. the ledger: BenchmarkCreateTransfers, 1,000,000 accounts, as the system, no events;
#   2. matching: BenchmarkMatching, settled and book-only;
#   3. the server end to end, one transfer per request, 32 connections x 16 in flight
#      (`sequent bench --embedded --driver wire`: the wire driver keeps the load
#      generator's share of the profile small);
#   4. the same with full requests of 8,189 transfers.
# Run it from anywhere in the repository on a machine with nothing else running; it takes
# about a minute after the three builds and writes only cmd/sequent/default.pgo (tens of
# KB). Re-run it when the hot paths change much: a stale profile is still safe (the
# compiler ignores samples of code that no longer matches), it only helps less.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go test -c -pgo=off -o "$work/ledger.test" ./core/ledger
go test -c -pgo=off -o "$work/match.test" ./core/match
go build -pgo=off -o "$work/sequent" ./cmd/sequent

(cd core/ledger && "$work/ledger.test" -test.run '^$' \
	-test.bench 'CreateTransfers/accounts=1000000$/as=system/events=off' \
	-test.benchtime 2000x -test.cpuprofile "$work/ledger.pprof" >/dev/null)
(cd core/match && "$work/match.test" -test.run '^$' \
	-test.bench 'Matching/(settled|book-only)$' \
	-test.benchtime 3000000x -test.cpuprofile "$work/match.pprof" >/dev/null)
(cd "$work" && ./sequent bench --embedded --driver wire --events 1 --connections 32 \
	--inflight 16 --duration 10s --quiet --json --cpuprofile "$work/one.pprof" >/dev/null)
(cd "$work" && ./sequent bench --embedded --driver wire --events 8189 --connections 2 \
	--inflight 4 --duration 10s --quiet --json --cpuprofile "$work/full.pprof" >/dev/null)

go tool pprof -proto "$work/ledger.pprof" "$work/match.pprof" "$work/one.pprof" \
	"$work/full.pprof" >cmd/sequent/default.pgo
ls -l cmd/sequent/default.pgo
