package shard

import (
	"errors"
	"fmt"
	"sync/atomic"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// Role is what a shard does with writes.
type Role int32

const (
	// RolePrimary sequences client writes into the log.
	RolePrimary Role = iota
	// RoleStandby applies entries streamed from the primary (Replicate) and answers
	// reads; client writes get not_primary.
	RoleStandby
	// RoleFenced has seen a higher epoch: it refuses every request with not_primary, so a
	// deposed primary can neither acknowledge a write nor serve a stale read.
	RoleFenced
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleStandby:
		return "standby"
	case RoleFenced:
		return "fenced"
	}
	return fmt.Sprintf("role(%d)", int32(r))
}

// roleState is the part of the shard that other goroutines may change.
type roleState struct {
	// word holds the role and the epoch together (packRole), so that every change of
	// either is one compare-and-swap and every reader sees a pair that existed: a write
	// admitted because the shard is the primary is sequenced with the epoch that made it
	// so, never the one before its promotion (see Promote).
	word    atomic.Uint64
	primary atomic.Pointer[string] // Client address of the primary, for redirects.
}

// roleBits is the low bits of roleState.word that hold the role; the epoch is above them.
const roleBits = 2

// epochMax is the highest epoch a shard can hold (the rest of the word holding its role).
// Epochs grow by one per promotion: no deployment comes near it.
const epochMax = 1<<(64-roleBits) - 1

// EpochMax is epochMax for the node that persists the epoch (replication), which refuses
// a higher one before storing it: stored, it would make every restart fail.
const EpochMax = epochMax

func packRole(role Role, epoch uint64) uint64 { return epoch<<roleBits | uint64(role) }

func unpackRole(word uint64) (Role, uint64) {
	return Role(word & (1<<roleBits - 1)), word >> roleBits
}

// checkRole reports whether a shard can hold role and epoch.
func checkRole(role Role, epoch uint64) error {
	if role != RolePrimary && role != RoleStandby && role != RoleFenced {
		return fmt.Errorf("shard: unknown %s", role)
	}
	if epoch > epochMax {
		return fmt.Errorf("shard: epoch %d above epochMax %d", epoch, uint64(epochMax))
	}
	return nil
}

// roleAndEpoch returns the shard's role and epoch as one consistent pair.
func (s *Shard) roleAndEpoch() (Role, uint64) { return unpackRole(s.roles.word.Load()) }

// RoleAndEpoch returns the shard's role and epoch from one load: a pair that existed
// (Role then Epoch may straddle a promotion: a standby of the new epoch).
func (s *Shard) RoleAndEpoch() (Role, uint64) { return s.roleAndEpoch() }

// Role returns the shard's current role.
func (s *Shard) Role() Role {
	role, _ := s.roleAndEpoch()
	return role
}

// Epoch returns the epoch the shard writes (primary) or last saw (standby).
func (s *Shard) Epoch() uint64 {
	_, epoch := s.roleAndEpoch()
	return epoch
}

// PrimaryAddress returns the client address of the current primary as last learned
// ("" if unknown), for not_primary redirects.
func (s *Shard) PrimaryAddress() string {
	if address := s.roles.primary.Load(); address != nil {
		return *address
	}
	return ""
}

// SetPrimaryAddress records where the primary is, for redirects.
func (s *Shard) SetPrimaryAddress(address string) { s.roles.primary.Store(&address) }

// Promote turns a standby into the primary of a new, higher epoch. Entries it writes
// from now on carry that epoch. The caller persists the epoch first (see replication):
// a node must never write an entry of an epoch it could forget.
//
// The role and the epoch change in one step. Switched one after the other, a write
// admitted in between (admit reads the role) could be sequenced with the old epoch, at
// an op where the deposed primary may have logged another entry under that same epoch;
// and a concurrent Fence of the new epoch could fence the shard in between while Promote
// still reported success.
func (s *Shard) Promote(epoch uint64) error {
	if epoch > epochMax {
		return fmt.Errorf("shard: promotion to epoch %d above epochMax %d", epoch,
			uint64(epochMax))
	}
	for {
		word := s.roles.word.Load()
		role, current := unpackRole(word)
		if epoch <= current {
			return fmt.Errorf("shard: promotion to epoch %d, already at %d", epoch, current)
		}
		if role != RoleStandby {
			return fmt.Errorf("shard: promotion of a %s shard", role)
		}
		if s.roles.word.CompareAndSwap(word, packRole(RolePrimary, epoch)) {
			break
		}
		// A replicated entry raised the epoch or a fence came meanwhile: look again.
	}
	if hook := testHookPromoteSwitched.Load(); hook != nil {
		(*hook)()
	}
	s.SetPrimaryAddress("")
	s.wakeUp()
	return nil
}

// testHookPromoteSwitched, when set by a test, runs in Promote right after the shard
// has switched to primary. One atomic load per promotion.
var testHookPromoteSwitched atomic.Pointer[func()]

// Fence makes the shard refuse everything from now on, because a node of a higher epoch
// is primary (at primaryAddress). It never reverts: a fenced node rejoins by restarting
// as a standby. A primary ignores a fence that is not of a higher epoch than its own.
func (s *Shard) Fence(epoch uint64, primaryAddress string) {
	s.FenceBecause(epoch, primaryAddress, "")
}

// FenceBecause is Fence for a reason other than a higher epoch, which its log line gives
// instead: a node also fences itself (its witness lease ran out, a promotion may have
// left its epoch file ahead), and "fenced by a higher epoch" would send an operator
// looking for a newer primary that may not exist. An empty reason is Fence's.
func (s *Shard) FenceBecause(epoch uint64, primaryAddress, reason string) {
	if s.ignoresFence(s.roles.word.Load(), epoch) {
		return
	}
	// The address first: whoever sees the shard fenced answers not_primary with it, and
	// an empty redirect in between reached clients as an error (the Go client hands an
	// empty not_primary to its caller instead of following it).
	s.SetPrimaryAddress(primaryAddress)
	for {
		word := s.roles.word.Load()
		if s.ignoresFence(word, epoch) {
			return // Promoted meanwhile to this epoch or a higher one.
		}
		_, current := unpackRole(word)
		if s.roles.word.CompareAndSwap(word, packRole(RoleFenced, current)) {
			break
		}
	}
	if reason == "" {
		s.config.Logger.Warn("shard: fenced by a higher epoch", "epoch", epoch,
			"our_epoch", s.Epoch(), "primary", primaryAddress)
	} else {
		s.config.Logger.Warn("shard: fenced: "+reason, "our_epoch", s.Epoch(),
			"primary", primaryAddress)
	}
	s.wakeUp() // The sequencer answers what it parked (answerFenced).
}

// ignoresFence reports whether a fence of epoch leaves a shard whose role word is word
// as it is: a primary of that epoch or a higher one.
func (s *Shard) ignoresFence(word uint64, epoch uint64) bool {
	role, current := unpackRole(word)
	return role == RolePrimary && epoch <= current
}

// admit decides a request's fate by role: nil means go on.
func (s *Shard) admit(write bool) model.Status {
	switch s.Role() {
	case RolePrimary:
		return model.StatusOK
	case RoleStandby:
		if write {
			return model.StatusNotPrimary
		}
		return model.StatusOK
	}
	return model.StatusNotPrimary
}

// storedEntry is an entry streamed from the primary, in the log's stored form.
type storedEntry struct {
	bytes []byte
	done  chan error // Receives the outcome of appending and applying it.
}

// storedAppender is what a standby needs from its log beyond Appender.
// ErrNotStandby is returned by Replicate on a shard that is not a standby.
var ErrNotStandby = errors.New("shard: not a standby")

// Replicate hands one entry streamed from the primary (its exact stored bytes, as the
// primary's log observer saw them) to the standby's sequencer, which appends it to the
// standby's log (checking checksums and the chain), applies it, and parks the replies to
// reads queued behind it. It blocks until the entry is applied (bounded: the sequencer
// takes one at a time), so the replication stream has backpressure. The caller keeps
// ownership of stored.
func (s *Shard) Replicate(stored []byte) error {
	if s.Role() != RoleStandby {
		return ErrNotStandby
	}
	entry := storedEntry{bytes: stored, done: make(chan error, 1)}
	select {
	case s.stored <- entry:
	case <-s.done:
		return errStopped
	}
	select {
	case err := <-entry.done:
		return err
	case <-s.done:
		return errStopped
	}
}

// applyStored appends and applies one replicated entry on the sequencer goroutine.
func (s *Shard) applyStored(entry storedEntry) error {
	if s.Role() != RoleStandby {
		// Promoted or fenced since Replicate checked the role: the entry is no longer
		// this shard's to append (a promoted one writes its own from here on).
		return ErrNotStandby
	}
	// Decoded before it is appended, so that an entry no shard can take (an epoch above
	// epochMax, from a peer that has the key but misbehaves) never reaches the log: the
	// standby fails with its log as it was. The body may alias entry.bytes (stored raw)
	// or storedBuffer; either way it is only read during this call. storedBuffer is never
	// replaced by the caller's memory.
	decoded, meta, err := wal.DecodeStored(entry.bytes, s.storedBuffer)
	if err != nil {
		return fmt.Errorf("shard: replicated entry: %w", err)
	}
	if err := checkRole(RoleStandby, meta.Epoch); err != nil {
		return fmt.Errorf("shard: replicated entry at op %d: %w", decoded.FirstOp, err)
	}
	if err := s.log.AppendStored(entry.bytes); err != nil {
		return fmt.Errorf("shard: replicated entry: %w", err)
	}
	if err := s.raiseEpoch(meta.Epoch); err != nil {
		return fmt.Errorf("shard: replicated entry at op %d: %w", decoded.FirstOp, err)
	}
	slot := s.acquire()
	coreEntry := core.Entry{FirstOp: decoded.FirstOp, Timestamp: decoded.Timestamp, Body: decoded.Body}
	if err := s.machine.Apply(&coreEntry, &slot.output); err != nil {
		s.recycle(slot)
		return fmt.Errorf("shard: apply replicated entry at op %d: %w", decoded.FirstOp, err)
	}
	slot.firstOp, slot.stamp, slot.epoch = decoded.FirstOp, decoded.Timestamp, meta.Epoch
	s.opLast = decoded.LastOp()
	if s.machine.OpLast() != s.opLast {
		panic(fmt.Sprintf("shard: replicated entry ends at op %d, the machine at op %d",
			s.opLast, s.machine.OpLast())) // Op continuity.
	}
	s.timestamp = max(s.timestamp, decoded.Timestamp)
	for range slot.output.Replies {
		slot.origins = append(slot.origins, origin{}) // Nobody here asked for these.
	}
	s.snapshotIfRequested(&coreEntry, slot.epoch, &slot.output)
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	s.count(func(stats *Stats) {
		stats.Entries++
		stats.Requests += uint64(decoded.Count)
		stats.EntryBytes += uint64(len(decoded.Body))
		stats.OpLast = s.opLast
	})
	return nil
}

// RaiseEpoch makes a standby's epoch at least epoch: that of the primary it has just
// connected to, which the caller (replication) has persisted first, as an entry of that
// epoch replicated to it would (raiseEpoch). A standby that connects to its primary after
// its start followed it at its own older epoch, which its failover watch then took for a
// node that never followed the lease's holder (review51a).
func (s *Shard) RaiseEpoch(epoch uint64) error { return s.raiseEpoch(epoch) }

// raiseEpoch makes a standby's epoch at least epoch (that of an entry it replicated),
// keeping its role: one compare-and-swap, so that it never undoes a concurrent Promote or
// Fence. A shard promoted while it appended the entry is not raised but fenced: the
// entry proves a primary of a higher epoch exists, and writing under that epoch would
// give two primaries' entries the same (op, epoch).
func (s *Shard) raiseEpoch(epoch uint64) error {
	if epoch > epochMax {
		return fmt.Errorf("epoch %d above epochMax %d", epoch, uint64(epochMax))
	}
	for {
		word := s.roles.word.Load()
		role, current := unpackRole(word)
		if epoch <= current {
			return nil
		}
		raised := role
		if role == RolePrimary {
			raised = RoleFenced
		}
		if s.roles.word.CompareAndSwap(word, packRole(raised, epoch)) {
			if raised != role {
				s.config.Logger.Warn("shard: fenced by a replicated entry of a higher epoch",
					"epoch", epoch, "our_epoch", current)
			}
			return nil
		}
	}
}

func (s *Shard) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
