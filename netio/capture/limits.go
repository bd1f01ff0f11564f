package capture

import (
	"fmt"
	"strings"
	"time"
)

// Defaults and bounds of change capture.
const (
	// StreamDefault is the stream base name; shard N publishes to SEQUENT_N.
	StreamDefault = "SEQUENT"
	// SubjectPrefixDefault starts every subject.
	SubjectPrefixDefault = "sequent"
	// DuplicatesDefault is JetStream's own default duplicate window (2 minutes): a
	// message id seen within it is stored once. The server keeps every id of the window
	// in memory (at 20,000 events/s, 2.4 M of them); capture's exactly-once rests on the
	// expected last sequence and message id instead (doc.go, "Exactly once"), so a
	// shorter window loses nothing but a second line of defence (serve
	// --cdc-duplicate-window).
	DuplicatesDefault = 2 * time.Minute
	// DuplicatesMin is the shortest duplicate window JetStream accepts.
	DuplicatesMin = 100 * time.Millisecond
	// QueueEventsMaxDefault bounds the events between the release and the publisher
	// (about 300 MiB of payload at worst). Past it capture rebuilds from the log.
	QueueEventsMaxDefault = 1 << 20
	// BatchMaxDefault bounds the messages published before waiting for their acks.
	BatchMaxDefault = 4096
	// LagWarningDefault: lagging longer than this is a /healthz problem.
	LagWarningDefault = 10 * time.Second

	reconnectDelayMin   = 100 * time.Millisecond
	reconnectDelayMax   = 5 * time.Second
	natsTimeout         = 5 * time.Second
	publishAckTimeout   = 10 * time.Second
	standbyPollInterval = time.Second
	livePollInterval    = 100 * time.Millisecond
	// idleStreamPollInterval: a publisher waiting with nothing in flight reads the
	// stream's last sequence at most this often (streamMoved), as a standby polls.
	idleStreamPollInterval = time.Second

	// A standby keeps when it released the entries the stream lacks (for its lag once
	// promoted) in at most unpublishedSpansMax spans of unpublishedSpanNs: the lag is
	// then at most that much early while the stream trails by less than about 10 s.
	unpublishedSpansMax = 1024
	unpublishedSpanNs   = int64(10 * time.Millisecond)

	// streamNameBytesMax is JetStream's bound on a stream name (a file name);
	// shardSuffixBytesMax is the longest "_<shard>" a base name gets (shard 65535).
	streamNameBytesMax  = 255
	shardSuffixBytesMax = len("_65535")

	// A subject reaches the NATS server in a publish's control line, which the server
	// bounds (max_control_line, controlLineBytesMax by default) and answers past it by
	// closing the connection: every publish of the capture would then fail and reconnect
	// for good. subjectSuffixBytesMax is the longest subject after the prefix
	// (".<shard>.ledger.<ledger>.<kind>.<account>.<account>", accounts of 39 digits, the
	// longest kind name of 16 bytes); publishLineOverheadBytesMax leaves room for the rest
	// of the line (HPUB, the reply inbox, the two lengths) with a wide margin.
	controlLineBytesMax         = 4096
	subjectSuffixBytesMax       = len(".65535.ledger.4294967295.transfer_created.") + 2*39 + 1
	publishLineOverheadBytesMax = 256
	subjectPrefixBytesMax       = controlLineBytesMax - subjectSuffixBytesMax - publishLineOverheadBytesMax
)

// ValidateNames checks a stream base name and a subject prefix before anything connects:
// JetStream refuses stream names with spaces, '.', '*', '>', path separators or
// control characters, and a prefix must be one or more non-empty subject tokens without
// wildcards or spaces (every subject is <prefix>.<shard>.…, and the stream captures
// <prefix>.<shard>.>). The base name leaves room for the shard suffix within JetStream's
// 255 bytes.
func ValidateNames(stream, subjectPrefix string) error {
	if stream == "" || strings.ContainsFunc(stream, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(".*>/\\", r)
	}) {
		return fmt.Errorf("stream name %q: want letters, digits, '-' or '_' (no spaces, '.', '*', '>', '/', '\\')", stream)
	}
	if len(stream) > streamNameBytesMax-shardSuffixBytesMax {
		// Every shard's stream is <stream>_<shard>, which JetStream would refuse at every
		// session, long after the flags were accepted.
		return fmt.Errorf("stream name of %d bytes: want at most %d (JetStream's %d less the "+
			"shard suffix _<shard>)", len(stream), streamNameBytesMax-shardSuffixBytesMax,
			streamNameBytesMax)
	}
	if len(subjectPrefix) > subjectPrefixBytesMax {
		// Checked here, not found at the first publish: the flags were accepted by then.
		return fmt.Errorf("subject prefix of %d bytes: want at most %d (the NATS server's "+
			"default control line of %d bytes holds the whole subject)", len(subjectPrefix),
			subjectPrefixBytesMax, controlLineBytesMax)
	}
	for _, token := range strings.Split(subjectPrefix, ".") {
		if token == "" || strings.ContainsFunc(token, func(r rune) bool {
			return r <= ' ' || r == 0x7f || r == '*' || r == '>'
		}) {
			return fmt.Errorf("subject prefix %q: want dot-separated non-empty tokens without spaces or wildcards", subjectPrefix)
		}
	}
	return nil
}

// recoveredWaitMessage is logged once a session waits for the shard to release the ops
// it recovered before it settles a stream that lost its last message.
const recoveredWaitMessage = "capture: the stream lost its last message; settling its " +
	"position once the shard has released the ops it recovered"
