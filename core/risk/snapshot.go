package risk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"sequent/core/model"
)

// Snapshot format of the risk section (little-endian; it follows the matching section
// of a machine snapshot, which frames, compresses and checksums the file):
//
//	header    magic "SQRISK\x00\x00" (8) | version u32 | rules u32 | generation u32 |
//	          velocity cells u32 | anomaly cells u32 | reserved u32           = 32 bytes
//	rules     rules × 280 bytes, by id: rule (128) | generation u32 |
//	          averages count u32 | window (88) | daily (24) | mean u128 | deviation u128
//	velocity  cells × 96 bytes, by account index: generation u32 | reserved u32 |
//	          window (88)
//	anomaly   cells × 40 bytes, by account index: generation u32 | count u32 |
//	          mean u128 | deviation u128
//
//	window    newest bucket u64 | 4 × amount u128 | 4 × count u32          = 88
//	daily     day u64 | amount u128                                        = 24
//
// A window's buckets are listed by slot, bucket number modulo 4 (the newest bucket's
// slot is its number modulo 4, the one before it the slot before, cyclically); in memory
// the engine keeps them by age (window), and one account's velocity and anomaly
// counters in one record (accountCell): the sections are written from that layout, byte
// for byte as the engine wrote them when it kept the buckets by slot and the two kinds
// in two arrays. Profiles are derived, rebuilt on load.
const (
	snapshotMagic      = "SQRISK\x00\x00"
	snapshotVersion    = 1
	snapshotHeaderSize = 32
	windowSize         = 8 + model.RiskWindowBuckets*(16+4)
	dailySize          = 24
	ruleStateSize      = model.RiskRuleSize + 8 + windowSize + dailySize + 32
	velocityCellSize   = 8 + windowSize
	anomalyCellSize    = 8 + 32 // generation, then the averages (count, mean, deviation).
)

// ErrSnapshotInvalid reports a risk section that cannot be loaded.
var ErrSnapshotInvalid = errors.New("risk: invalid snapshot")

// SnapshotView is the engine's state copied at one moment (on the owning goroutine), to
// be written from another.
type SnapshotView struct {
	rules         []ruleState
	generation    uint32
	cells         []accountCell
	older         []olderAmounts // Each cell's window's older amounts (as far as the engine has them).
	velocityCount uint32         // The first velocityCount cells make the velocity section.
	anomalyCount  uint32         // And the first anomalyCount the anomaly section.
}

// Snapshot copies the state; call it between batches (no open chain).
func (e *Engine) Snapshot() *SnapshotView {
	if e.undo.active {
		panic("risk: Snapshot inside a linked chain")
	}
	view := &SnapshotView{generation: e.generation, cells: copyCells(&e.cells),
		older:         copyCells(&e.older),
		velocityCount: e.velocityCount, anomalyCount: e.anomalyCount}
	for _, state := range e.rules {
		view.rules = append(view.rules, *state)
	}
	return view
}

func copyCells[T any](c *cells[T]) []T {
	copied := make([]T, c.count)
	for offset, chunk := 0, 0; offset < len(copied); chunk++ {
		offset += copy(copied[offset:], c.chunks[chunk])
	}
	return copied
}

// WriteTo writes the view. Safe from any goroutine.
func (v *SnapshotView) WriteTo(w io.Writer) (int64, error) {
	writer := bufio.NewWriterSize(w, 1<<16)
	var header [snapshotHeaderSize]byte
	copy(header[:8], snapshotMagic)
	binary.LittleEndian.PutUint32(header[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(header[12:], uint32(len(v.rules)))
	binary.LittleEndian.PutUint32(header[16:], v.generation)
	binary.LittleEndian.PutUint32(header[20:], v.velocityCount)
	binary.LittleEndian.PutUint32(header[24:], v.anomalyCount)
	written := int64(0)
	write := func(b []byte) {
		n, _ := writer.Write(b) // The first error sticks in the writer; Flush reports it.
		written += int64(n)
	}
	write(header[:])
	var record [ruleStateSize]byte
	for i := range v.rules {
		encodeRuleState(record[:], &v.rules[i])
		write(record[:ruleStateSize])
	}
	for i := range v.cells[:v.velocityCount] {
		binary.LittleEndian.PutUint32(record[0:], v.cells[i].velocityGeneration)
		binary.LittleEndian.PutUint32(record[4:], 0)
		older := &olderAmounts{} // Not read unless the window keeps older amounts, which are then there.
		if i < len(v.older) {
			older = &v.older[i]
		}
		encodeWindow(record[8:], &v.cells[i].window, older)
		write(record[:velocityCellSize])
	}
	for i := range v.cells[:v.anomalyCount] {
		binary.LittleEndian.PutUint32(record[0:], v.cells[i].anomalyGeneration)
		encodeAverages(record[4:], &v.cells[i].averages)
		write(record[:anomalyCellSize])
	}
	return written, writer.Flush()
}

func encodeRuleState(b []byte, state *ruleState) {
	state.rule.Encode(b[0:])
	b = b[model.RiskRuleSize:]
	binary.LittleEndian.PutUint32(b[0:], state.generation)
	binary.LittleEndian.PutUint32(b[4:], state.averages.count)
	encodeWindow(b[8:], &state.window, &state.older)
	encodeDaily(b[8+windowSize:], &state.daily)
	state.averages.mean.PutLE(b[8+windowSize+dailySize:])
	state.averages.deviation.PutLE(b[8+windowSize+dailySize+16:])
}

func decodeRuleState(b []byte, state *ruleState) bool {
	reservedZero := state.rule.Decode(b)
	b = b[model.RiskRuleSize:]
	state.generation = binary.LittleEndian.Uint32(b[0:])
	state.averages.count = binary.LittleEndian.Uint32(b[4:])
	state.older = decodeWindow(b[8:], &state.window)
	decodeDaily(b[8+windowSize:], &state.daily)
	state.averages.mean = model.Uint128LE(b[8+windowSize+dailySize:])
	state.averages.deviation = model.Uint128LE(b[8+windowSize+dailySize+16:])
	return reservedZero
}

// encodeWindow writes a window's newest bucket number and its buckets by slot; older
// holds its older amounts.
func encodeWindow(b []byte, w *window, older *olderAmounts) {
	binary.LittleEndian.PutUint64(b[0:], w.newest)
	for slot := range model.RiskWindowBuckets {
		amount, count := w.newestAmount, w.newestCount
		if age := w.slot(slot); age != 0 {
			amount, count = w.olderAmount(age-1, older), w.olderCounts[age-1]
		}
		amount.PutLE(b[8+16*slot:])
		binary.LittleEndian.PutUint32(b[8+16*model.RiskWindowBuckets+4*slot:], count)
	}
}

// decodeWindow reads a window and returns its older amounts (olderKept says whether any
// is not zero); its running totals and bucket end are derived (the end is found again
// by the first advance).
func decodeWindow(b []byte, w *window) olderAmounts {
	var older olderAmounts
	w.newest, w.end = binary.LittleEndian.Uint64(b[0:]), 0
	for slot := range model.RiskWindowBuckets {
		amount := model.Uint128LE(b[8+16*slot:])
		count := binary.LittleEndian.Uint32(b[8+16*model.RiskWindowBuckets+4*slot:])
		if age := w.slot(slot); age == 0 {
			w.newestAmount, w.newestCount = amount, count
		} else {
			older[age-1], w.olderCounts[age-1] = amount, count
		}
	}
	w.olderKept = older != olderAmounts{}
	w.total(&older)
	return older
}

func encodeDaily(b []byte, d *daily) {
	binary.LittleEndian.PutUint64(b[0:], d.day)
	d.amount.PutLE(b[8:])
}

func decodeDaily(b []byte, d *daily) {
	d.day = binary.LittleEndian.Uint64(b[0:])
	d.amount = model.Uint128LE(b[8:])
}

// encodeAverages writes count u32 | mean u128 | deviation u128 (36 bytes).
func encodeAverages(b []byte, a *averages) {
	binary.LittleEndian.PutUint32(b[0:], a.count)
	a.mean.PutLE(b[4:])
	a.deviation.PutLE(b[20:])
}

func decodeAverages(b []byte, a *averages) {
	a.count = binary.LittleEndian.Uint32(b[0:])
	a.mean = model.Uint128LE(b[4:])
	a.deviation = model.Uint128LE(b[20:])
}

// Restore reads a risk section written by SnapshotView.WriteTo into a new engine, for a
// ledger of accountCount accounts that resolve finds. The input is untrusted: every
// count, rule, generation and index is checked (ErrSnapshotInvalid), nothing panics.
func Restore(r io.Reader, resolve AccountResolver, accountCount uint32) (*Engine, error) {
	var header [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshotInvalid, err)
	}
	if string(header[:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrSnapshotInvalid)
	}
	if version := binary.LittleEndian.Uint32(header[8:]); version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrSnapshotInvalid, version,
			snapshotVersion)
	}
	ruleCount := binary.LittleEndian.Uint32(header[12:])
	generation := binary.LittleEndian.Uint32(header[16:])
	velocityCount := binary.LittleEndian.Uint32(header[20:])
	anomalyCount := binary.LittleEndian.Uint32(header[24:])
	if ruleCount > RulesMax || velocityCount > accountCount || anomalyCount > accountCount ||
		binary.LittleEndian.Uint32(header[28:]) != 0 {
		return nil, fmt.Errorf("%w: counts %d/%d/%d exceed limits", ErrSnapshotInvalid,
			ruleCount, velocityCount, anomalyCount)
	}
	e := New(resolve)
	e.generation = generation
	if err := e.restoreRules(r, ruleCount); err != nil {
		return nil, err
	}
	if err := e.restoreCells(r, velocityCount, anomalyCount); err != nil {
		return nil, err
	}
	e.rebuild()
	return e, nil
}

func (e *Engine) restoreRules(r io.Reader, count uint32) error {
	var record [ruleStateSize]byte
	for i := uint32(0); i < count; i++ {
		if _, err := io.ReadFull(r, record[:]); err != nil {
			return fmt.Errorf("%w: rule %d: %v", ErrSnapshotInvalid, i, err)
		}
		state := &ruleState{}
		reservedZero := decodeRuleState(record[:], state)
		problem := ""
		switch {
		case !reservedZero || state.rule.Validate() != model.StatusOK:
			problem = "is not valid"
		case state.generation == 0 || state.generation > e.generation:
			problem = "has a generation out of range"
		case len(e.rules) > 0 && e.rules[len(e.rules)-1].rule.ID >= state.rule.ID:
			problem = "is out of id order"
		}
		if problem == "" && state.rule.Scope == model.RiskScopeAccount {
			if _, _, ok := e.resolve(state.rule.Account); !ok {
				problem = "names a missing account"
			}
		}
		for _, other := range e.rules {
			if problem == "" && sameTarget(&other.rule, &state.rule) {
				problem = "conflicts with rule " + fmt.Sprint(other.rule.ID)
			}
		}
		if problem != "" {
			return fmt.Errorf("%w: rule %d %s", ErrSnapshotInvalid, i, problem)
		}
		e.rules = append(e.rules, state)
	}
	return nil
}

func (e *Engine) restoreCells(r io.Reader, velocityCount, anomalyCount uint32) error {
	var record [velocityCellSize]byte
	for i := uint32(0); i < velocityCount; i++ {
		if _, err := io.ReadFull(r, record[:]); err != nil {
			return fmt.Errorf("%w: velocity cell %d: %v", ErrSnapshotInvalid, i, err)
		}
		cell := e.cells.at(i)
		e.velocityCount = i + 1
		cell.velocityGeneration = binary.LittleEndian.Uint32(record[0:])
		if older := decodeWindow(record[8:], &cell.window); cell.window.olderKept {
			*e.older.at(i) = older
		}
		if cell.velocityGeneration > e.generation || binary.LittleEndian.Uint32(record[4:]) != 0 {
			return fmt.Errorf("%w: velocity cell %d", ErrSnapshotInvalid, i)
		}
	}
	for i := uint32(0); i < anomalyCount; i++ {
		if _, err := io.ReadFull(r, record[:anomalyCellSize]); err != nil {
			return fmt.Errorf("%w: anomaly cell %d: %v", ErrSnapshotInvalid, i, err)
		}
		cell := e.cells.at(i)
		e.anomalyCount = i + 1
		cell.anomalyGeneration = binary.LittleEndian.Uint32(record[0:])
		decodeAverages(record[4:], &cell.averages)
		if cell.anomalyGeneration > e.generation {
			return fmt.Errorf("%w: anomaly cell %d", ErrSnapshotInvalid, i)
		}
	}
	return nil
}
