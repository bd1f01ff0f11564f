package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrArchivedSegmentDiffers is returned by Retire when the archive directory already
// holds a file of a retiring segment's name with other content: a segment of another
// history of the log (one that started over and numbers its segments from 1 again). An
// archive never loses what it was given, so retention stops there, loudly, instead of
// replacing it.
var ErrArchivedSegmentDiffers = errors.New("wal: the archive already holds a different " +
	"segment of that name (another history of the log?); it is never replaced")

// Retire deletes, or moves to archiveDir if it is not empty, the oldest segments whose
// entries all have LastOp <= coveredOp (the op of a durable snapshot). It never retires
// the active segment nor the last segment holding entries, so that a reopened log still
// knows its last op and chain. Segments go oldest first and Retire stops at the first
// failure, so the log on disk never has a gap. It returns how many segments it retired.
// An archived file is never replaced: one with the same content (a crash between the
// copy to another file system and the delete) is kept, one with other content stops
// the retirement (ErrArchivedSegmentDiffers). Any goroutine.
func (l *Log) Retire(coveredOp uint64, archiveDir string) (int, error) {
	l.maintenanceMutex.Lock()
	defer l.maintenanceMutex.Unlock()
	// Checked under maintenanceMutex, which Close passes through after marking the log
	// closed: a closed log's directory may already hold another log (replication renames
	// it aside and opens a new one numbered from 1 under the same name), whose segments
	// have the paths this one remembers.
	if l.closed.Load() {
		return 0, ErrClosed
	}
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
	if archiveDir != "" {
		// Made (with its parent entries synced) once, before any segment goes there: the
		// sync of archiveDir below keeps its files, not its own entry in its parent.
		if err := MakeDirectoryDurably(archiveDir); err != nil {
			l.segmentsMutex.Lock()
			l.segments = append(retired, l.segments...)
			l.segmentsMutex.Unlock()
			return 0, err
		}
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

// retireFile deletes path, or moves it into archiveDir (which exists): a rename on the
// same file system, else a synced copy and a delete. A file already at the target is
// never replaced (a rename would do so silently): if it holds what path holds, path is
// only deleted; otherwise ErrArchivedSegmentDiffers.
func retireFile(path, archiveDir string) error {
	if archiveDir == "" {
		return os.Remove(path)
	}
	target := filepath.Join(archiveDir, filepath.Base(path))
	if _, err := os.Lstat(target); err == nil {
		same, err := sameContent(path, target)
		if err != nil {
			return err
		}
		if !same {
			return fmt.Errorf("%w: %s", ErrArchivedSegmentDiffers, target)
		}
		return os.Remove(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := os.Rename(path, target)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	// Copied under a name that is no segment's and renamed into place once whole and
	// synced: a copy cut short (a full disk, a crash) must not leave a part of the segment
	// under its name, which every later retirement would refuse as a different segment.
	// The archive directory is synced before the delete, so that the copy's entry is
	// durable before the log's is gone.
	partial := target + archivePartialSuffix
	if err := copyFileSynced(path, partial); err != nil {
		os.Remove(partial)
		return err
	}
	if err := os.Rename(partial, target); err != nil {
		return err
	}
	if err := SyncDirectory(archiveDir); err != nil {
		return err
	}
	return os.Remove(path)
}

// archivePartialSuffix marks a copy into an archive on another file system that is not
// whole yet; listSegments ignores such names, and the next retirement truncates it.
const archivePartialSuffix = ".partial"

// sameContentChunkBytes bounds the memory sameContent reads with (a segment is tens of
// MiB).
const sameContentChunkBytes = 1 << 20

// sameContent says whether the files at a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fileA, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fileA.Close()
	fileB, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fileB.Close()
	bufferA, bufferB := make([]byte, sameContentChunkBytes), make([]byte, sameContentChunkBytes)
	for {
		readA, errA := io.ReadFull(fileA, bufferA)
		readB, errB := io.ReadFull(fileB, bufferB)
		if !bytes.Equal(bufferA[:readA], bufferB[:readB]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		if errA != nil && !endA {
			return false, errA
		}
		if errB != nil && !endB {
			return false, errB
		}
		if endA || endB {
			return endA == endB, nil
		}
	}
}

// SetArchivedSegmentsAside moves the segment files directly in archiveDir (the archive of
// one log's retired segments) into asideDir, made if missing, without replacing any file
// there, and syncs both directories. A log that starts over (replication's start over
// from a snapshot, or the setting aside of its own state) numbers its segments from 1
// again: its retirements would meet the archived segments of its old history, which stay
// whole in asideDir. Nothing to move (no archive, or nothing in it): nothing done. Run
// again after a crash, it moves what is left.
func SetArchivedSegmentsAside(archiveDir, asideDir string) error {
	segments, err := listSegments(archiveDir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(segments) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := MakeDirectoryDurably(asideDir); err != nil {
		return err
	}
	for _, segment := range segments {
		target := filepath.Join(asideDir, filepath.Base(segment.Path))
		if _, err := os.Lstat(target); err == nil {
			return fmt.Errorf("wal: %s already exists (an archived segment is never "+
				"replaced)", target)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Rename(segment.Path, target); err != nil {
			return err
		}
	}
	if err := SyncDirectory(asideDir); err != nil {
		return err
	}
	return SyncDirectory(archiveDir)
}

func copyFileSynced(source, target string) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := removeLeftover(target); err != nil { // A partial copy of an older build's.
		return err
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, FileMode)
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
