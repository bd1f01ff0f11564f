package ops

import "time"

// Bounds of the operators' HTTP server. The server has few clients (a Prometheus scraper,
// a load balancer's probes, an operator's `sequent admin`), so every bound is small and
// fixed; the rationale is beside each.
const (
	// AddressDefault keeps the operators' port on loopback unless the operator asks
	// otherwise: the admin endpoints change the node's role.
	AddressDefault = "127.0.0.1:7401"

	// readTimeout bounds reading one request (headers and body) after its first byte,
	// and the wait for the first byte of a new connection: a request is at most
	// headerBytesMax + requestBodyBytesMax (72 KiB), which even a slow link sends in well
	// under a second, so 5 s only cuts off clients that stall on purpose (slowloris).
	readTimeout = 5 * time.Second
	// writeTimeout bounds writing one response once the handler has returned: the
	// largest is /metrics, ~100 KiB for a node with one shard and ~60 operations, which
	// takes milliseconds on loopback and under a second on any link a scraper uses.
	writeTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections idle this long. Prometheus scrapes every
	// 15–60 s and reuses its connection, so 90 s keeps one connection per scraper.
	idleTimeout = 90 * time.Second

	// headerBytesMax is fasthttp's read buffer, which bounds the request line plus
	// headers: a bearer token is at most tokenBytesMax and the rest is a few hundred
	// bytes, so 8 KiB is ample and keeps a connection's memory small.
	headerBytesMax = 8 << 10
	// requestBodyBytesMax bounds a request body: the largest accepted is a risk-set of
	// model.RiskRulesPerRequestMax rules (64 × at most ~450 bytes of JSON); 64 KiB leaves
	// room for indentation and is refused (413) by fasthttp before any handler beyond that.
	requestBodyBytesMax = 64 << 10
	// connectionsMax bounds concurrent connections (fasthttp's Concurrency): a few
	// scrapers, probes and operators need a handful; 64 keeps a misbehaving client from
	// exhausting file descriptors or goroutines while leaving room for all of them.
	connectionsMax = 64

	// tokenBytesMax bounds a bearer token before it reaches Config.Tokens: a token of 32
	// random bytes is 64 hex or 43 base64 characters; 256 allows any sane encoding.
	tokenBytesMax = 256

	// actionTimeout bounds how long an admin request waits for its audit record and its
	// action (promotion persists an epoch with an fsync; a snapshot request is queued):
	// both take milliseconds, so 10 s means something is stuck, and the operator gets a
	// 504 telling them to check /v1/status rather than a hung command. The action goes
	// on in the background, and no other admin action starts until it ends.
	actionTimeout = 10 * time.Second

	// allowCIDRsMax bounds the allow-list: each request checks every prefix, so a few
	// hundred cost well under a microsecond; operators list networks, not hosts.
	allowCIDRsMax = 256
	// hostsMax bounds Config.Hosts: each request compares its Host with every name; a
	// node is reached by a handful of names (its own, a service name, a load balancer's).
	hostsMax = 64
	// hostBytesMax is the longest DNS name (RFC 1035: 253 characters in text form).
	hostBytesMax = 253
	// certificateHostsMax bounds the DNS names taken from the served TLS certificate
	// (each request compares its Host with every one, as with hostsMax); a certificate
	// naming more is refused by New and ReloadCertificate. Public CAs issue at most 100.
	certificateHostsMax = 256
	// hostLogBytesMax bounds the refused Host a refusal's log line shows: a longest DNS
	// name and a port, so that a client cannot make the log line long.
	hostLogBytesMax = hostBytesMax + len(":65535")

	// RequestsPerSecondPerAddressDefault bounds the requests one peer address may make
	// (Config.RequestsPerSecondPerAddress): a scraper asks every 15-60 s, a load
	// balancer's probes a few times a second, an operator a handful; 20 a second leaves
	// them ample room while a flood from one address gets 429 at almost no cost (without
	// limits, 200 concurrent /metrics loops raised a binary client's write p99 from 9.6 to
	// 87 ms; with them, to 11.3 ms: doc.go, cmd/sequent
	// BenchmarkBinaryLatencyUnderHTTPFlood).
	RequestsPerSecondPerAddressDefault = 20
	// requestBurstSeconds: an address's bucket holds this many seconds of its rate, so a
	// dashboard opening several panels at once is not refused.
	requestBurstSeconds = 2
	// ConnectionsPerAddressMaxDefault bounds one peer address's open connections
	// (Config.ConnectionsPerAddressMax): scrapers and probes keep one or two alive.
	ConnectionsPerAddressMaxDefault = 8
	// refusalWriteTimeout bounds the write of the 429 that a connection past its
	// address's ConnectionsPerAddressMax gets: it is written on the accepting goroutine,
	// which a peer that does not read must not hold up (the answer fits any socket buffer,
	// so a healthy peer never waits).
	refusalWriteTimeout = 100 * time.Millisecond
	// limitedAddressesMax bounds the addresses the rate limiter tracks (~100 bytes each).
	limitedAddressesMax = 4096
	// MetricsCacheIntervalDefault: /metrics is rendered at most once a second
	// (Config.MetricsCacheInterval); scrapers ask far less often, and a gather costs
	// milliseconds of CPU and allocations that a flood would multiply.
	MetricsCacheIntervalDefault = time.Second
	// retryAfterSeconds is the Retry-After of a 429: the bucket refills in a second.
	retryAfterSeconds = "1"

	// refusalLogsPerSecondMax bounds log lines for refused requests (bad token, address
	// not allowed), so a scan cannot flood the log; every refusal is still counted in
	// sequent_http_refusals_total.
	refusalLogsPerSecondMax = 10
	// pathLogBytesMax bounds the path as sent in a refusal's log line (cut at a UTF-8
	// boundary): a request line may be as long as the headers' bound.
	pathLogBytesMax = 128
)

// Bounds of an audit record's fields, in bytes before JSON escaping. Escaping can grow a
// byte to at most six ("\u00XX"), so the worst case is 6 × (whoBytesMax + actionBytesMax
// + detailBytesMax + remoteAddressBytesMax) + auditOverheadBytesMax = 6 × 624 + 128 =
// 3872 bytes, within model.AuditBytesMax (4096); audit_test.go checks it.
const (
	whoBytesMax           = 128 // A name from the keys file.
	actionBytesMax        = 32  // One of the Action* names.
	detailBytesMax        = 400 // E.g. "level=debug".
	remoteAddressBytesMax = 64  // "[IPv6%zone]:port".
	auditOverheadBytesMax = 128 // Keys, punctuation and the 19-digit timestamp.
)
