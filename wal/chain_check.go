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
	WindowCovered  bool   `json:"window_covered"` // Nothing of the window was retired.
	FirstTimestamp uint64 `json:"first_timestamp_ns"`

	AnchorOp    uint64 `json:"anchor_op,omitempty"`    // Asked for: the chain at this op.
	AnchorChain string `json:"anchor_chain,omitempty"` // Hex; "" if no entry ends at AnchorOp.
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
		check.WindowCovered = true // An empty log: nothing was retired.
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

func (c *ChainCheck) until(timestamp uint64) bool {
	return c.Until != 0 && timestamp > c.Until
}
