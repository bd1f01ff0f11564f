package shard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync/atomic"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// grantsState carries the keys file's grant table and client limits to the log. The
// table is machine state (core decides ownership and the per-client account bound from
// it), so it must enter through the log: the primary writes
// a set_grants request whenever the table it was given differs from the one in force,
// which covers the first start, every keys reload and a promotion (the new primary's
// keys file is what it enforces from then on).
type grantsState struct {
	pending atomic.Pointer[grantsTable] // The table SetGrants last gave; nil: none yet.
	// Sequencer-owned: the table and epoch of the last check, so that an unchanged table
	// is compared with the machine's once, not every turn.
	checked      *grantsTable
	checkedEpoch uint64
}

// grantsTable is one encoded grant table (a set_grants request body).
type grantsTable struct{ body []byte }

// SetGrants gives the shard the grant table and client limits to enforce (encoded by
// model.AppendGrantsAndLimits, or model.AppendGrants without limits). The primary writes
// it (or a table given after it) into the log, unless it is already in force, before
// any request submitted after SetGrants returned (a ring barrier orders them); a standby
// keeps it for the day it is promoted. Safe from any goroutine; it returns an error,
// and changes nothing, for an invalid table.
func (s *Shard) SetGrants(body []byte) error {
	if _, _, err := model.DecodeGrants(body); err != nil {
		return err
	}
	s.grants.pending.Store(&grantsTable{body: bytes.Clone(body)})
	s.ring.barrier() // After the store: a turn that counts it sees the table (turn).
	s.wakeUp()
	return nil
}

// writeGrantsIfDue writes a set_grants entry when this primary holds a table that the
// machine does not have in force yet. Sequencer goroutine.
func (s *Shard) writeGrantsIfDue() error {
	table := s.grants.pending.Load()
	epoch := s.Epoch()
	if table == nil || s.Role() != RolePrimary ||
		(table == s.grants.checked && epoch == s.grants.checkedEpoch) ||
		len(s.parked) >= s.config.InFlightEntriesMax {
		return nil
	}
	s.grants.checked, s.grants.checkedEpoch = table, epoch
	if bytes.Equal(s.machine.AppendGrantsInForce(nil), table.body) {
		return nil // Already in force (a restart with the same keys file).
	}
	slot := s.acquire()
	s.entry = s.entry[:0]
	if limits := binary.LittleEndian.Uint32(table.body[4:]); limits > 0 &&
		!s.machine.AcceptsClientLimits() {
		// A machine below rules version 3 refuses client limits: the entry moves it to
		// the current version first, as the first writes of a turn would
		// (openWithRulesUpgrade), so that the table is applied whole at this op by every
		// replica. A table without limits is written alone, as before limits existed.
		s.appendRulesUpgrade(slot)
	}
	s.entry = core.AppendRequest(s.entry,
		&core.Request{Operation: model.OperationSetGrants, Body: table.body})
	slot.origins = append(slot.origins, origin{})
	if err := s.appendAndApply(len(slot.origins), slot); err != nil {
		s.recycle(slot)
		if errors.Is(err, wal.ErrLogFull) || errors.Is(err, errFenced) {
			s.grants.checked = nil // Not logged: try again at the next turn.
		}
		return err
	}
	s.config.Logger.Info("shard: grant table logged", "op", s.opLast,
		"grants", binary.LittleEndian.Uint32(table.body),
		"client_limits", binary.LittleEndian.Uint32(table.body[4:]))
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	return nil
}
