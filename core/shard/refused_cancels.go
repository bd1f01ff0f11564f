package shard

import (
	"encoding/binary"
	"errors"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// Cancels a full log refused (Shard.cancelsRefused, owned by the holder of Shard.turns).
//
// A cancel_session request (cancel-on-disconnect) that a full log refused (refuseWrites,
// refuseQueued) has no connection, so nobody would retry it: the shard keeps it. The
// sequencer logs the kept ones again, in the order they were queued, before any other
// write (writeRefusedCancels): every request queued after one of them came later in the
// ring, so the log's order is still the ring's. Nothing was logged since the first of
// them was refused, so a second cancel of the same client adds nothing and is kept once
// (waitingCancels: at most one per client, at most cancelsPendingMax).

// keepRefusedCancels keeps the cancel_session requests among metas, which were refused
// (the log was full), for writeRefusedCancels.
func (s *Shard) keepRefusedCancels(metas []requestMeta) {
	for i := range metas {
		client, cancel := s.cancelClient(&metas[i])
		if !cancel {
			continue
		}
		if !s.cancelsRefused.add(client) {
			s.config.Logger.Error("shard: cancel-on-disconnect refused by the full log "+
				"and not kept: too many kept already", "client", client,
				"kept", cancelsPendingMax)
		}
	}
}

// writeRefusedCancels logs and applies the kept cancels (Shard.cancelsRefused), as many
// per entry as fit, each encoded as the ring encoded it. It reports whether some still
// wait because the log is full (the caller then refuses every write of its turn without
// trying the log, which would put them ahead of these cancels if it had room now), or
// because the in-flight window filled (the caller takes nothing then). A standby drops
// them: it logs nothing of its own, and the new primary cancels nothing for connections
// it never had (PROTOCOL.md 5). A fenced shard does not get here: its turn drops them
// (refuseFenced); one fenced since that check logs none of them, and drops them at once
// when its append sees the fence, else at its next turn.
func (s *Shard) writeRefusedCancels() (waiting bool, err error) {
	if !s.cancelsRefused.any() {
		return false, nil
	}
	if s.Role() == RoleStandby {
		s.dropRefusedCancels("no longer primary")
		return false, nil
	}
	if s.Role() != RolePrimary {
		return false, nil
	}
	var body [8]byte
	cancelBytes := core.EncodedRequestSize(len(body))
	for s.cancelsRefused.any() {
		if len(s.parked) >= s.config.InFlightEntriesMax {
			return true, nil
		}
		slot := s.acquire()
		s.entry = s.entry[:0]
		writes := 0
		if s.machine.RulesVersion() < core.RulesVersionCurrent {
			s.appendRulesUpgrade(slot)
			writes++
		}
		count := min(s.cancelsRefused.count(), s.entryBytesBudget()/cancelBytes,
			s.config.RingRequests)
		for _, client := range s.cancelsRefused.waiting()[:count] {
			binary.LittleEndian.PutUint64(body[:], client)
			s.entry = core.AppendRequest(s.entry, &core.Request{
				Operation: model.OperationCancelSession, Body: body[:]})
			slot.origins = append(slot.origins, origin{})
			writes++
		}
		if err := s.appendAndApply(writes, slot); err != nil {
			s.recycle(slot)
			if errors.Is(err, wal.ErrLogFull) {
				return true, nil
			}
			if errors.Is(err, errFenced) { // Fenced since the check above.
				s.dropRefusedCancels("no longer primary")
				return false, nil
			}
			return true, err
		}
		s.cancelsRefused.done(count)
		slot.op = s.opLast
		s.parked = append(s.parked, slot)
	}
	return false, nil
}

// dropRefusedCancels forgets the kept cancels (Shard.cancelsRefused) and logs how many
// with reason, when there were some: their clients' orders stay open, and nothing else
// records it. The caller holds turns.
func (s *Shard) dropRefusedCancels(reason string) {
	if dropped := s.cancelsRefused.drop(); dropped > 0 {
		s.config.Logger.Error("shard: cancel-on-disconnect refused by the full log not "+
			"logged: "+reason, "clients", dropped)
	}
}

// cancelClient returns the client of a cancel_session request (cancel-on-disconnect, the
// shard's own, with no connection) taken from the ring; false for any other request.
func (s *Shard) cancelClient(meta *requestMeta) (client uint64, cancel bool) {
	if !meta.write || meta.connection != 0 {
		return 0, false
	}
	var request core.Request
	decodeRequest(s.ring.bytes(meta), &request)
	if request.Operation != model.OperationCancelSession || len(request.Body) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(request.Body), true
}

// logDroppedCancels logs the cancel_session requests among metas, which are answered
// without being logged (the log failed, or the shard closed), with reason: nobody is
// answered for them, and nothing else records that their clients' orders stay open.
func (s *Shard) logDroppedCancels(metas []requestMeta, reason string) {
	for i := range metas {
		if client, cancel := s.cancelClient(&metas[i]); cancel {
			s.config.Logger.Error("shard: cancel-on-disconnect not logged: "+reason,
				"client", client)
		}
	}
}
