package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Retire deletes, or moves to archiveDir if it is not empty, the oldest segments whose
// entries all have LastOp <= coveredOp (the op of a durable snapshot). It never retires
// the active segment nor the last segment holding entries, so that a reopened log still
// knows its last op and chain. Segments go oldest first and Retire stops at the first
// failure, so the log on disk never has a gap. It returns how many segments it retired.
// Any goroutine.
func (l *Log) Retire(coveredOp uint64, archiveDir string) (int, error) {
	l.maintenanceMutex.Lock()
	defer l.maintenanceMutex.Unlock()
	l.segmentsMutex.Lock()
	lastWithEntries := -1
	for i := range l.segments {
		if l.segments[i].Entries > 0 {
			lastWithEntries = i
		}
	}
	count := 0
	for count < len(l.segments)-1 && count < lastWithEntries &&
		l.segments[count].Entries > 0 && l.segments[count].LastOp <= coveredOp {
		count++
	}
	retired := append([]segmentInfo(nil), l.segments[:count]...)
	l.segments = append([]segmentInfo(nil), l.segments[count:]...)
	l.segmentsMutex.Unlock()
	if count == 0 {
		return 0, nil
	}
	for i, info := range retired {
		if err := retireFile(info.Path, archiveDir); err != nil {
			l.segmentsMutex.Lock()
			l.segments = append(retired[i:], l.segments...)
			l.segmentsMutex.Unlock()
			return i, err
		}
	}
	err := SyncDirectory(l.options.Dir)
	if err == nil && archiveDir != "" {
		err = SyncDirectory(archiveDir)
	}
	return count, err
}

// retireFile deletes path, or moves it into archiveDir: a rename on the same file
// system, else a synced copy and a delete.
func retireFile(path, archiveDir string) error {
	if archiveDir == "" {
		return os.Remove(path)
	}
	if err := os.MkdirAll(archiveDir, 0o755); err != nil {
		return err
	}
	target := filepath.Join(archiveDir, filepath.Base(path))
	err := os.Rename(path, target)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyFileSynced(path, target); err != nil {
		return err
	}
	return os.Remove(path)
}

func copyFileSynced(source, target string) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	return err
}

// BytesAfter returns the size of the segments holding ops after op (the log that
// retiring up to op would keep). Any goroutine.
func (l *Log) BytesAfter(op uint64) int64 {
	l.segmentsMutex.Lock()
	defer l.segmentsMutex.Unlock()
	var total int64
	for _, info := range l.segments {
		if info.Entries == 0 || info.LastOp > op {
			total += info.Bytes
		}
	}
	return total
}
