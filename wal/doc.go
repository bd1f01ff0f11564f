// Package wal will own the write-ahead log of sequencer batches, snapshots and recovery.
//
// Not built yet: this package is a placeholder until the write-ahead log issue lands.
package wal
