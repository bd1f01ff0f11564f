package ops

import (
	"sequent/core/model"

	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Config configures the operators' HTTP server. The zero value (plus Sources) serves
// plain HTTP on AddressDefault to anyone who can reach loopback, with every admin
// request refused.
type Config struct {
	// Address is where to listen ("host:port"; port 0 picks a free one, see
	// Server.Address). Default AddressDefault.
	Address string
	// TLSCertFile and TLSKeyFile, both set, make the server speak HTTPS only (TLS 1.2
	// or newer) with this PEM certificate chain and key; both empty: plain HTTP. They
	// are read by New and again by ReloadCertificate. The certificate's DNS names are
	// accepted in Host as if listed in Hosts.
	TLSCertFile, TLSKeyFile string
	// AllowCIDRs lists the networks ("10.0.0.0/8", "::1/128"; a bare address means that
	// one host) that may use the server; any other peer gets 403 before any handler
	// runs. Empty: every peer may. The peer is the TCP peer: forwarding headers
	// (X-Forwarded-For) are never trusted.
	AllowCIDRs []string
	// Hosts lists the host names (case-insensitive, without a port) a request's Host
	// header may name, besides an IP literal ("10.0.0.1:7401", "[::1]:7401") and
	// "localhost", which are always accepted; a request naming any other host is
	// answered 421 before any handler runs, on every path. Why: the allow-list checks
	// the TCP peer, and an operator's browser is a permitted peer, so a page whose DNS
	// name an attacker re-points at the node (DNS rebinding) would otherwise read the
	// token-free endpoints same-origin; such a browser always sends the attacker's name.
	// A request without a Host header (HTTP/1.0) is accepted. Under TLS the served
	// certificate's DNS names are accepted too (certificateHostNames), and follow
	// ReloadCertificate. Empty: only IP literals, localhost (and the certificate's
	// names). Parsed by ParseHosts.
	Hosts []string
	// Tokens checks an admin bearer token and names who holds it. It must compare in
	// constant time (TokenChecker does) and be safe from any goroutine. Nil: every
	// admin request is refused.
	Tokens func(token string) (who string, ok bool)
	// Logger receives request refusals (rate-limited), admin actions and server errors.
	// Nil: slog.Default().
	Logger *slog.Logger
	// Listener, when set, is an already bound listener to serve on instead of listening
	// on Address, so that a process can bind all its ports before it starts anything
	// (a port conflict then fails the start before a standby has attached, say). The
	// server closes it on Shutdown.
	Listener net.Listener
	// RequestsPerSecondPerAddress bounds the requests one peer address may make (a token
	// bucket holding two seconds' worth; those bearing an admin token have a bucket of
	// their own, a wrong token drawing on both); beyond it the server answers 429 with
	// Retry-After. 0: RequestsPerSecondPerAddressDefault; negative: no limit (for
	// comparison benchmarks).
	RequestsPerSecondPerAddress int
	// ConnectionsPerAddressMax bounds one peer address's (an IPv6 peer: its /64's) open
	// connections; beyond it a new connection gets 429 (nothing under TLS) and is closed.
	// 0: ConnectionsPerAddressMaxDefault; negative: no limit.
	ConnectionsPerAddressMax int
	// MetricsCacheInterval: /metrics is rendered at most once per interval and the same
	// body served meanwhile. 0: MetricsCacheIntervalDefault; negative: rendered for every
	// scrape.
	MetricsCacheInterval time.Duration
}

// withLimitDefaults fills in the per-address and metrics defaults: 0 takes the default,
// a negative value turns the limit off (0 in the result).
func (c Config) withLimitDefaults() Config {
	c.RequestsPerSecondPerAddress = limitOrDefault(c.RequestsPerSecondPerAddress,
		RequestsPerSecondPerAddressDefault)
	c.ConnectionsPerAddressMax = limitOrDefault(c.ConnectionsPerAddressMax,
		ConnectionsPerAddressMaxDefault)
	c.MetricsCacheInterval = limitOrDefault(c.MetricsCacheInterval, MetricsCacheIntervalDefault)
	return c
}

func limitOrDefault[T int | time.Duration](value, fallback T) T {
	switch {
	case value == 0:
		return fallback
	case value < 0:
		return 0
	}
	return value
}

// Sources are the callbacks the server calls. Each must be cheap and safe from any
// goroutine: they read values that the shards, logs and replication publish, or hand a
// request to the goroutine that owns the state. No handler touches core state itself.
type Sources struct {
	// Snapshot returns everything /metrics, /healthz, /readyz and /v1/status show.
	// Required. Called once per request (and once per scrape).
	Snapshot func() Snapshot
	// Audit records an admin action (AuditRecord.Encode gives its bytes) before it
	// runs, e.g. as an audit entry in the write-ahead log. Required. When it fails, the
	// action does not run and the caller gets 503 saying why (fail closed).
	Audit func(record AuditRecord) error
	// Promote makes this standby the primary and returns the new epoch. An error
	// wrapping ErrRefused (already primary, say) answers 409; another answers 500.
	Promote func() (epoch uint64, err error)
	// SnapshotNow asks for a state snapshot now.
	SnapshotNow func() error
	// ReloadKeys rereads the keys file.
	ReloadKeys func() error
	// SetLogLevel sets the process's log level to "debug", "info", "warn" or "error"
	// (already checked to be one of them).
	SetLogLevel func(level string) error
	// Console feeds the live console's latency chart and order book (console.go).
	Console ConsoleSources
	// Settlement answers GET /v1/settlement with a JSON-marshalable report (tools/
	// clearing's NettingReport). Errors wrapping ErrBadQuery answer 400. Nil: 501.
	Settlement func(ctx context.Context, query SettlementQuery) (any, error)
	// VerifyChain answers GET /v1/audit/chain (a wal.ChainCheck). Nil: 501.
	VerifyChain func(ctx context.Context, query ChainQuery) (any, error)
	// RiskSet writes rules into the log (an internal set_risk_rules request; on a node of
	// several shards, into each shard's log) and returns each rule's outcome once durable;
	// RiskRemove likewise removes rules by id; RiskRules lists the rules in force. Nil:
	// 501. (risk.go)
	RiskSet    func(rules []model.RiskRule) ([]RiskOutcome, error)
	RiskRemove func(ids []uint32) ([]RiskOutcome, error)
	RiskRules  func() ([]model.RiskRule, error)
	// Reconcile answers GET /v1/reconcile: the cross-shard report (core/node/reconcile.
	// Report: per-ledger totals over every shard, settlement pairs, sagas in flight with
	// their age; ok false names the broken invariant). Nil: 501.
	Reconcile func(ctx context.Context) (any, error)
}

// Errors returned by New and by Sources callbacks.
var (
	// ErrConfig is wrapped by every error New returns for a bad Config or Sources.
	ErrConfig = errors.New("ops: bad configuration")
	// ErrRefused is for Sources callbacks to wrap when the action is refused for a reason
	// the operator must address (promoting a node that is already primary): the caller
	// gets 409 and the message rather than 500.
	ErrRefused = errors.New("ops: action refused")
)

// Log levels accepted by /v1/admin/log-level, as Sources.SetLogLevel receives them.
var logLevels = [...]string{"debug", "info", "warn", "error"}

// validate checks a config and its sources and returns the parsed allow-list.
func validate(config *Config, sources *Sources) ([]netip.Prefix, error) {
	if sources.Snapshot == nil {
		return nil, fmt.Errorf("%w: Sources.Snapshot is required", ErrConfig)
	}
	if sources.Audit == nil {
		return nil, fmt.Errorf("%w: Sources.Audit is required (admin actions are audited)",
			ErrConfig)
	}
	if (config.TLSCertFile == "") != (config.TLSKeyFile == "") {
		return nil, fmt.Errorf("%w: TLS needs both a certificate and a key file", ErrConfig)
	}
	if len(config.AllowCIDRs) > allowCIDRsMax {
		return nil, fmt.Errorf("%w: %d allowed networks, at most %d", ErrConfig,
			len(config.AllowCIDRs), allowCIDRsMax)
	}
	if _, err := ParseHosts(config.Hosts); err != nil {
		return nil, err
	}
	return ParseAllowCIDRs(config.AllowCIDRs)
}

// ParseHosts checks a list of host names for Config.Hosts and returns them lowercased,
// without a trailing dot. A name is DNS labels of letters, digits, hyphens and
// underscores separated by dots, at most hostBytesMax bytes; a port, an address or a
// wildcard is refused, so that a typo cannot accept more than the operator meant.
func ParseHosts(entries []string) ([]string, error) {
	if len(entries) > hostsMax {
		return nil, fmt.Errorf("%w: %d host names, at most %d", ErrConfig, len(entries),
			hostsMax)
	}
	names := make([]string, 0, len(entries))
	for _, entry := range entries {
		name := strings.TrimSuffix(lowerASCII(strings.TrimSpace(entry)), ".")
		if !validHostName(name) {
			return nil, fmt.Errorf("%w: host name %q: want a DNS name without a port "+
				"(IP literals and localhost need no entry)", ErrConfig, entry)
		}
		names = append(names, name)
	}
	return names, nil
}

// validHostName reports whether a lowercased name is dot-separated labels of letters,
// digits, hyphens and underscores, none empty, at most hostBytesMax bytes in all.
func validHostName(name string) bool {
	if name == "" || len(name) > hostBytesMax {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return false
		}
		for _, c := range []byte(label) {
			if !hostLabelByte(c) {
				return false
			}
		}
	}
	return true
}

// hostLabelByte reports whether c may stand in a lowercased host name's label: a letter,
// a digit, a hyphen or an underscore.
func hostLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// hostAccepted reports whether a request's Host header (with or without a port) names an
// IP literal, localhost or one of names (lowercased, from ParseHosts, then the served
// certificate's, whose wildcards match one label: hostMatches); an empty header
// (HTTP/1.0) is accepted. A malformed header (an IPv6 literal without brackets, a port
// that is not a number) is not.
func hostAccepted(names []string, header []byte) bool {
	if len(header) == 0 {
		return true
	}
	host, port := header, []byte(nil)
	if header[0] == '[' {
		end := bytes.IndexByte(header, ']')
		if end < 0 {
			return false
		}
		host, port = header[1:end], header[end+1:]
		if len(port) > 0 && port[0] != ':' {
			return false
		}
		address, err := netip.ParseAddr(string(host))
		return err == nil && address.Is6() && validPort(port)
	}
	if colon := bytes.LastIndexByte(header, ':'); colon >= 0 {
		host, port = header[:colon], header[colon:]
	}
	if !validPort(port) {
		return false
	}
	if address, err := netip.ParseAddr(string(host)); err == nil {
		return address.Is4()
	}
	host = bytes.TrimSuffix(host, []byte("."))
	if equalFoldASCII(host, "localhost") {
		return true
	}
	for _, name := range names {
		if hostMatches(host, name) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether host equals name (lowercase ASCII, as ParseHosts returns
// it) but for the case of ASCII letters. Not bytes.EqualFold: it folds Unicode too, so a
// Host holding U+017F or U+212A (which fold to "s" and "k") matched a name it is not
// (TestReviewHO49NamesMatchOnlyInASCIICase).
func equalFoldASCII(host []byte, name string) bool {
	if len(host) != len(name) {
		return false
	}
	for i, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// validPort reports whether the part of a Host header after the host is empty, ":" or
// a colon and at most five digits.
func validPort(port []byte) bool {
	if len(port) == 0 {
		return true
	}
	if port[0] != ':' || len(port) > 6 {
		return false
	}
	for _, c := range port[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseAllowCIDRs parses an allow-list: each entry a CIDR prefix ("10.0.0.0/8") or a bare
// address (one host). IPv4-mapped IPv6 forms are unmapped, so "::ffff:10.0.0.0/104" and
// "10.0.0.0/8" mean the same. Host bits must be zero, so a typo cannot silently widen or
// narrow a network.
func ParseAllowCIDRs(entries []string) ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(entries))
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		prefix, err := parseAllowCIDR(entry)
		if err != nil {
			return nil, fmt.Errorf("%w: allowed network %q: %v", ErrConfig, entry, err)
		}
		prefixes = append(prefixes, prefix)
	}
	return prefixes, nil
}

func parseAllowCIDR(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		address, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, err
		}
		if address.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		address = address.Unmap()
		return netip.PrefixFrom(address, address.BitLen()), nil
	}
	prefix, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, err
	}
	if prefix.Masked() != prefix {
		return netip.Prefix{}, fmt.Errorf("host bits set (did you mean %s?)", prefix.Masked())
	}
	if address := prefix.Addr(); address.Is4In6() {
		if prefix.Bits() < 96 {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
		}
		prefix = netip.PrefixFrom(address.Unmap(), prefix.Bits()-96)
	}
	return prefix, nil
}

// allowed reports whether a peer address is in the allow-list (empty: everyone is).
func allowed(prefixes []netip.Prefix, address netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	address = address.Unmap().WithZone("")
	for _, prefix := range prefixes {
		if prefix.Contains(address) {
			return true
		}
	}
	return false
}

// TokenChecker returns a Config.Tokens for a fixed set of tokens (name → token). It
// compares SHA-256 digests of the candidate and of every token in constant time and
// visits every token whatever matches, so neither the time taken nor an early exit tells
// an attacker how much of a token was right or how long the tokens are. Empty tokens are
// never accepted, nor is a token that more than one name holds: it would name whichever
// the map's random order put last, so one token's actions were audited under either
// name (TestHunt52aSharedTokenNamesNoOne); an action nobody can be named for does not run.
func TokenChecker(tokens map[string]string) func(token string) (string, bool) {
	type entry struct {
		who    string
		digest [sha256.Size]byte
	}
	entries := make([]entry, 0, len(tokens))
	for who, token := range tokens {
		if token != "" {
			entries = append(entries, entry{who: who, digest: sha256.Sum256([]byte(token))})
		}
	}
	return func(token string) (string, bool) {
		candidate := sha256.Sum256([]byte(token))
		found, matches := -1, 0
		for i := range entries {
			if subtle.ConstantTimeCompare(candidate[:], entries[i].digest[:]) == 1 {
				found = i
				matches++
			}
		}
		if matches != 1 || token == "" {
			return "", false
		}
		return entries[found].who, true
	}
}
