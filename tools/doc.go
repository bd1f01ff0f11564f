// Package tools will hold operator tools that combine other packages: failover drills,
// log verification wiring and reconciliation.
//
// Not built yet.
package tools
