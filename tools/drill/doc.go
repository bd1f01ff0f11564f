// Package drill is `sequent drill`: a failover drill for SREs. It starts a primary and a
// standby as separate `sequent serve` processes on 127.0.0.1, drives transfer load
// through the Go client (which follows not_primary redirects and resends unanswered
// requests with their original numbers), SIGKILLs the primary at a random moment,
// promotes the standby (manual mode, through the admin API) or lets the witness do it
// (automatic mode), keeps the load going, restarts the old primary as the new standby,
// and repeats. Afterwards it checks that every acknowledged transfer is present, that no
// transfer was applied twice (balances equal the sum of stored transfers), that no
// transfer its client was told was refused is stored (each id sent is filed as
// acknowledged, definitely refused or unknown, one bit per class: load.go), and that
// both replicas' logs replay to the same state digest.
//
// Goroutines: the load's workers (one client session shared by them), and the drill's
// own goroutine, which runs the cycles and the checks. Node processes are children; the
// drill kills them on every exit path.
package drill
