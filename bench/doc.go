// Package bench will own `sequent bench`: a load generator that speaks the public
// protocol only, with HdrHistogram latencies and reports.
//
// Not built yet: this package is a placeholder until the bench issue lands.
package bench
