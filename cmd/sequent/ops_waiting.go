package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"sequent/netio"
	"sequent/netio/ops"
)

// waitingOpsShutdownTimeout bounds the stop of the operators' HTTP served during a
// standby's wait (requests in progress are reads of a fixed snapshot: they end at once).
const waitingOpsShutdownTimeout = 5 * time.Second

// waitingOps is the operators' HTTP of a standby still starting: opening its log and
// waiting for its primary (replication.OpenNode: up to 10 s with a log of its own, for
// ever with an empty one). Without it /healthz, /readyz, /metrics and /v1/status went
// unanswered for that long, and an orchestrator's liveness probe killed the process. It
// answers what is true then: healthy (nothing for an operator to fix), not ready
// (not_primary, no_shards), role standby with replication.waiting_for_primary; admin
// actions are refused (409: nothing is open to act on). It serves on the port serve
// bound, with the same TLS, allow-list and limits, and gives the port back (open: a
// connection arriving meanwhile waits in the backlog) to the full server.
type waitingOps struct {
	server   *ops.Server
	listener *lentListener
}

// startWaitingOps serves the operators' HTTP of a starting standby on o.httpListener;
// nil (nothing served) for a primary, without --http, or when it cannot be set up (the
// full server reports the configuration's errors after the start, as before).
func startWaitingOps(o *serveOptions, keyring *netio.Keyring, logger *slog.Logger) *waitingOps {
	deadlines, ok := o.httpListener.(interface{ SetDeadline(time.Time) error })
	if o.standbyOf == "" || !ok {
		return nil
	}
	started := time.Now()
	snapshot := func() ops.Snapshot {
		available, size := filesystemSpace(o.data)
		return waitingSnapshot(o, time.Since(started), available, size)
	}
	refused := func() error {
		return fmt.Errorf("%w: the node is waiting for its primary at start", ops.ErrRefused)
	}
	lent := &lentListener{Listener: o.httpListener, deadlines: deadlines}
	server, err := ops.New(ops.Config{Address: o.http, Listener: lent,
		TLSCertFile: o.httpTLSCert, TLSKeyFile: o.httpTLSKey, AllowCIDRs: o.httpAllow,
		Hosts: o.httpHost, Logger: logger, Tokens: func(token string) (string, bool) {
			return ops.TokenChecker(keyring.AdminTokens())(token)
		}}, ops.Sources{Snapshot: snapshot,
		// Every action is refused without changing anything: there is nothing to audit.
		Audit:       func(ops.AuditRecord) error { return nil },
		Promote:     func() (uint64, error) { return 0, refused() },
		SnapshotNow: refused, ReloadKeys: refused,
		// Refused like the others (README: 409 until started), not left out: a missing
		// source answers 501 "this node does not offer log-level".
		SetLogLevel: func(string) error { return refused() }})
	if err == nil {
		err = server.Start()
	}
	if err != nil {
		logger.Warn("sequent: operators' HTTP not served while waiting for the primary",
			"error", err)
		return nil
	}
	return &waitingOps{server: server, listener: lent}
}

// waitingSnapshot is what the waiting server reports after uptime, with availableBytes of
// filesystemBytes left on the data directory's file system.
func waitingSnapshot(o *serveOptions, uptime time.Duration, availableBytes,
	filesystemBytes uint64) ops.Snapshot {
	s := ops.Snapshot{Version: versionString(), Role: ops.RoleStandby,
		UptimeSeconds: uptime.Seconds(), DataDirectory: o.data,
		Replication:      ops.ReplicationStats{Mode: o.replicationMode, WaitingForPrimary: true},
		RequestLatencyUs: map[string]ops.Quantiles{}, Problems: []ops.Problem{},
		DataDirectoryAvailableBytes: availableBytes, DataDirectoryFilesystemBytes: filesystemBytes}
	s.Problems = appendDiskSpaceLow(s.Problems, &s, uint64(o.dataFreeBytesWarn))
	return s
}

// stop ends the waiting server and gives the port back, open, for the full server. A
// failure is logged, not fatal: the port stays bound, and the full server's start says
// whether it can serve.
func (w *waitingOps) stop(logger *slog.Logger) {
	if w == nil {
		return
	}
	// Closed first, not only by the server's shutdown: fasthttp's Shutdown returns at once
	// when Serve has not registered the listener yet (a wait that ended at once), and
	// Serve would then accept on the port for ever beside the full server; from a closed
	// lent listener its first Accept returns (TestReviewLF45WaitingOpsStoppedAtOnceLeavesNoServer).
	closeErr := w.listener.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitingOpsShutdownTimeout)
	defer cancel()
	if err := errors.Join(closeErr, w.server.Shutdown(ctx), w.listener.giveBack()); err != nil {
		logger.Warn("sequent: stopping the operators' HTTP served while waiting", "error", err)
	}
}

// lentListener lends serve's bound HTTP listener to the waiting server: its Close (the
// server's shutdown) wakes a blocked Accept with a past deadline instead of closing the
// socket, and Accept then reports the listener closed, so that the server stops while
// the port stays bound.
type lentListener struct {
	net.Listener
	deadlines interface{ SetDeadline(time.Time) error }
	closed    atomic.Bool
}

func (l *lentListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil && l.closed.Load() {
		return nil, net.ErrClosed
	}
	return conn, err
}

func (l *lentListener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	return l.deadlines.SetDeadline(time.Unix(1, 0))
}

// giveBack clears the deadline Close set, for the next server on the port.
func (l *lentListener) giveBack() error { return l.deadlines.SetDeadline(time.Time{}) }
