package netio

import (
	"context"
	"errors"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
)

// recordingLoop is an event loop that keeps the tasks lent to it (Execute) instead of
// running them, or refuses them as a stopping engine does.
type recordingLoop struct {
	gnet.EventLoop
	tasks    []gnet.Runnable
	stopping bool
}

func (l *recordingLoop) Execute(_ context.Context, task gnet.Runnable) error {
	if l.stopping {
		return errors.New("engine stopping")
	}
	l.tasks = append(l.tasks, task)
	return nil
}

// loopConn is a connection on a recordingLoop (only EventLoop is called).
type loopConn struct {
	gnet.Conn
	loop *recordingLoop
}

func (c loopConn) EventLoop() gnet.EventLoop { return c.loop }

// countingTurner counts TurnInline calls.
type countingTurner struct{ turns int }

func (t *countingTurner) InlineTurns() bool                            { return true }
func (t *countingTurner) SubmitDeferred(*backend.Request) model.Status { return model.StatusOK }
func (t *countingTurner) TurnInline()                                  { t.turns++ }

// TestOneTurnTaskPerLoopRound: the connections of a loop that queue requests before its
// turn task runs share that task (one gnet task, one TurnInline, which takes what all of
// them queued) rather than lend one each; once it runs, the next request schedules
// another; and a stopping engine's refusal runs the turn at once.
func TestOneTurnTaskPerLoopRound(t *testing.T) {
	turner := &countingTurner{}
	s := &Server{inline: turner, loopTurns: map[gnet.EventLoop]*loopTurn{}}
	loop := &recordingLoop{}
	turn := s.loopTurnOf(loop)
	if again := s.loopTurnOf(loop); again != turn {
		t.Fatal("two turns for one loop")
	}
	if other := s.loopTurnOf(&recordingLoop{}); other == turn {
		t.Fatal("two loops share a turn")
	}
	first, second := loopConn{loop: loop}, loopConn{loop: loop}
	s.scheduleTurn(first, turn)
	s.scheduleTurn(second, turn)
	s.scheduleTurn(first, turn)
	if len(loop.tasks) != 1 {
		t.Fatalf("%d tasks lent for one round, want 1", len(loop.tasks))
	}
	if err := loop.tasks[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if turner.turns != 1 {
		t.Fatalf("%d turns after the task ran, want 1", turner.turns)
	}
	s.scheduleTurn(second, turn)
	if len(loop.tasks) != 2 {
		t.Fatalf("%d tasks lent after the first ran and a request came, want 2", len(loop.tasks))
	}
	if err := loop.tasks[1].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	loop.stopping = true
	s.scheduleTurn(first, turn)
	if turner.turns != 3 || turn.scheduled {
		t.Fatalf("engine stopping: %d turns (want 3), scheduled %v (want false)", turner.turns,
			turn.scheduled)
	}
}
