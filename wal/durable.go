package wal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// The durable-file pattern, in one place: a file appears under its final name only when
// it is complete and on disk. Every file Sequent writes whole (snapshots, segments, the
// persisted epoch, a received snapshot, a data directory's shard map) goes through here,
// so that a crash at any instant leaves either the old file (or none) or the new one,
// never a torn one that a restart would have to tell from damage.

// FileMode and DirectoryMode are the permissions of every file and directory a node
// creates for its data: log segments, snapshots, the LOCK file, archive copies, the
// epoch and witness ratchet files, the shard map, and the directories holding them. The
// ledger holds every account's balances and history, so only the owner reads it (before
// session 52 files were created 0644 and directories 0755: any local user could read
// it). Files and directories that exist already keep their mode; an operator whose
// backups or monitoring read as another user in a group can chmod them (g+r, g+rx).
const (
	FileMode      os.FileMode = 0o600
	DirectoryMode os.FileMode = 0o700
)

// WriteFileDurably writes path through a temporary file beside it: write fills the
// temporary (opened read-write, empty), which is then fsynced, closed, renamed over path,
// and the directory fsynced. On an error before the rename the temporary is removed and
// path is untouched; if the directory fsync fails after the rename, path already holds
// the new content (whether the rename survives a crash is unknown): a caller whose
// memory must agree with the file restores the old content itself (replication's
// StoreEpoch does).
func WriteFileDurably(path string, perm os.FileMode, write func(file *os.File) error) error {
	temporary := path + temporarySuffix
	if err := removeLeftover(temporary); err != nil {
		return err
	}
	file, err := os.OpenFile(temporary, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	err = write(file)
	if err == nil {
		err = file.Sync()
	}
	err = errors.Join(err, file.Close())
	if err == nil {
		err = RenameDurably(temporary, path)
	}
	if err != nil {
		os.Remove(temporary)
	}
	return err
}

// removeLeftover removes the file at path if there is one: a temporary that a crash left
// (an older build made it 0644, before FileMode) keeps its mode when opened again with
// O_CREATE, and the file renamed from it would have that mode (review-leftovers52).
func removeLeftover(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RenameDurably renames a complete, already fsynced file to its final name and fsyncs the
// directory, so that the rename survives a crash.
func RenameDurably(temporary, final string) error {
	if err := os.Rename(temporary, final); err != nil {
		return err
	}
	return SyncDirectory(filepath.Dir(final))
}

// SyncDirectory fsyncs a directory so that creations, renames and removals in it are
// durable.
func SyncDirectory(dir string) error {
	if err := injectedFault(&testHookSyncDirectory, dir); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// MakeDirectoryDurably makes dir and its missing parents and fsyncs the directory holding
// each one it made: the log fsyncs its files and its own directory, which keeps nothing
// if the directory's own entry is lost in a crash (a new node, or a log directory renamed
// aside by replication and made again under the same name).
func MakeDirectoryDurably(dir string) error {
	var missing []string
	for path := filepath.Clean(dir); ; path = filepath.Dir(path) {
		if _, err := os.Stat(path); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, path)
		if filepath.Dir(path) == path {
			break
		}
	}
	if err := os.MkdirAll(dir, DirectoryMode); err != nil {
		return err
	}
	for _, path := range missing {
		if err := SyncDirectory(filepath.Dir(path)); err != nil {
			return err
		}
	}
	return nil
}
