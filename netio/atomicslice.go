package netio

import "sync/atomic"

// atomicSlice is a copy-on-write set of connections: readers load an immutable slice,
// writers install a modified copy with compare-and-swap and retry on a race. Writes are
// rare (subscribe, close); reads happen for every report.
type atomicSlice struct {
	pointer atomic.Pointer[[]*connection]
}

func (a *atomicSlice) load() []*connection {
	if p := a.pointer.Load(); p != nil {
		return *p
	}
	return nil
}

func (a *atomicSlice) add(conn *connection) {
	for {
		old := a.pointer.Load()
		var next []*connection
		if old != nil {
			next = append(make([]*connection, 0, len(*old)+1), *old...)
		}
		next = append(next, conn)
		if a.pointer.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (a *atomicSlice) remove(conn *connection) {
	for {
		old := a.pointer.Load()
		if old == nil {
			return
		}
		next := make([]*connection, 0, len(*old))
		for _, c := range *old {
			if c != conn {
				next = append(next, c)
			}
		}
		if len(next) == len(*old) || a.pointer.CompareAndSwap(old, &next) {
			return
		}
	}
}
