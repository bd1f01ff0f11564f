package shard

import (
	"fmt"

	"sequent/core/invariants"
)

// answerCheck asserts the promise of the package doc: every accepted request (one queued
// with a connection) is answered exactly once. The ring counts what it accepts; the
// sequencer counts what it answers, and compares both when it stops. With the invariants
// (or race) build tag it also tracks each request from the moment the sequencer takes it,
// and stops at once on a second answer. Sequencer goroutine only.
type answerCheck struct {
	answered    uint64
	outstanding map[uint64]struct{} // Tickets taken and not answered (invariants only).
}

// taken notes requests the sequencer took from the ring.
func (c *answerCheck) taken(metas []requestMeta) {
	if !invariants.Enabled {
		return
	}
	if c.outstanding == nil {
		c.outstanding = map[uint64]struct{}{}
	}
	for i := range metas {
		if metas[i].connection != 0 {
			c.outstanding[metas[i].ticket] = struct{}{}
		}
	}
}

// answer notes the answer to the request with ticket (its connection is not 0).
func (c *answerCheck) answer(ticket uint64) {
	c.answered++
	if !invariants.Enabled {
		return
	}
	if _, ok := c.outstanding[ticket]; !ok {
		panic(fmt.Sprintf("shard: request %d answered twice, or never taken", ticket))
	}
	delete(c.outstanding, ticket)
}

// stopped checks, when the sequencer ends, that every accepted request was answered.
func (s *Shard) checkAllAnswered() {
	accepted, answered := s.ring.acceptedCount(), s.answers.answered
	if accepted == answered && len(s.answers.outstanding) == 0 {
		return
	}
	message := fmt.Sprintf("shard: %d requests accepted, %d answered, %d taken and unanswered",
		accepted, answered, len(s.answers.outstanding))
	if invariants.Enabled {
		panic(message)
	}
	s.config.Logger.Error(message)
}
