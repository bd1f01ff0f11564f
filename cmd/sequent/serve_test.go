package main

import (
	"log/slog"
	"strings"
	"testing"

	"sequent/tools/testcert"
)

// TestServeRetentionFlags checks that the snapshot and log retention flags reach the
// node's configuration, and that contradictory or useless values are refused.
func TestServeRetentionFlags(t *testing.T) {
	base := func() *serveOptions {
		return &serveOptions{data: t.TempDir(), sync: "every", replicationMode: "sync",
			snapshotEvery: 1000, snapshotsKept: 2}
	}
	logger := slog.New(slog.DiscardHandler)

	o := base()
	config, err := o.nodeConfig(logger)
	if err != nil {
		t.Fatal(err)
	}
	if s := config.Snapshots; s.Keep != 2 || !s.RetireLog || s.ArchiveDir != "" || s.EveryOps != 1000 {
		t.Fatalf("defaults: %+v", *s)
	}

	o = base()
	o.snapshotsKept, o.walArchive = 3, "/archive"
	if config, err = o.nodeConfig(logger); err != nil {
		t.Fatal(err)
	}
	if s := config.Snapshots; s.Keep != 3 || !s.RetireLog || s.ArchiveDir != "/archive" {
		t.Fatalf("--snapshots-keep 3 --wal-archive /archive: %+v", *s)
	}

	o = base()
	o.walKeepAll = true
	if config, err = o.nodeConfig(logger); err != nil || config.Snapshots.RetireLog {
		t.Fatalf("--wal-keep-all: retire %v, error %v", config.Snapshots.RetireLog, err)
	}

	for _, test := range []struct {
		name   string
		change func(o *serveOptions)
		want   string
	}{
		{"keep 0", func(o *serveOptions) { o.snapshotsKept = 0 }, "--snapshots-keep"},
		{"archive and keep all", func(o *serveOptions) { o.walArchive, o.walKeepAll = "/a", true },
			"exclude each other"},
	} {
		o := base()
		test.change(o)
		if _, err := o.nodeConfig(logger); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}

// TestServeReplicationTLSFlags: the three replication TLS flags together give the node a
// TLS configuration; one or two of them, unreadable files, or TLS without replication are
// refused with a message naming the problem.
func TestServeReplicationTLSFlags(t *testing.T) {
	files := testcert.NewAuthority(t, "serve test CA").IssueFiles(t)
	logger := slog.New(slog.DiscardHandler)
	base := func() *serveOptions {
		return &serveOptions{data: t.TempDir(), sync: "every", replicationMode: "sync",
			snapshotsKept: 2, replicationListen: "127.0.0.1:0", replicationKey: "k",
			replicationTLS: [3]string{files.Certificate, files.Key, files.Authority}}
	}
	config, err := base().nodeConfig(logger)
	if err != nil || config.TLS == nil || config.TLS.Server == nil || config.TLS.Client == nil {
		t.Fatalf("all three flags: TLS %+v, error %v", config.TLS, err)
	}
	o := base()
	o.replicationTLS = [3]string{}
	if config, err = o.nodeConfig(logger); err != nil || config.TLS != nil {
		t.Fatalf("no TLS flags: TLS %+v, error %v", config.TLS, err)
	}
	for _, test := range []struct {
		name   string
		change func(o *serveOptions)
		want   string
	}{
		{"certificate only", func(o *serveOptions) { o.replicationTLS[1], o.replicationTLS[2] = "", "" },
			"all three"},
		{"no CA", func(o *serveOptions) { o.replicationTLS[2] = "" }, "all three"},
		{"missing CA file", func(o *serveOptions) { o.replicationTLS[2] = files.Authority + ".missing" },
			"CA"},
		{"key is not a CA", func(o *serveOptions) { o.replicationTLS[2] = files.Key }, "no PEM certificate"},
		{"without replication", func(o *serveOptions) { o.replicationListen = "" }, "without replication"},
	} {
		o := base()
		test.change(o)
		if _, err := o.nodeConfig(logger); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}
