package ledger

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"sequent/bench/threadcpu"
	"sequent/core/internal/hugepage"
	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// lineModelRecord stands for a 128-byte account record as two cache lines: the ledger's
// record (model.Account) reads and writes both for a plain transfer (the id and three
// balances in the first; credits_posted, the ledger, the flags and the newest-transfer
// link in the second).
type lineModelRecord struct {
	first  [8]uint64
	second [8]uint64
}

// lineModelTransferRingRecords is how many 128-byte new-transfer records the model
// writes round a ring: 64 MiB, twice the host's L3, so that each is written cold as the
// ledger's are.
const lineModelTransferRingRecords = 1 << 19

// BenchmarkAccountLinesBound is a model, not the ledger: it bounds what an account
// record laid out with every field a plain transfer touches in one cache line (instead
// of the wire layout's two) could save at a million accounts, before anyone rewrites
// the ledger's ~200 uses of model.Account for it, and what the account table's slot
// lines cost. Every layout runs the ledger's pipeline shape on the same memory
// (1,048,576 records of 128 bytes, a 16 MiB slot table, 128-byte new records written
// round a 64 MiB ring, results of 144 bytes; or 1,024 records, all in cache): blocks of 16 transfers, the slots of block
// k+2 prefetched, block k+1's slots walked and its records prefetched, block k applied.
// They differ only in what they touch: both lines of each account read and written (the
// ledger today); the first line only (the hypothetical layout, whose results would take
// the pending balances as zeros from a flag in that line); both read and only the first
// written; or both lines as today, each record found from its id without the slot
// table (the index's whole cost, its hashing included). Every run applies a batch of
// 8,189 pairs of random accounts of its own (the same batch run again right after
// another layout's would find its records in the L3 cache), the layouts take turns in
// an order rotated every op, each run timed by the thread's CPU clock. It reports
// cpu-ns per transfer of each layout and their changes against two lines (negative:
// cheaper).
//
//	go test ./core/ledger -run '^$' -bench AccountLinesBound -benchtime 300x -count 5
func BenchmarkAccountLinesBound(b *testing.B) {
	// 2^10 accounts all in cache (the model's compute alone); 2^20 as the ledger's
	// benchmark at a million, its slot table 2^21 slots of 8 bytes (16 MiB, load 0.5).
	for _, slotBits := range []int{11, 21} {
		b.Run(fmt.Sprintf("accounts=%d", 1<<(slotBits-1)), func(b *testing.B) {
			benchmarkAccountLines(b, slotBits)
		})
	}
}

// benchmarkAccountLines is BenchmarkAccountLinesBound with 2^(slotBits-1) accounts.
func benchmarkAccountLines(b *testing.B, slotBits int) {
	accountCount := 1 << (slotBits - 1)
	records := make([]lineModelRecord, accountCount)
	hugepage.AdviseCovering(records)
	slots := make([]uint64, 1<<slotBits)
	hugepage.AdviseCovering(slots)
	ring := make([]lineModelRecord, lineModelTransferRingRecords)
	hugepage.AdviseCovering(ring)
	clear(ring)
	m := lineModel{slotBits: slotBits}
	for a := range uint64(accountCount) {
		records[a].first[0] = a + 1 // The id, checked on every lookup.
		position := m.home(a + 1)
		for slots[position] != 0 {
			position = (position + 1) & (1<<m.slotBits - 1)
		}
		slots[position] = a + 1
	}
	m = lineModel{slotBits: slotBits, records: records, slots: slots, ring: ring,
		ids:       make([]uint64, 2*model.EventsPerRequestMax),
		homes:     make([]uint64, 2*model.EventsPerRequestMax),
		found:     make([]*lineModelRecord, 2*model.EventsPerRequestMax),
		addresses: make([]uintptr, 0, 2*pipelineBlockEvents),
		results:   make([][18]uint64, model.EventsPerRequestMax)}
	random := rand.New(rand.NewPCG(1, 2))
	var spent [lineModelLayouts]int64
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for k := range lineModelLayouts {
			which := (n + k) % lineModelLayouts
			// Fresh accounts for every run: a batch run again right after would find its
			// 2 MiB of records still in the L3 cache.
			for i := range m.ids {
				m.ids[i] = random.Uint64N(uint64(accountCount)) + 1
			}
			start := threadcpu.Now()
			m.batch(which)
			spent[which] += threadcpu.Now() - start
		}
	}
	b.StopTimer()
	if m.sum == 0 {
		b.Fatal("the model read nothing")
	}
	if !threadcpu.Supported {
		return
	}
	transfers := float64(b.N) * float64(len(m.ids)/2)
	b.ReportMetric(float64(spent[lineModelTwoLines])/transfers, "cpu-ns/transfer-two-lines")
	b.ReportMetric(float64(spent[lineModelOneLine])/transfers, "cpu-ns/transfer-one-line")
	b.ReportMetric(float64(spent[lineModelOneDirty])/transfers, "cpu-ns/transfer-one-dirty")
	b.ReportMetric(100*(float64(spent[lineModelOneLine])/float64(spent[lineModelTwoLines])-1),
		"one-line-change-%")
	b.ReportMetric(100*(float64(spent[lineModelOneDirty])/float64(spent[lineModelTwoLines])-1),
		"one-dirty-change-%")
	b.ReportMetric(float64(spent[lineModelNoIndex])/transfers, "cpu-ns/transfer-no-index")
	b.ReportMetric(100*(float64(spent[lineModelNoIndex])/float64(spent[lineModelTwoLines])-1),
		"no-index-change-%")
}

// The layouts BenchmarkAccountLinesBound compares.
const (
	lineModelTwoLines = iota // Both lines read, both written (the wire layout, today).
	lineModelOneLine         // Only the first line read and written.
	lineModelOneDirty        // Both read, only the first written.
	lineModelNoIndex         // Two lines as today, found without the slot table.
	lineModelLayouts
)

// home is a model id's home slot (a multiply-shift hash).
func (m *lineModel) home(id uint64) uint64 {
	return (id * 0x9e3779b97f4a7c15) >> (64 - m.slotBits)
}

// lineModel is BenchmarkAccountLinesBound's state: ids holds, per transfer, the debit
// account's id then the credit account's.
type lineModel struct {
	slotBits  int // The slot table holds 2^slotBits slots.
	records   []lineModelRecord
	slots     []uint64
	ring      []lineModelRecord
	next      int // Next ring record.
	ids       []uint64
	homes     []uint64
	found     []*lineModelRecord
	addresses []uintptr
	results   [][18]uint64
	sum       uint64
}

// batch applies the batch in ids through the pipeline, touching the record lines of
// layout (lineModelTwoLines...).
func (m *lineModel) batch(layout int) {
	transfers := len(m.ids) / 2
	blocks := (transfers + pipelineBlockEvents - 1) / pipelineBlockEvents
	m.slotStage(0, layout)
	m.slotStage(1, layout)
	m.recordStage(0, layout)
	for block := range blocks {
		m.slotStage(block+2, layout)
		m.recordStage(block+1, layout)
		start, end := blockRange(transfers, block)
		for i := start; i < end; i++ {
			m.apply(i, layout)
		}
	}
}

// slotStage hashes the block's ids and prefetches their home slots (none without the
// index).
func (m *lineModel) slotStage(block int, layout int) {
	if layout == lineModelNoIndex {
		return
	}
	start, end := blockRange(len(m.ids)/2, block)
	addresses := m.addresses[:0]
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.slots)))
	for i := 2 * start; i < 2*end; i++ {
		m.homes[i] = m.home(m.ids[i])
		addresses = append(addresses, base+uintptr(m.homes[i])*slotBytes)
	}
	prefetch.Lines(addresses)
}

// recordStage walks the block's probe runs (or takes an id as its record's place, without
// the index) and prefetches the records found: both lines of each, or the first.
func (m *lineModel) recordStage(block int, layout int) {
	start, end := blockRange(len(m.ids)/2, block)
	addresses := m.addresses[:0]
	for i := 2 * start; i < 2*end; i++ {
		if layout == lineModelNoIndex {
			m.found[i] = &m.records[m.ids[i]-1]
			addresses = append(addresses, uintptr(unsafe.Pointer(m.found[i])))
			continue
		}
		position := m.homes[i]
		for m.slots[position] != m.ids[i] {
			position = (position + 1) & (1<<m.slotBits - 1)
		}
		record := &m.records[m.slots[position]-1]
		m.found[i] = record
		addresses = append(addresses, uintptr(unsafe.Pointer(record)))
	}
	if layout == lineModelOneLine {
		prefetch.Lines(addresses)
	} else {
		prefetch.LinePairs(addresses)
	}
}

// apply is transfer i: the id checks, the reads and writes of the account fields, the
// new record and the result.
func (m *lineModel) apply(i int, layout int) {
	debit, credit := m.found[2*i], m.found[2*i+1]
	if debit.first[0] != m.ids[2*i] || credit.first[0] != m.ids[2*i+1] {
		panic("lineModel: wrong record")
	}
	m.next = (m.next + 1) & (lineModelTransferRingRecords - 1)
	record := &m.ring[m.next]
	record.first = [8]uint64{uint64(i), 0, m.ids[2*i], 0, m.ids[2*i+1], 0, 1, 0}
	result := &m.results[i]
	switch layout {
	case lineModelOneDirty:
		// The hot fields in the first line; the pending balances, read for the overflow
		// test and the result, in the second.
		m.sum += debit.first[6] + credit.first[6] + debit.second[0] + credit.second[1]
		debit.first[4]++
		credit.first[5]++
		record.second[0], record.second[1] = debit.first[7], credit.first[7]
		debit.first[7], credit.first[7] = uint64(i), uint64(i)
		result[0], result[1], result[2] = debit.first[4], debit.first[5], credit.first[4]
		result[3], result[4] = credit.first[5], debit.second[0]+credit.second[1]
	case lineModelOneLine:
		// ledger and flags, the debit's posted balance, the credit's, the link: first line.
		m.sum += debit.first[6] + credit.first[6]
		debit.first[4]++
		credit.first[5]++
		record.second[0], record.second[1] = debit.first[7], credit.first[7]
		debit.first[7], credit.first[7] = uint64(i), uint64(i)
		result[0], result[1], result[2] = debit.first[4], debit.first[5], credit.first[4]
		result[3], result[4] = credit.first[5], 0
	default:
		// As the wire layout: ledger and flags, credits_posted and the link in the second.
		m.sum += debit.second[6] + credit.second[6]
		debit.first[4]++
		credit.second[0]++
		record.second[0], record.second[1] = debit.second[5], credit.second[5]
		debit.second[5], credit.second[5] = uint64(i), uint64(i)
		result[0], result[1], result[2] = debit.first[2], debit.first[4], debit.first[6]
		result[3], result[4] = debit.second[0], credit.first[2]
	}
	m.sum++
}
