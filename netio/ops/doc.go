// Package ops is Sequent's operators' HTTP server, built on fasthttp: Prometheus
// metrics, health and readiness probes, a JSON status page, and the admin actions
// (promote, snapshot now, reload keys, set the log level), each behind a bearer token and
// recorded as an audit record before it runs.
//
// # Wiring
//
//	server, err := ops.New(ops.Config{
//		Address:    "127.0.0.1:7401",
//		AllowCIDRs: []string{"10.0.0.0/8"},            // Empty: anyone who can connect.
//		Hosts:      []string{"sequent-a.internal"},     // Besides IP literals and localhost.
//		Tokens:     ops.TokenChecker(adminTokens),      // name → token, from the keys file.
//		Logger:     logger,
//	}, ops.Sources{
//		Snapshot:    node.OpsSnapshot,                  // Reads published stats only.
//		Audit:       node.AppendAudit,                  // Audit entry in the log; error: nothing runs.
//		Promote:     node.Promote,
//		SnapshotNow: node.SnapshotNow,
//		ReloadKeys:  keys.Reload,
//		SetLogLevel: setLevel,
//	})
//	err = server.Start()                               // Bound: server.Address().
//	...
//	err = server.Shutdown(ctx)
//
// # Endpoints
//
//	GET  /metrics               Prometheus text exposition (sequent_*, go_*, process_*).
//	GET  /healthz               200 {"status":"ok"}; 503 {"status":"unhealthy","problems":[…]}.
//	GET  /readyz                200 {"status":"ready","role":"primary"} when a write sent
//	                            now is taken and answered as configured (below);
//	                            503 {"status":"not_ready","role":…,"reasons":[…]}.
//	GET  /v1/status             200: every Snapshot field plus healthy, ready, not_ready.
//	GET  /v1/settlement         ?partner=ID(&partner=ID…)&until=T(&from=T)(&transfers=N):
//	                            the net position with a partner per ledger and the
//	                            transfers behind it (Sources.Settlement; see clearing.go).
//	                            Needs an admin bearer token (any account's data).
//	GET  /v1/audit/chain        ?from=T&until=T(&anchor_op=N)(&shard=S): the log's hash
//	                            chain verified over the retained log up to the window's
//	                            end; on a node of several shards, shard S's log (default
//	                            0; a shard the node lacks, or shard given twice: 400)
//	                            (Sources.VerifyChain).
//	GET  /v1/reconcile          the cross-shard report: per-ledger totals over every
//	                            shard, settlement pairs, sagas in flight with their age,
//	                            ok (every invariant holds) and settled (Sources.Reconcile).
//	                            Needs an admin bearer token (every client's totals).
//	POST /v1/admin/promote      {"ok":true,"action":"promote","epoch":N}
//	POST /v1/admin/snapshot     {"ok":true,"action":"snapshot"}
//	POST /v1/admin/reload-keys  {"ok":true,"action":"reload-keys"}
//	POST /v1/admin/log-level    ?level=debug|info|warn|error, or the body {"level":"…"}
//	                            (Content-Type: application/json); {"ok":true,…,"level":"…"}
//	GET  /v1/admin/risk/rules   the risk rules in force (admin token too; risk.go)
//	POST /v1/admin/risk/set     {"rules":[…]}: audited (ids), then written to the log;
//	                            each rule's outcome in "rules" (risk.go)
//	POST /v1/admin/risk/remove  {"ids":[…]}: likewise. The JSON bodies take each key
//	                            once, spelled as documented (lower case), else 400.
//	GET  /                      the live console (console/index.html; /console/*.js, .css)
//	GET  /v1/latency            200 LatencyHistory: request latency percentiles of each
//	                            2 s interval over the last 5 minutes; 501 without a source.
//	GET  /v1/depth?instrument=N[&levels=K]   200 Depth: an order book's best levels;
//	                            404 instrument_not_found, 503 unavailable, 504 timeout.
//
// Paths are routed as sent (netio/httppath), up to "?" ("#" included: a request target
// has no fragment), compared byte for byte with the routes: nothing decoded, nothing
// resolved. "/v1/%73tatus", "/v1/admin%2Fsnapshot", "//metrics", "/x/../v1/status",
// "/v1/./status" and "/v1/status#top" are 404 not_found, where fasthttp's normalized
// path would have served them, so a proxy that filters by path, decoding or not, sees the
// path this server routes or one it does not serve. Every refused request (address,
// Host, rate, no or wrong token; a token refusal names its action in "action" too) is
// logged with the path as sent (its first pathLogBytesMax bytes). The routes that read
// query arguments (settlement, chain, depth, the admin and risk actions) refuse one given
// twice (but partner), a name with a percent-escape (which fasthttp decodes) and a "#" in
// the query, which fasthttp cuts off: 400 bad_request, so that none serves another query
// than a proxy or log reads.
//
// # Live console
//
// GET / serves a read-only page (HTML, CSS and JavaScript embedded with go:embed; no
// build step, nothing loaded from elsewhere, a Content-Security-Policy that allows only
// this server) that polls /v1/status, /v1/latency and /v1/depth and shows role, epoch,
// shard positions, replication, connections, a latency chart and an order book. Like the
// other read endpoints it needs no token; the allow-list applies to it as to everything
// (the page shows order book depth: allow only operators' networks). /v1/latency comes
// from a sampler goroutine (Start to Shutdown) that copies the shard's cumulative
// histograms every latencySampleInterval and keeps the differences; /v1/depth is one
// read through the shard's ring (ConsoleSources.Depth), cached for depthCacheTime per
// instrument (up to depthCacheEntriesMax instruments and levels at once).
//
// # What /readyz says, state by state
//
// Ready means: send client traffic here; a write sent now is taken and answered as
// configured, without waiting for an operator. /healthz says whether an operator should
// look (the Problem codes), which is a different question: a degraded primary is ready
// and unhealthy.
//
//	state                                               /readyz  reasons
//	primary, log open, room for the next segment:
//	  single node, or async                             200
//	  sync, standby acknowledging                       200
//	  sync, standby gone or hung, not degraded          503      standby_not_acknowledging
//	  sync, degraded (--replication-degrade-after)      200      (healthz: replication_degraded)
//	  sync, back to waiting for the standby, which      503      standby_not_acknowledging
//	    hangs before acknowledging the loss window               (healthz: replication_degraded)
//	primary whose next log segment cannot be created    503      log_full (writes refused
//	  (file system full)                                         once the active one is full)
//	primary whose log failed (I/O error)                503      log_failed
//	standby, or fenced old primary                      503      not_primary
//	starting (no shard yet)                             503      no_shards
//	standby waiting for its primary at start (shards    503      not_primary, no_shards
//	  not open; status: waiting_for_primary)                     (healthz: 200)
//
// "Standby acknowledging" (standby_attached) means frames from it arrive: heard within
// the last second and, while entries wait for it, its acknowledgement advancing; a hung
// standby keeps its connection open and is not counted.
//
// # Limits per address
//
// The port serves a few scrapers, probes and operators, so a flood from one address must
// not take the binary port's CPU: each peer address (an IPv6 one counted per /64, which
// a host may send from at will) gets RequestsPerSecondPerAddress
// requests a second (a token bucket holding two seconds' worth; beyond it 429
// rate_limited with Retry-After: 1, counted in sequent_http_refusals_total; a request
// bearing an admin token draws on a second budget of the address's, so that consoles
// polling from a bastion cannot starve an operator's actions there; the token is looked
// at only within that budget, and a wrong one draws on the shared budget too, a 429
// then counted as wrong_token: Server.admission) and
// ConnectionsPerAddressMax connections (beyond it 429 rate_limited, then closed); a peer
// outside the allow-list is handed, as it is accepted, to a server of its own
// (refusedConnectionsMax connections at once, no keep-alive: 403, then closed), so such
// peers never hold the connectionsMax the others share (accept.go); and
// /metrics is rendered at most once per MetricsCacheInterval (1 s), later scrapes within
// it getting the same body. Measured, 200 concurrent /metrics loops from another process
// against an in-process node (cmd/sequent BenchmarkBinaryLatencyUnderHTTPFlood, medians
// of three on a shared 2-core VM): without the limits a binary client's write p99 went
// from 9.6 ms (quiet) to 87 ms and the node's RSS grew 56 MB; with them, p99 11.3 ms and
// RSS +10 MB (README has the run).
//
// Every error is {"ok":false,"code":…,"error":…} with a Code* constant: 403
// address_not_allowed for a peer outside Config.AllowCIDRs (checked before anything
// else), 421 host_not_allowed for a Host header naming neither an IP literal, localhost
// nor a Config.Hosts name (next, on every path), 404, 405 (with Allow), 401 unauthorized without a bearer token, 403 forbidden
// with a token Config.Tokens does not accept or with two Authorization headers, 400 for arguments that are not exactly what
// the endpoint takes, 429 rate_limited, 501 for an action the wiring does not provide,
// 409 busy or refused, 503 audit_failed, 500 action_failed, 504 timeout.
//
// The clearing reads run one at a time (409 busy), each bounded by clearingTimeout
// (504): settlement and reconcile share one slot, the chain check has its own, so that
// a peer without a token looping on the chain check cannot hold the operators' reads
// off. Settlement and reconcile need an admin token (401/403 before their arguments are
// looked at): they show any account's transfers or every client's sums, which the
// binary protocol shows only to clients that may read them. The chain check and the
// other reads need none.
//
// Why the other reads stay without a token: /metrics, /healthz, /readyz and /v1/status
// carry counts and positions, no account or client data; /v1/depth is an order book's
// levels (price, quantity, order count), which every client with the read permission
// may query on the binary port (get_depth: market data is public), and the console
// polls it; the chain check gives op numbers and hashes. The allow-list bounds who
// reaches them all, and the Host check keeps a page of another site out: an operator's
// browser is a peer the allow-list admits, so a page whose DNS name is re-pointed at the
// node (DNS rebinding) could otherwise read them same-origin. Such a browser always sends
// the page's name in Host, so only IP literals, localhost and the names the operator
// lists (Config.Hosts, serve --http-host) are answered; a request without Host (HTTP/1.0)
// is, since no browser sends one. The Host of an absolute-form request line is checked too.
// Under TLS the served certificate's DNS names are accepted as if listed (its subject
// alternative names; the common name only if it has none; "*.example.com" matches one
// label, as a TLS client matches it): operators and scrapers reach the port by the name
// their client verifies, and a rebinding page cannot present that name's certificate.
// A reload swaps the names with the certificate. The refusal's log line names the
// refused Host (escaped, at most hostLogBytesMax bytes), so the operator sees what to add.
//
// A request goes: allow-list (403) → Host (421) → the address's rate (429; after the Host
// check so that a rebinding page cannot spend the operator's own budget) → the endpoint. An admin
// request then goes: token (401/403; logged, rate-limited, counted,
// never audited, since nothing changed) → arguments (400) → one action at a time (409
// busy) → Sources.Audit (503 and nothing done if it fails: fail closed) → the action.
// The handler waits at most actionTimeout for audit plus action; past that it answers
// 504 and the action finishes in the background, holding the one-action slot.
//
// # TLS
//
// With Config.TLSCertFile and TLSKeyFile the server speaks only HTTPS (TLS 1.2 or later).
// Every handshake takes the certificate current at that moment, so ReloadCertificate
// (serve calls it on SIGHUP) renews it without a restart; a failed reload keeps the old
// pair. The Host check follows: the new certificate's DNS names replace the old one's.
//
// # Metrics
//
// Metric values are read from one Snapshot per scrape by a collector that keeps nothing
// (prometheus.NewConstMetric and NewConstSummary), so the exposition shows exactly the
// counters the shards, logs, replication, network server and JSON API (when served)
// publish; latency summaries carry the p50/p90/p99/p99.9 of the caller's HdrHistograms
// (converted from µs to seconds) and a …_max_seconds gauge. With ConsoleSources.LatencyHistograms, request
// latency is also a histogram (sequent_request_duration_seconds, latency_metric.go) whose
// buckets give windowed percentiles, which quantiles since start cannot. The server's own counters (requests, refusals,
// admin outcomes) are ordinary counters, and the Go runtime and process collectors are
// registered too. Metric names are sequent_<subsystem>_<name>_<unit>[_total]; every one
// has HELP text; metrics_test.go lints the exposition with promlint.
//
// # Threading model
//
// fasthttp runs each connection's requests on a worker goroutine (at most
// connectionsMax at once). A handler reads Sources.Snapshot (the caller's cheap,
// goroutine-safe copy of published stats) and writes a response; it touches no core
// state. An admin action runs Sources.Audit and the action on a goroutine of its own
// (at most one at a time, tracked so Shutdown can wait for it), so a slow action cannot
// hold a handler beyond actionTimeout. The Server's own state is immutable after New
// except: the listener (mutex), the one-action flag (atomic), the refusal log limiter
// (its mutex), the Prometheus counters (atomic), the console's latency samples (their
// mutex; the sampler goroutine alone writes them) and its depth cache (its mutex), the
// per-address limiter and the metrics cache (each its own mutex; the cache's is held
// while rendering, so concurrent scrapes of a stale body wait for one render). No other
// lock is held while calling a Source (the metrics cache's is, while a render takes the
// snapshot and histograms its collectors then read: scrape in server.go).
//
// A panic on a handler's goroutine is recovered by netio/httpguard (500 internal, logged
// with its stack up to a bound per minute, counted in
// sequent_http_panics_total{server="ops"}), except one out of a source that reads the
// node (snapshot, depth, risk rules, the clearing reads), which ends the process; admin
// actions and the sampler run unguarded. The Prometheus collectors never read the node:
// the registry would recover a panic there and serve the rest, so /metrics takes the
// snapshot and the latency histograms Unguarded before the gather and the collectors
// read those.
//
// # Invariants
//
//   - Nothing from a fasthttp.RequestCtx outlives its handler: the token, level, path and
//     remote address are copied into strings before they are kept or passed on.
//   - The allow-list is checked before any endpoint, and it checks the TCP peer only.
//   - The Host check runs before any endpoint, token routes included (one rule for all).
//   - No admin action runs without its audit record written first; a refused request
//     (bad address, no or wrong token, bad arguments) runs nothing.
//   - Tokens are compared in constant time (TokenChecker compares SHA-256 digests with
//     crypto/subtle and visits every token).
//   - Every read and write has a deadline (readTimeout, writeTimeout, idleTimeout), the
//     request line and headers are bounded by headerBytesMax and bodies by
//     requestBodyBytesMax (fasthttp answers 413 beyond), connections by connectionsMax
//     (peers the allow-list admits) and refusedConnectionsMax (the others).
//   - An encoded AuditRecord is at most model.AuditBytesMax bytes, whatever its fields.
package ops
