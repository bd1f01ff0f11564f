package risk

// pairTable remembers when each (payer, payee) pair of accounts under a cooling-off rule
// was first paid. Records are kept in insertion order (so a snapshot lists them in an
// order that does not depend on the hash layout, and an undo pops the newest), and found
// through an open-addressing table of record indexes (linear probing, at most half full,
// doubled when it would be fuller: a pause proportional to its size, at most PairsMax
// entries).
type pairTable struct {
	records []pairRecord
	slots   []uint32 // Record index + 1; 0 = empty. Length: a power of two.
}

// pairRecord is one pair: the accounts' indexes packed into key (payer << 32 | payee) and
// the timestamp of the first transfer between them.
type pairRecord struct {
	key   uint64
	first uint64
}

func pairKey(debitIndex, creditIndex uint32) uint64 {
	return uint64(debitIndex)<<32 | uint64(creditIndex)
}

// home is the first slot of key's probe run: a multiplicative hash (Fibonacci hashing)
// of the key's bits. The layout never shows, so no seed is needed for determinism.
func (p *pairTable) home(key uint64) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> 32 & uint64(len(p.slots)-1)
}

// find returns the timestamp of the pair's first transfer.
func (p *pairTable) find(key uint64) (uint64, bool) {
	if len(p.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(p.slots) - 1)
	for slot := p.home(key); ; slot = (slot + 1) & mask {
		index := p.slots[slot]
		if index == 0 {
			return 0, false
		}
		if record := &p.records[index-1]; record.key == key {
			return record.first, true
		}
	}
}

// insert remembers a pair not yet present; it returns false (remembering nothing) when
// PairsMax pairs are remembered.
func (p *pairTable) insert(key uint64, first uint64) bool {
	if len(p.records) >= PairsMax {
		return false
	}
	if 2*(len(p.records)+1) > len(p.slots) {
		p.resize(max(64, 2*len(p.slots)))
	}
	p.records = append(p.records, pairRecord{key: key, first: first})
	p.place(uint32(len(p.records)))
	return true
}

// place puts record index (+1) at the first empty slot of its probe run.
func (p *pairTable) place(index uint32) {
	mask := uint64(len(p.slots) - 1)
	slot := p.home(p.records[index-1].key)
	for p.slots[slot] != 0 {
		slot = (slot + 1) & mask
	}
	p.slots[slot] = index
}

func (p *pairTable) resize(length int) {
	p.slots = make([]uint32, length)
	for index := range p.records {
		p.place(uint32(index + 1))
	}
}

// popNewest removes the most recently inserted pair (undo of insert), closing the gap in
// its probe run by moving later entries back (backward-shift deletion).
func (p *pairTable) popNewest() {
	index := uint32(len(p.records))
	mask := uint64(len(p.slots) - 1)
	slot := p.home(p.records[index-1].key)
	for p.slots[slot] != index {
		slot = (slot + 1) & mask
	}
	p.slots[slot] = 0
	p.records = p.records[:index-1]
	for next := (slot + 1) & mask; p.slots[next] != 0; next = (next + 1) & mask {
		moved := p.slots[next]
		p.slots[next] = 0
		p.place(moved)
	}
}

// prefetch loads the home slot of key (see Engine.Prefetch) and returns a value to sink.
func (p *pairTable) prefetch(key uint64) uint32 {
	if len(p.slots) == 0 {
		return 0
	}
	return p.slots[p.home(key)]
}
