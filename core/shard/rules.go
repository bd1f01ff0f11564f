package shard

import (
	"sequent/core"
	"sequent/core/model"
)

// rulesUpgradeBytes is the size of the upgrade_rules request in an entry body.
var rulesUpgradeBytes = core.EncodedRequestSize(len(core.AppendUpgradeRules(nil, 0)))

// entryBytesBudget returns how many bytes of requests a turn may take: EntryBytesMax, less
// the upgrade_rules request while the turn may open with one (openWithRulesUpgrade).
// EntryBytesMax may equal the log's bound (wal.EntryBodyBytesMax), whose Append panics
// on a larger body: a first turn of writes that filled it would have crashed the primary.
// A single request is taken whatever the budget; it leaves room for the upgrade (the
// least EntryBytesMax is the largest request, far below the log's bound).
func (s *Shard) entryBytesBudget() int {
	if s.Role() == RolePrimary && s.machine.RulesVersion() < core.RulesVersionCurrent {
		return s.config.EntryBytesMax - rulesUpgradeBytes
	}
	return s.config.EntryBytesMax
}

// openWithRulesUpgrade starts the entry a turn is building with an upgrade_rules request
// when this primary's machine is below the rules version the build implements (core,
// "Rules version") and the turn has writes: the first writes after a fresh start (the
// log's op 1), after a start on a log written by an older build, and after the promotion
// of a standby that followed one. The version is machine state and moves only through
// the log, so the standby and every replay switch at this op, before the entry's writes;
// once applied the machine is at the current version and nothing more is written (a
// restart finds it there). It rides in the writes' entry, not one of its own, so that it
// costs no log write or sync; pulses, snapshot markers and grant tables, which the rules
// do not decide, may precede it. It reports whether it added the request. Sequencer
// goroutine.
func (s *Shard) openWithRulesUpgrade(slot *parked) bool {
	if s.Role() != RolePrimary || s.machine.RulesVersion() >= core.RulesVersionCurrent {
		return false
	}
	writes := false
	for i := range s.taken {
		writes = writes || s.taken[i].write
	}
	if !writes {
		return false
	}
	s.appendRulesUpgrade(slot)
	return true
}

// appendRulesUpgrade adds to the entry being built the upgrade_rules request that moves
// the machine to the current rules version, with its origin in slot (the shard's own).
func (s *Shard) appendRulesUpgrade(slot *parked) {
	s.entry = core.AppendRequest(s.entry, &core.Request{
		Operation: model.OperationUpgradeRules,
		Body:      core.AppendUpgradeRules(nil, core.RulesVersionCurrent)})
	slot.origins = append(slot.origins, origin{})
}
