package risk

// undoLog records the counters changed by the transfers of the open linked chain, so
// that a chain that fails leaves them as they were (the ledger drives it: BeginChain,
// CommitChain, RollbackChain). Outside a chain nothing is recorded.
type undoLog struct {
	active   bool
	velocity []velocityUndo
	anomaly  []anomalyUndo
	rules    []ruleUndo
}

// velocityUndo and anomalyUndo each save their own part of an account cell (one
// transfer may change both parts of one cell, saved apart and restored apart). A
// window's older amounts are saved too when it keeps any: a later transfer of the chain
// may move the window on and rewrite them.
type velocityUndo struct {
	cell       *accountCell
	generation uint32
	window     window
	older      *olderAmounts // Where the older amounts live (nil unless window.olderKept).
	amounts    olderAmounts
}

type anomalyUndo struct {
	cell       *accountCell
	generation uint32
	averages   averages
}

type ruleUndo struct {
	rule     *ruleState
	window   window
	older    olderAmounts
	daily    daily
	averages averages
}

// saveVelocity saves the window part of cell, account index's (older holds its older
// amounts). Small enough to inline: outside a chain the check is all it costs.
func (u *undoLog) saveVelocity(cell *accountCell, older *cells[olderAmounts], index uint32) {
	if u.active {
		u.recordVelocity(cell, older, index)
	}
}

func (u *undoLog) recordVelocity(cell *accountCell, older *cells[olderAmounts], index uint32) {
	saved := velocityUndo{cell: cell, generation: cell.velocityGeneration, window: cell.window}
	if cell.window.olderKept {
		saved.older = older.at(index)
		saved.amounts = *saved.older
	}
	u.velocity = append(u.velocity, saved)
}

func (u *undoLog) saveAnomaly(cell *accountCell) {
	if u.active {
		u.anomaly = append(u.anomaly, anomalyUndo{cell: cell,
			generation: cell.anomalyGeneration, averages: cell.averages})
	}
}

func (u *undoLog) saveRule(rule *ruleState) {
	if u.active {
		u.rules = append(u.rules, ruleUndo{rule: rule, window: rule.window, older: rule.older,
			daily: rule.daily, averages: rule.averages})
	}
}

// BeginChain starts recording (a linked chain opens).
func (e *Engine) BeginChain() {
	if e.undo.active {
		panic("risk: chain begun twice")
	}
	e.undo.active = true
}

// CommitChain keeps the chain's changes.
func (e *Engine) CommitChain() { e.undo.reset() }

// RollbackChain reverts the chain's changes, newest first.
func (e *Engine) RollbackChain() {
	u := &e.undo
	for i := len(u.velocity) - 1; i >= 0; i-- {
		saved := &u.velocity[i]
		saved.cell.velocityGeneration, saved.cell.window = saved.generation, saved.window
		if saved.older != nil {
			*saved.older = saved.amounts
		}
	}
	for i := len(u.anomaly) - 1; i >= 0; i-- {
		saved := &u.anomaly[i]
		saved.cell.anomalyGeneration, saved.cell.averages = saved.generation, saved.averages
	}
	for i := len(u.rules) - 1; i >= 0; i-- {
		r := &u.rules[i]
		r.rule.window, r.rule.older, r.rule.daily, r.rule.averages = r.window, r.older, r.daily,
			r.averages
	}
	u.reset()
}

func (u *undoLog) reset() {
	u.active = false
	u.velocity, u.anomaly, u.rules = u.velocity[:0], u.anomaly[:0], u.rules[:0]
}
