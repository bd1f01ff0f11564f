package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sequent/core/node/router"
	"sequent/netio/ops"
	"sequent/replication"
	"sequent/wal"
)

// Bounds of serve's flags that no lower layer checks at start.
const (
	// leaseMin and leaseMax bound --lease: the primary renews every quarter lease and a
	// standby tells a silent primary after one, so below 100 ms a scheduling hiccup
	// fences a healthy primary; above a minute, failover takes minutes.
	leaseMin = 100 * time.Millisecond
	leaseMax = time.Minute
	// syncIntervalMax mirrors the log's own bound on --sync-interval, for a usage error
	// at start rather than an error from the log.
	syncIntervalMax = time.Second
	// sagaTimeoutDefault is --saga-timeout's default, the router's own.
	sagaTimeoutDefault = time.Duration(router.SagaTimeoutDefault)
	// sagaTimeoutMin and sagaTimeoutMax bound --saga-timeout: below a second a credit
	// shard that is merely busy for a moment (its Credits are resent every
	// router.SagaResendAfterDefault) refuses transfers it would have taken; above ten
	// minutes a payer's funds stay reserved that long for a credit shard that does not
	// answer.
	sagaTimeoutMin = time.Second
	sagaTimeoutMax = 10 * time.Minute
)

// validate refuses contradictory or meaningless settings before anything happens (no
// directory created, no key generated), naming every problem at once: a flag that only
// matters with another one missing (--witness without replication, --lease without
// --witness), values outside their range (--login-attempts-per-minute -1), and pairs
// that exclude each other. Each check here is one a lower layer would otherwise ignore
// silently (take a default for, or accept and never use).
func (o *serveOptions) validate() error {
	var problems []error
	problem := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	replicated := o.replicationListen != "" || o.standbyOf != ""
	if o.data == "" {
		problem("--data is empty")
	}
	if err := checkHostPort(o.address); err != nil {
		problem("--addr %q: %v", o.address, err)
	}
	if o.advertise != "" {
		if err := checkHostPort(o.advertise); err != nil {
			problem("--advertise %q: %v", o.advertise, err)
		}
	}
	o.validateLog(problem)
	o.validateReplication(problem, replicated)
	if o.sagaTimeout < sagaTimeoutMin || o.sagaTimeout > sagaTimeoutMax {
		problem("--saga-timeout %v: want %v to %v", o.sagaTimeout, sagaTimeoutMin, sagaTimeoutMax)
	}
	o.validateNetwork(problem)
	o.capture.validate(problem)
	return errors.Join(problems...)
}

// checkHostPort refuses an address the binary protocol's listener would refuse only
// after recovery, once the data directory exists and a development key has been
// generated: a missing port, or a port that is not a number from 0 to 65535.
func checkHostPort(address string) error {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// listenFlag is a flag naming an address serve listens on, its value, and the network
// its listener binds it as ("tcp", or one of protocolNetwork's).
type listenFlag struct{ name, address, network string }

// listenFlags returns every address serve listens on, each with the network its listener
// binds it as: the binary protocol's (gnet), replication's, the operators' port and the
// JSON API (both net.Listen("tcp")). startNode checks the first two alone when it runs
// without runServe.
func (o *serveOptions) listenFlags() []listenFlag {
	return []listenFlag{
		{"--addr", o.address, protocolNetwork(o.address)},
		{"--replication-listen", o.replicationListen, "tcp"},
		{"--http", o.http, "tcp"},
		{"--api", o.api.address, "tcp"},
	}
}

// protocolNetwork is the network the protocol server (gnet) binds address as: an IPv4
// address (0.0.0.0 included) as tcp4, any other IP address ([::] included) as tcp6,
// IPv6 only; a name or no host as tcp. net.Listen("tcp") binds either wildcard as one
// socket of both families, so checking --addr with it refused a port whose other family
// another process holds, which the server binds without trouble
// (TestServePortCheckBindsAsTheProtocolServer).
func protocolNetwork(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "tcp"
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "tcp"
	case ip.To4() != nil:
		return "tcp4"
	}
	return "tcp6"
}

// zoneByName returns the --addr address with a numeric IPv6 zone ("%4") replaced by that
// interface's name. Go's net (the port check's) reads a zone as a name or an index, but the
// protocol server (gnet) reads it only as a name and binds a numeric one with no scope,
// which the system refuses for a link-local address: the start failed with EINVAL after
// recovery, its data directory made (TestReviewpt49NumericZoneAddrStartsOrCreatesNothing).
// An address that does not parse is returned as is, for the listener to refuse.
func zoneByName(address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return address, nil
	}
	ip, zone, zoned := strings.Cut(host, "%")
	if !zoned {
		return address, nil
	}
	index, err := strconv.Atoi(zone)
	if err != nil {
		return address, nil // A name already.
	}
	networkInterface, err := net.InterfaceByIndex(index)
	if err != nil {
		return "", fmt.Errorf("--addr %s: zone %d names no network interface here: %w",
			address, index, err)
	}
	return net.JoinHostPort(ip+"%"+networkInterface.Name, port), nil
}

// checkListenAddressesFree refuses, before anything is created, a start whose listeners
// could not bind: an address another process listens on, or two flags naming one port
// (serve's four: listenFlags). The binary protocol's and replication's listeners are
// bound for good only after the node is recovered, so a port already taken used to fail
// the start after the data directory, its log and a printed development key were made;
// --http's and --api's are bound before the node starts, but only after this check.
//
// Each address is bound without listening (bindWithoutListening): a socket that is bound
// but not listening refuses connections, so a client or a TCP health check that connects
// during the check is refused, as before the check, rather than accepted and then reset
// (which took the node for started: TestServePortCheckRefusesConnections). The check
// sockets set SO_REUSEADDR as the real listeners do, so a port with connections of an
// earlier run in TIME_WAIT passes as the real bind does (TestServePortCheckAcceptsTimeWait);
// but with it two bound sockets that do not listen never conflict, so two flags naming
// one port are found by comparing the addresses (listenAddressesOverlap), not by holding
// both bound (TestServeWithOnePortTwiceCreatesNothing). A port another process takes
// between this check and the real bind still fails the start there, the data directory
// made and complete (a rerun uses it).
func checkListenAddressesFree(flags ...listenFlag) error {
	for first := range flags {
		for _, second := range flags[first+1:] {
			if listenAddressesOverlap(flags[first], second) {
				return fmt.Errorf("%s %s and %s %s: one port twice, the second listener "+
					"could not bind it (nothing was created)", flags[first].name,
					flags[first].address, second.name, second.address)
			}
		}
	}
	for _, flag := range flags {
		if flag.address == "" {
			continue
		}
		err := bindWithoutListening(flag.network, flag.address, func() {
			if portCheckBoundHook != nil {
				portCheckBoundHook(flag)
			}
		})
		if err != nil {
			return fmt.Errorf("%s %s: cannot listen (nothing was created): %w", flag.name,
				flag.address, err)
		}
	}
	return nil
}

// portCheckBoundHook, when not nil, is called by checkListenAddressesFree while a flag's
// address is bound by the check (tests only: they dial it there).
var portCheckBoundHook func(listenFlag)

// listenAddressesOverlap reports whether the listeners of two flags would take one port:
// the same port (not 0, which the system picks afresh for each) and addresses that
// overlap as the system's bind sees them. A wildcard overlaps every address of the
// families its socket takes: 0.0.0.0 bound as tcp4 only IPv4 ones, [::] bound as tcp6
// only IPv6 ones (IPV6_V6ONLY), either wildcard bound as "tcp" both (one IPv6 socket that
// also takes IPv4). Two addresses that are not wildcards overlap when they are equal.
// An address that does not resolve overlaps nothing here: its bind fails after.
// TestPortCheckOverlapMatchesTheSystem compares this with the system's binds.
func listenAddressesOverlap(a, b listenFlag) bool {
	if a.address == "" || b.address == "" {
		return false
	}
	first, err := net.ResolveTCPAddr(a.network, a.address)
	if err != nil {
		return false
	}
	second, err := net.ResolveTCPAddr(b.network, b.address)
	if err != nil || first.Port == 0 || first.Port != second.Port {
		return false
	}
	firstWildcard := first.IP == nil || first.IP.IsUnspecified()
	secondWildcard := second.IP == nil || second.IP.IsUnspecified()
	switch {
	case firstWildcard && secondWildcard:
		return wildcardFamilies(a.network)&wildcardFamilies(b.network) != 0
	case firstWildcard:
		return wildcardFamilies(a.network)&addressFamily(second.IP) != 0
	case secondWildcard:
		return wildcardFamilies(b.network)&addressFamily(first.IP) != 0
	}
	return first.IP.Equal(second.IP) && sameScope(first, second)
}

// sameScope reports whether two equal addresses bind in one scope. The system reads an
// IPv6 address's zone only on a link-local address, as the interface it names (by name or
// by index: "%eth0" and "%2" can be one); elsewhere it ignores it, so [::1%1] and [::1] take
// one port (TestReviewpt49OverlapReadsZonesAsTheSystem). A link-local address whose zone
// names no interface overlaps nothing here: its bind fails after.
func sameScope(first, second *net.TCPAddr) bool {
	if first.IP.To4() != nil || !first.IP.IsLinkLocalUnicast() {
		return true
	}
	firstIndex, secondIndex := zoneIndex(first.Zone), zoneIndex(second.Zone)
	return firstIndex != 0 && firstIndex == secondIndex
}

// zoneIndex returns the index of the interface an IPv6 zone names, by name or by number
// (0 when it names none).
func zoneIndex(zone string) int {
	if networkInterface, err := net.InterfaceByName(zone); err == nil {
		return networkInterface.Index
	}
	if index, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return int(index)
	}
	return 0
}

// Address families as bits, for listenAddressesOverlap.
const (
	familyIPv4 = 1 << iota
	familyIPv6
)

// wildcardFamilies returns the families a listener of network on a wildcard address
// takes: tcp4 IPv4, tcp6 IPv6, tcp both.
func wildcardFamilies(network string) int {
	switch network {
	case "tcp4":
		return familyIPv4
	case "tcp6":
		return familyIPv6
	}
	return familyIPv4 | familyIPv6
}

// addressFamily returns the family of an address that is not a wildcard (an IPv4-mapped
// IPv6 address is IPv4's: the system delivers it IPv4 connections).
func addressFamily(ip net.IP) int {
	if ip.To4() != nil {
		return familyIPv4
	}
	return familyIPv6
}

// fileInPath returns the deepest element of path that exists when it is not a directory
// ("" when it is one, when none exists, or path is empty). The log's retirement creates the
// archive directory when it first moves a segment, long after start: with a file there
// every snapshot failed (snapshot_failed, /healthz 503) and the log was never retired.
func fileInPath(path string) string {
	for path != "" {
		info, err := os.Stat(path)
		if err == nil {
			if !info.IsDir() {
				return path
			}
			return ""
		}
		// Missing, or below a file (not a directory): look at the parent.
		parent := filepath.Dir(path)
		if parent == path {
			return ""
		}
		path = parent
	}
	return ""
}

// validateLog checks the log and snapshot flags.
func (o *serveOptions) validateLog(problem func(string, ...any)) {
	if _, err := parseSyncPolicy(o.sync); err != nil {
		problem("%v", err)
	}
	switch {
	case o.syncInterval < 0 || o.syncInterval > syncIntervalMax:
		problem("--sync-interval %v: want a duration in (0, %v]", o.syncInterval, syncIntervalMax)
	case o.syncInterval != 0 && o.sync != "interval":
		problem("--sync-interval without --sync interval (it would be ignored)")
	}
	if o.snapshotsKept < 1 {
		problem("--snapshots-keep %d: keep at least 1", o.snapshotsKept)
	}
	if o.walArchive != "" && o.walKeepAll {
		problem("--wal-archive and --wal-keep-all exclude each other")
	}
	if file := fileInPath(o.walArchive); file != "" {
		problem("--wal-archive %q: %s is a file, not a directory", o.walArchive, file)
	}
	if o.walSegmentBytes < wal.SegmentBytesMin || o.walSegmentBytes > wal.SegmentBytesMax {
		problem("--wal-segment-bytes %d: want %d to %d", o.walSegmentBytes, wal.SegmentBytesMin,
			wal.SegmentBytesMax)
	}
	if o.dataFreeBytesWarn < 0 {
		problem("--data-free-bytes-warn %d: want 0 (never) or more", o.dataFreeBytesWarn)
	}
	if o.ringBytes < 1 || o.inFlightEntries < 1 {
		problem("--input-ring-bytes %d and --in-flight-entries %d: both must be positive",
			o.ringBytes, o.inFlightEntries)
	}
}

// validateReplication checks the replication, witness and failover flags.
func (o *serveOptions) validateReplication(problem func(string, ...any), replicated bool) {
	switch o.replicationMode {
	case "sync":
	case "async":
		if !replicated {
			problem("--replication-mode async without replication (--replication-listen or --standby-of)")
		}
	default:
		problem("--replication-mode %q: want sync or async", o.replicationMode)
	}
	switch {
	case o.degradeAfter < 0:
		problem("--replication-degrade-after %v: want 0 (never) or more", o.degradeAfter)
	case o.degradeAfter > 0 && !replicated:
		problem("--replication-degrade-after without replication (--replication-listen or --standby-of)")
	case o.degradeAfter > 0 && o.replicationMode == "async":
		problem("--replication-degrade-after with --replication-mode async (async never waits for the standby)")
	}
	if replicated && o.replicationKey == "" {
		problem("replication needs --replication-key (or SEQUENT_REPLICATION_KEY)")
	}
	if !replicated && o.replicationKey != "" {
		problem("--replication-key without replication (--replication-listen or --standby-of)")
	}
	if countNonEmpty(o.replicationTLS[:]) > 0 && !replicated {
		problem("--replication-tls-* without replication (--replication-listen or --standby-of)")
	}
	if o.peer != "" && !replicated {
		problem("--peer without replication (--replication-listen or --standby-of)")
	}
	if o.standbyOf != "" && o.standbyOf == o.replicationListen {
		problem("--standby-of %s is this node's own --replication-listen", o.standbyOf)
	}
	if o.witness != "" && !replicated {
		problem("--witness without replication: a node alone has nothing to fail over to " +
			"(it would only fence itself when the lease runs out)")
	}
	if o.witness != "" && replicated && o.replicationListen == "" {
		// Promoted, a node without a replication listener has no replication primary, so
		// nothing gates its releases on the witness lease: resumed after a hang past its
		// lease, it would acknowledge alone until its lease goroutine fenced it.
		problem("--witness needs --replication-listen on both nodes (a standby promoted by " +
			"the witness serves its standby there, and its releases follow the lease)")
	}
	if o.witness == "" && o.witnessUnsigned {
		problem("--witness-allow-unsigned without --witness")
	}
	if o.witness == "" && o.witnessID != "" {
		problem("--witness-id without --witness (it pins the witness's identity)")
	}
	if o.witness != "" && o.witnessID != "" {
		if err := replication.ValidateWitnessID(o.witnessID); err != nil {
			problem("--witness-id: %v", err)
		}
	}
	if o.witness == "" && o.nodeName != "" {
		problem("--node-name without --witness (it names the node at the witness)")
	}
	if o.witness != "" {
		o.validateNodeName(problem)
	}
	switch {
	case o.lease < leaseMin || o.lease > leaseMax:
		problem("--lease %v: want %v to %v", o.lease, leaseMin, leaseMax)
	case o.witness == "" && o.lease != replication.LeaseDurationDefault:
		problem("--lease without --witness (the lease is the witness's)")
	}
}

// validateNodeName refuses a name at the witness longer than a witness with a state file
// records: it would refuse every grant to this node, so automatic failover would never
// happen, and the node would find out only at failover time. The name defaults to
// --advertise, itself defaulting to --addr.
func (o *serveOptions) validateNodeName(problem func(string, ...any)) {
	name, flag := o.nodeName, "--node-name"
	switch {
	case name != "":
	case o.advertise != "":
		name, flag = o.advertise, "--advertise (the default --node-name)"
	default:
		name, flag = o.address, "--addr (the default --node-name)"
	}
	if len(name) > replication.NodeNameBytesMax {
		problem("%s is %d bytes: the witness records node names of at most %d bytes; set a "+
			"shorter --node-name", flag, len(name), replication.NodeNameBytesMax)
	}
}

// validateNetwork checks the binary port's and the HTTP server's flags.
func (o *serveOptions) validateNetwork(problem func(string, ...any)) {
	if o.eventLoops < 1 {
		problem("--event-loops %d: at least 1", o.eventLoops)
	}
	if o.loginAttempts < 1 {
		problem("--login-attempts-per-minute %d: at least 1", o.loginAttempts)
	}
	if o.http == "" && (o.httpTLSCert != "" || o.httpTLSKey != "" || len(o.httpAllow) > 0 ||
		len(o.httpHost) > 0) {
		problem("--http-tls-cert, --http-tls-key, --http-allow and --http-host need --http")
	}
	if _, err := ops.ParseHosts(o.httpHost); err != nil {
		problem("--http-host: %v", err)
	}
	if (o.httpTLSCert == "") != (o.httpTLSKey == "") {
		problem("--http-tls-cert and --http-tls-key go together")
	}
	o.api.validate(problem)
}
