package tools

import (
	"io"

	"sequent/core"
	"sequent/wal"
)

// MachineReplayer replays a log into a core.Machine for wal.Verify: the state machine the
// server runs, so a verified log is one the server would recover to the same state.
type MachineReplayer struct {
	Config  core.Config
	machine *core.Machine
	output  core.Output
}

var _ wal.Replayer = (*MachineReplayer)(nil)

// Reset starts from the empty state.
func (r *MachineReplayer) Reset() { r.machine = core.New(r.Config) }

// Restore loads a snapshot's state.
func (r *MachineReplayer) Restore(reader io.Reader) error {
	machine, err := core.Restore(r.Config, reader)
	if err != nil {
		return err
	}
	r.machine = machine
	return nil
}

// Apply applies one entry.
func (r *MachineReplayer) Apply(e *wal.Entry) error {
	if r.machine == nil {
		r.Reset()
	}
	r.output.Reset()
	return r.machine.Apply(&core.Entry{FirstOp: e.FirstOp, Timestamp: e.Timestamp, Body: e.Body},
		&r.output)
}

// Digest returns the state digest (the same one snapshots record).
func (r *MachineReplayer) Digest() [32]byte {
	if r.machine == nil {
		r.Reset()
	}
	return r.machine.Digest()
}

// Machine returns the replayed machine.
func (r *MachineReplayer) Machine() *core.Machine { return r.machine }
