package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileDurably(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	write := func(text string) func(*os.File) error {
		return func(file *os.File) error {
			_, err := file.WriteString(text)
			return err
		}
	}
	if err := WriteFileDurably(path, 0o600, write("first")); err != nil {
		t.Fatal(err)
	}
	// A failing writer leaves the old content and no temporary file behind.
	failure := errors.New("disk full")
	err := WriteFileDurably(path, 0o600, func(file *os.File) error {
		file.WriteString("half")
		return failure
	})
	if !errors.Is(err, failure) {
		t.Fatalf("error %v, want %v", err, failure)
	}
	if content, _ := os.ReadFile(path); string(content) != "first" {
		t.Fatalf("content %q after a failed write, want the old one", content)
	}
	if _, err := os.Stat(path + temporarySuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if err := WriteFileDurably(path, 0o600, write("second")); err != nil {
		t.Fatal(err)
	}
	if content, _ := os.ReadFile(path); string(content) != "second" {
		t.Fatalf("content %q, want second", content)
	}
	// A file in a missing directory fails before writing anything.
	if err := WriteFileDurably(filepath.Join(dir, "missing", "file"), 0o600,
		write("x")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
