package saga

// Bounds of a decision window.
const (
	// windowPage is how many decisions one page of a window holds (32 KiB).
	windowPage = 256
	// WindowSpanMax bounds the sequences a credit shard's window for one debit shard spans
	// above that shard's watermark (the lowest saga it still runs). A Credit beyond it is
	// not decided yet: its debit shard sends it again later, when the watermark has
	// moved; the lowest running saga is always within the window, so the sagas keep
	// finishing. Empty pages cost a pointer, so the bound costs at most 512 KiB of page
	// table, not 16 Mi decisions.
	WindowSpanMax = 1 << 24
)

// window holds a credit shard's decisions for one debit shard, by saga sequence from the
// debit shard's watermark up: sagas are numbered densely by their debit shard, so pages of
// an array replace a hash table (no hashing, no rehash pauses, one cache line a lookup).
// Decisions below the watermark are forgotten (saga_forget); a slot with Sequence 0 holds
// no decision.
type window struct {
	base  uint64 // The watermark: sequences below are forgotten.
	first uint64 // Sequence of pages[0][0]: a multiple of windowPage, at most base.
	pages []*[windowPage]Decision
	count int // Slots holding a decision.
}

// fits reports whether sequence lies in the window's span.
func (w *window) fits(sequence uint64) bool {
	return sequence >= w.base && sequence-w.first < WindowSpanMax
}

// take returns saga sequence's slot (fits) and whether it holds a decision already; when
// it does not, the slot is taken (counted, its Sequence set). One page lookup where a find
// then an add were two (step 2 does both for every new Credit: ~15 instructions, callgrind).
func (w *window) take(sequence uint64) (*Decision, bool) {
	offset := sequence - w.first
	page := offset / windowPage
	for uint64(len(w.pages)) <= page {
		w.pages = append(w.pages, nil)
	}
	if w.pages[page] == nil {
		w.pages[page] = new([windowPage]Decision)
	}
	d := &w.pages[page][offset%windowPage]
	if d.Sequence != 0 {
		return d, true
	}
	w.count++
	d.Sequence = sequence
	return d, false
}

// add takes saga sequence's slot (fits, not taken) and returns it (a snapshot's restore).
func (w *window) add(sequence uint64) *Decision {
	d, _ := w.take(sequence)
	return d
}

// forget drops the decisions below below (> base) and the pages they emptied.
func (w *window) forget(below uint64) {
	for sequence := w.base; sequence < below && sequence-w.first < uint64(len(w.pages))*windowPage; {
		offset := sequence - w.first
		page := w.pages[offset/windowPage]
		if page == nil {
			sequence += windowPage - offset%windowPage // Skip an empty page.
			continue
		}
		if page[offset%windowPage].Sequence != 0 {
			page[offset%windowPage] = Decision{}
			w.count--
		}
		sequence++
	}
	w.base = below
	dropped := 0
	for dropped < len(w.pages) && w.first+windowPage <= below {
		w.pages[dropped] = nil
		w.first += windowPage
		dropped++
	}
	w.pages = w.pages[dropped:]
	if len(w.pages) == 0 {
		w.first = below - below%windowPage
	}
}

// each calls fn with every decision, by sequence.
func (w *window) each(fn func(d *Decision)) {
	for _, page := range w.pages {
		if page == nil {
			continue
		}
		for i := range page {
			if page[i].Sequence != 0 {
				fn(&page[i])
			}
		}
	}
}
