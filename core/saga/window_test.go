package saga

// find returns saga sequence's decision, if taken. Only the tests read a window so, as an
// oracle independent of take (which the book calls: it finds and takes in one lookup).
func (w *window) find(sequence uint64) (*Decision, bool) {
	if sequence < w.base {
		return nil, false
	}
	offset := sequence - w.first
	page := offset / windowPage
	if page >= uint64(len(w.pages)) || w.pages[page] == nil {
		return nil, false
	}
	d := &w.pages[page][offset%windowPage]
	return d, d.Sequence != 0
}
