package wal

import (
	"encoding/hex"
	"errors"
	"time"
)

// ChainCheck is the result of VerifyChain: the tamper-evidence check of the log's hash
// chain, for an auditor's report (`sequent reconcile`, through the operators' endpoint
// GET /v1/audit/chain).
//
// What it proves: every entry from RetainedFromOp to VerifiedToOp has the checksums and
// the chain hash its bytes imply, and each links to the one before; so ChainLast commits to
// the whole verified history. What it cannot prove alone: that the history was not
// rewritten wholesale, chain included, by someone with the disk. That needs a copy the
// tamperer did not control: the standby's log (the same chain hashes, entry for entry),
// or an anchor recorded earlier — a past report's (VerifiedToOp, ChainLast), checked with
// AnchorOp. Entries before RetainedFromOp were retired after a snapshot (whose header
// records the chain at its op); `sequent wal verify` checks an archive of them.
type ChainCheck struct {
	OK      bool   `json:"ok"`                // No problem found in what was verified.
	Problem string `json:"problem,omitempty"` // The first problem: segment, offset, op, why.
	// Truncated: the time limit ended the walk before the window's end (OK covers only
	// what was verified).
	Truncated bool `json:"truncated,omitempty"`

	RetainedFromOp uint64 `json:"retained_from_op"` // Oldest op the log still holds.
	DurableOp      uint64 `json:"durable_op"`       // The log's durable end when the check began.
	VerifiedFromOp uint64 `json:"verified_from_op"`
	VerifiedToOp   uint64 `json:"verified_to_op"` // Last op of the last entry verified.
	Entries        uint64 `json:"entries"`        // Entries verified.
	ChainBefore    string `json:"chain_before"`   // Hex: the chain the first verified entry extends.
	ChainLast      string `json:"chain_last"`     // Hex: the chain of the last verified entry.

	From           uint64 `json:"from_ns"`  // The window asked for (log timestamps).
	Until          uint64 `json:"until_ns"` // 0: up to the durable end.
	WindowEntries  uint64 `json:"window_entries"`
	WindowFirstOp  uint64 `json:"window_first_op,omitempty"`
	WindowLastOp   uint64 `json:"window_last_op,omitempty"`
	WindowCovered  bool   `json:"window_covered"` // Holds the window's start; see VerifyChain.
	FirstTimestamp uint64 `json:"first_timestamp_ns"`

	AnchorOp    uint64 `json:"anchor_op,omitempty"`    // Asked for: the chain at this op.
	AnchorChain string `json:"anchor_chain,omitempty"` // Hex; "" if the log has no chain at AnchorOp.

	// BaseOp and BaseChain (hex) are the chain the retained log starts after, when it
	// does not start at op 1: the link the first verified entry extends (ChainBefore, at
	// VerifiedFromOp-1), or, in a log without an entry, the base its segment header
	// records (a standby started over from a snapshot keeps only that until it applies
	// an entry). Nothing on this node proves the base: comparing it with another node's
	// chain at BaseOp does, which is why it is reported. AnchorOp equal to BaseOp is
	// answered with it.
	BaseOp    uint64 `json:"base_op,omitempty"`
	BaseChain string `json:"base_chain,omitempty"`
}

// chainCheckClockEvery is how many entries VerifyChain verifies between looks at the
// clock (and it looks before the first).
const chainCheckClockEvery = 256

// errChainCheckDone ends the walk early (past the window, or out of time).
var errChainCheckDone = errors.New("wal: chain check done")

// VerifyChain walks the retained log from its oldest entry to the end of the window
// (until, a log timestamp; 0 = the durable end), recomputing every entry's checksums and
// chain hash and checking each link, and reports what it covered; anchorOp (0 = none)
// asks for the chain hash of the entry ending at that op, to compare with an anchor
// recorded earlier. It stops at deadline (Truncated). It reads the files like Read does, so
// it may run on any goroutine while the log is appended to. A damaged or tampered entry
// is a finding (OK false, Problem); the error is for I/O and for a log retired under the
// walk.
func (l *Log) VerifyChain(from, until, anchorOp uint64, deadline time.Time) (ChainCheck, error) {
	check := ChainCheck{OK: true, RetainedFromOp: l.FirstOp(), DurableOp: l.Durable(),
		From: from, Until: until, AnchorOp: anchorOp}
	if check.RetainedFromOp == 0 || check.DurableOp < check.RetainedFromOp {
		// An empty log: it covers the window only if it starts at op 1 (nothing retired
		// or skipped). One that starts after a base (a standby started over from a
		// snapshot) holds none of the ops up to it, as when it holds entries after it
		// (whose first timestamp is after the window's start), so it does not claim them
		// (an entry appended since FirstOp was read counts as a start after a base too).
		check.noteBase(l)
		check.WindowCovered = check.BaseOp == 0 && l.FirstOp() <= 1
		return check, nil
	}
	r := logReaders.Get().(*logReader)
	defer logReaders.Put(r)
	err := l.readEntries(r, check.RetainedFromOp-1, true,
		func(_ segmentInfo, scanned *scannedEntry) error {
			return check.visit(&scanned.Header, deadline)
		})
	var position *PositionError
	switch {
	case errors.Is(err, errChainCheckDone), err == nil:
	case errors.As(err, &position):
		check.OK, check.Problem = false, position.Error()
	default:
		return check, err
	}
	check.WindowCovered = check.FirstTimestamp != 0 && check.FirstTimestamp <= from
	if check.RetainedFromOp == 1 {
		check.WindowCovered = true // The log holds everything since op 1.
	}
	return check, nil
}

// visit records one verified entry, and ends the walk past the window or the deadline.
func (c *ChainCheck) visit(h *entryHeader, deadline time.Time) error {
	if c.until(h.Timestamp) {
		return errChainCheckDone
	}
	if c.Entries%chainCheckClockEvery == 0 && time.Now().After(deadline) {
		c.Truncated = true
		return errChainCheckDone
	}
	if c.Entries == 0 {
		c.VerifiedFromOp, c.FirstTimestamp = h.FirstOp, h.Timestamp
		c.ChainBefore = hex.EncodeToString(h.PreviousChain[:])
		if h.FirstOp > 1 {
			c.setBase(h.FirstOp-1, c.ChainBefore)
		}
	}
	c.Entries++
	c.VerifiedToOp, c.ChainLast = h.LastOp(), hex.EncodeToString(h.Chain[:])
	if c.AnchorOp != 0 && h.LastOp() == c.AnchorOp {
		c.AnchorChain = c.ChainLast
	}
	if h.Timestamp >= c.From {
		if c.WindowEntries == 0 {
			c.WindowFirstOp = h.FirstOp
		}
		c.WindowEntries++
		c.WindowLastOp = h.LastOp()
	}
	return nil
}

// noteBase records the base of a log that holds no durable entry: its durable end, when
// the log has a chain there (ChainAt: the base StartAfter or a truncation recorded) and
// no entry other than ones after that end appeared meanwhile (an entry appended since the
// check began would otherwise be taken for the base).
func (c *ChainCheck) noteBase(l *Log) {
	if c.DurableOp == 0 {
		return // Nothing written and no base: the log starts at op 1.
	}
	chain, found := l.ChainAt(c.DurableOp)
	if first := l.FirstOp(); !found || (first != 0 && first != c.DurableOp+1) {
		return
	}
	c.setBase(c.DurableOp, hex.EncodeToString(chain[:]))
}

// setBase records the chain the retained log starts after, and answers the anchor with it
// when the anchor is at that op.
func (c *ChainCheck) setBase(op uint64, chain string) {
	c.BaseOp, c.BaseChain = op, chain
	if c.AnchorOp == op {
		c.AnchorChain = chain
	}
}

func (c *ChainCheck) until(timestamp uint64) bool {
	return c.Until != 0 && timestamp > c.Until
}
