//go:build invariants || race

package wal

// invariantsEnabled switches on the expensive pair assertions: decompressing every body
// right after compressing it, and decoding every header right after encoding it. Cheap
// assertions are always on. Enabled by the invariants or race build tags.
const invariantsEnabled = true
