//go:build !invariants && !race

package wal

// invariantsEnabled: see invariants_on.go.
const invariantsEnabled = false
