package ledger

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
	"unsafe"

	"sequent/core/model"
)

// idTableModel drives an idTable the way the ledger does (records in a dense array, undo
// pops the newest) and checks every answer against a map.
type idTableModel struct {
	t         *testing.T
	table     idTable
	ids       []model.Uint128          // Record index → id, like the ledger's record arrays.
	indexOf   map[model.Uint128]uint32 // The naive model.
	grewCount int
}

func newIDTableModel(t *testing.T, seed uint64, grouped bool) *idTableModel {
	return &idTableModel{t: t, table: newIDTable(0, seed, grouped),
		indexOf: map[model.Uint128]uint32{}}
}

func (m *idTableModel) lookup(id model.Uint128) (uint32, uint64, bool) {
	return m.table.lookup(m.table.hash(id), func(index uint32) bool {
		return m.ids[index] == id
	})
}

// insert adds id unless present, as createTransfer does; it reports whether it was added.
func (m *idTableModel) insert(id model.Uint128) bool {
	prepared, slotsBefore := m.table.next != nil, len(m.table.slots)
	m.table.prepareInsert()
	if len(m.table.slots) != slotsBefore {
		if !prepared {
			m.t.Fatalf("grew from %d slots without preparing the next table", slotsBefore)
		}
		m.grewCount++
	}
	index, position, found := m.lookup(id)
	m.checkEmptyHome(id, position, found)
	want, inModel := m.indexOf[id]
	if found != inModel || (found && index != want) {
		m.t.Fatalf("lookup(%s) before insert = (%d, %v), model (%d, %v)", id, index, found,
			want, inModel)
	}
	if found {
		return false
	}
	index = uint32(len(m.ids))
	m.ids = append(m.ids, id)
	m.table.insertAt(position, m.table.hash(id), index)
	m.indexOf[id] = index
	return true
}

// checkEmptyHome holds emptyHome, the transfer lookup's shortcut, to the lookup's
// answer for id (position and found): when it says the home slot is empty in a table
// that is not growing, the lookup must have found nothing, at that position
// (run by TestIDTableGrowthAndUndo at every insert and check, through migrations).
func (m *idTableModel) checkEmptyHome(id model.Uint128, position uint64, found bool) {
	home, absent := m.table.emptyHome(m.table.hash(id))
	if absent && (found || home != position) {
		m.t.Fatalf("emptyHome(%s) = (%d, absent), lookup (%d, found %v), old table %v", id,
			home, position, found, m.table.old != nil)
	}
}

// popNewest removes the newest record, as a linked chain's undo does.
func (m *idTableModel) popNewest() {
	index := uint32(len(m.ids) - 1)
	id := m.ids[index]
	m.table.remove(m.table.hash(id), index)
	m.ids = m.ids[:index]
	delete(m.indexOf, id)
}

// check looks up every stored id and a sample of absent ones.
func (m *idTableModel) check(random *rand.Rand) {
	if int(m.table.count) != len(m.indexOf) {
		m.t.Fatalf("count %d, model %d", m.table.count, len(m.indexOf))
	}
	for id, want := range m.indexOf {
		index, position, found := m.lookup(id)
		m.checkEmptyHome(id, position, found)
		if !found || index != want {
			m.t.Fatalf("lookup(%s) = (%d, %v), want (%d, true)", id, index, found, want)
		}
		candidate := m.table.candidate(m.table.hash(id))
		if m.table.old == nil && candidate == indexNone {
			m.t.Fatalf("candidate(%s) found nothing with no migration under way", id)
		}
	}
	for range 64 {
		id := model.Uint128{Lo: random.Uint64(), Hi: random.Uint64() | 1<<62}
		if _, _, found := m.lookup(id); found {
			m.t.Fatalf("lookup(%s) found an id never inserted", id)
		}
	}
}

// TestIDTableGrowthAndUndo grows tables from the minimum size through several doublings
// while chains of inserts are undone, including chains that straddle the start and end of
// a migration, and checks every key after every step of a migration; for both hashes
// (the grouped one of the transfer table, the spread one of the account table). The runs
// share nothing and are parallel subtests: checking every key at every step makes them
// the package's longest test (430 s at load average ~28, session 47), and run one after
// another they held one core of CI's two while the other could be idle.
func TestIDTableGrowthAndUndo(t *testing.T) {
	for _, run := range []struct {
		seed    uint64
		grouped bool
	}{{1, true}, {2, true}, {0xdeadbeef, true}, {1, false}, {0xdeadbeef, false}} {
		t.Run(fmt.Sprintf("seed=%#x/grouped=%v", run.seed, run.grouped), func(t *testing.T) {
			t.Parallel()
			idTableGrowthAndUndo(t, run.seed, run.grouped)
		})
	}
}

// idTableGrowthAndUndo is one run of TestIDTableGrowthAndUndo.
func idTableGrowthAndUndo(t *testing.T, seed uint64, grouped bool) {
	random := rand.New(rand.NewPCG(seed, 7))
	m := newIDTableModel(t, seed, grouped)
	nextSequential := uint64(1)
	sawMigration, undoneDuringMigration := false, 0
	for step := 0; len(m.ids) < 40_000; step++ {
		// A chain of up to 20 inserts: sequential ids (the recommended kind, which share
		// cache lines) mixed with random ones and retries of stored ids.
		chainStart := len(m.ids)
		for range random.IntN(20) + 1 {
			var id model.Uint128
			switch random.IntN(4) {
			case 0:
				id = model.Uint128{Lo: random.Uint64(), Hi: random.Uint64() >> 2}
			case 1:
				if len(m.ids) > 0 {
					id = m.ids[random.IntN(len(m.ids))]
					break
				}
				fallthrough
			default:
				id = model.U128(nextSequential)
				nextSequential++
			}
			m.insert(id)
		}
		if m.table.old != nil {
			sawMigration = true
		}
		if random.IntN(3) == 0 { // Roll the chain back.
			if m.table.old != nil {
				undoneDuringMigration++
			}
			for len(m.ids) > chainStart {
				m.popNewest()
			}
		}
		if m.table.old != nil || step%64 == 0 {
			m.check(random)
		}
	}
	m.check(random)
	if !sawMigration || undoneDuringMigration == 0 {
		t.Fatalf("seed %d, grouped %v: the run never undid a chain during a migration", seed,
			grouped)
	}
	if m.grewCount < 5 || len(m.table.slots) < 65536 {
		t.Fatalf("seed %d, grouped %v: table of %d slots for %d keys: it did not grow", seed,
			grouped, len(m.table.slots), len(m.ids))
	}
}

// TestIDTableCapacityPreallocates checks that a table sized for its capacity never grows.
func TestIDTableCapacityPreallocates(t *testing.T) {
	m := newIDTableModel(t, 3, false)
	m.table = newIDTable(100_000, 3, false)
	slots := len(m.table.slots)
	for i := range uint64(100_000) {
		m.insert(model.U128(i + 1))
	}
	if len(m.table.slots) != slots || m.table.old != nil {
		t.Fatalf("table grew from %d to %d slots below its capacity", slots, len(m.table.slots))
	}
	m.check(rand.New(rand.NewPCG(3, 3)))
}

// referenceHash is idTable.hash as first written (seed folded in per id), kept to pin
// the hash: a table's layout, and so its lookups' cost, must not change under a rewrite.
func referenceHash(t *idTable, id model.Uint128) uint64 {
	hi, lo := bits.Mul64((id.Lo&^t.groupMask)^t.seed^0xa0761d6478bd642f,
		id.Hi^0xe7037ed1a0b428db)
	h := hi ^ lo
	hi, lo = bits.Mul64(h^0x8ebc6af09c88c6e3, t.seed^0x589965cc75374cc3)
	h = hi ^ lo
	return h&^(t.groupMask<<32) | (id.Lo&t.groupMask)<<32
}

// TestPrefetchSlotsHashes: the pipeline's first stage hashes with the tables' keys held in
// locals and the account table's group mask taken as 0; its hashes and slot addresses must
// be the tables' own, which must be the reference hash.
func TestPrefetchSlotsHashes(t *testing.T) {
	random := rand.New(rand.NewPCG(35, 1))
	id := func() model.Uint128 {
		// Small ids (the recommended kind), and any 128-bit value.
		if random.IntN(2) == 0 {
			return model.U128(random.Uint64N(1 << 20))
		}
		return model.Uint128{Lo: random.Uint64(), Hi: random.Uint64()}
	}
	for _, seed := range []uint64{0, 1, random.Uint64()} {
		l := New(Config{HashSeed: seed, AccountsCapacity: uint32(random.IntN(5000))})
		if l.accountIndex.groupMask != 0 || l.transferIndex.groupMask != idTableGroupMask {
			t.Fatalf("group masks: accounts %d, transfers %d", l.accountIndex.groupMask,
				l.transferIndex.groupMask)
		}
		events := make([]model.Transfer, 3*pipelineBlockEvents-5)
		for i := range events {
			events[i] = model.Transfer{ID: id(), DebitAccountID: id(), CreditAccountID: id()}
		}
		for block := range 3 {
			l.prefetchSlots(events, block)
			start, end := blockRange(len(events), block)
			for i := start; i < end; i++ {
				e := &events[i]
				tables := []*idTable{&l.accountIndex, &l.accountIndex, &l.transferIndex}
				ids := []model.Uint128{e.DebitAccountID, e.CreditAccountID, e.ID}
				hashes := []uint64{l.batch.debitHash[i], l.batch.creditHash[i],
					l.batch.transferHash[i]}
				for k, table := range tables {
					want := referenceHash(table, ids[k])
					if hashes[k] != want || table.hash(ids[k]) != want {
						t.Fatalf("seed %d event %d id %d: stage %#x, table %#x, reference %#x",
							seed, i, k, hashes[k], table.hash(ids[k]), want)
					}
					slot := uintptr(unsafe.Pointer(&table.slots[home(want, table.mask)]))
					// The stage leaves its addresses in the scratch's capacity.
					addresses := l.batch.addresses[:cap(l.batch.addresses)]
					if address := addresses[3*(i-start)+k]; address != slot {
						t.Fatalf("seed %d event %d id %d: address %#x, want %#x", seed, i, k,
							address, slot)
					}
				}
			}
		}
	}
}

// TestSlotIndexMatchesTagAndLive holds slotIndex, the probe loops' one-compare test, to
// the two tests it replaced (the slot is live, and its high half is the hash's tag) and
// to the index they returned (the low half minus one), on the edges of the encoding:
// empty slots, tombstones, index parts 0, 1 and 2^32-1, the tags next to the hash's
// (above and below, wrapping at both ends), and random slots and hashes.
func TestSlotIndexMatchesTagAndLive(t *testing.T) {
	random := rand.New(rand.NewPCG(46, 1))
	hashes := []uint64{0, 1, 0xffffffff, 1 << 32, 0xfffffffe << 32, 0xffffffff << 32,
		0xffffffff<<32 | 0xffffffff}
	for range 200 {
		hashes = append(hashes, random.Uint64())
	}
	for _, hash := range hashes {
		tag := tagOf(hash)
		slots := []uint64{0, tombstone, tombstone | 1, ^uint64(0), random.Uint64()}
		for _, near := range []uint64{tag - 2<<32, tag - 1<<32, tag, tag + 1<<32, tag + 2<<32} {
			for _, part := range []uint64{0, 1, 2, 0x7fffffff, 0xfffffffe, 0xffffffff} {
				slots = append(slots, near|part)
			}
		}
		for _, slot := range slots {
			index, ok := slotIndex(slot, firstOf(hash))
			want := live(slot) && slot&^0xffffffff == tag
			if ok != want || ok && index != uint32(slot)-1 {
				t.Fatalf("slot %#x, hash %#x: slotIndex (%d, %v), want (%d, %v)", slot, hash,
					index, ok, uint32(slot)-1, want)
			}
		}
	}
}
