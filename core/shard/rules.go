package shard

import (
	"sequent/core"
	"sequent/core/model"
)

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
	s.entry = core.AppendRequest(s.entry, &core.Request{
		Operation: model.OperationUpgradeRules,
		Body:      core.AppendUpgradeRules(nil, core.RulesVersionCurrent)})
	slot.origins = append(slot.origins, origin{})
	return true
}
