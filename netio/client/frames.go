package client

import (
	"unsafe"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Reuse of large request frames (issue 15). A full batch is a 1 MiB frame; building it
// in fresh memory every call cost ~0.7 ms of page faults and zeroing in the copy of the
// body, plus garbage for the collector. Frames of at least frameReuseBytesMin bytes are
// therefore built in buffers of one size class (frameReuseCapacity, enough for any
// request) kept on a short per-client free list; smaller frames are allocated as before
// (their allocation is cheap, and a pooled buffer would hold up to 1 MiB for them).
//
// Ownership (doc.go, "Frame memory"): a request's frame belongs to its Call from Go (or
// submit) until the call completes with a reply, and it must stay intact as long as it
// can be written: queued in the outbox, in the batch a writer is writing, or resendable
// from the pending set (reconnect, restart, failover, busy resends). It returns to the
// free list at one point only, recycleFrameLocked in complete, under mu, after the call
// has left the pending set (so no resend can queue it again) and only when no outbox
// entry and no entry of the batch being written overlaps it (a reply can overtake a
// queued copy: an old connection's reader may deliver the reply of a request already
// queued again for the new connection). Calls that end otherwise (abandoned, failed,
// closed) leave their frame to the garbage collector. The caller's body is only ever
// copied from, never kept.
const (
	// frameReuseCapacity is the one size class of reused buffers: the largest request
	// frame (a header and model.RequestBodyBytesMax of body, 8,189 transfers).
	frameReuseCapacity = wire.HeaderSize + model.RequestBodyBytesMax
	// frameReuseBytesMin is the smallest frame built in a reused buffer: a quarter of a
	// full one, so a reused buffer is at most 4 times what the frame needs (in flight
	// no more memory than full batches would take), and frames below it keep plain
	// allocations.
	frameReuseBytesMin = frameReuseCapacity / 4
	// frameReuseCountMax bounds the free list (at most ~4 MiB). A completed request's
	// buffer is taken by the next large request, so in a steady stream the list holds
	// one or two; four absorbs a burst of replies without holding memory the collector
	// could reclaim.
	frameReuseCountMax = 4
	// formingReuseCountMax bounds the free list of merged requests' smaller buffers
	// (formingBufferLocked): each below frameReuseBytesMin, so at most ~2 MiB. The
	// window's requests (InflightMax) and one or two forming ones are in use at a time;
	// in a steady stream a completed request's buffer is taken by a forming one.
	formingReuseCountMax = 8
)

// Merged requests (coalesce.go) reuse their smaller buffers too. With hundreds of
// one-event callers a request grows from a few events to hundreds while it forms, and
// growing by append cost each step a fresh allocation, zeroing of the new tail and a
// copy. Instead a forming request starts in the largest buffer of the formingFrames
// list and, when it outgrows it, moves to one of at least twice the size; the buffer it
// leaves goes back on the list at once (a forming frame is referenced by its call's
// body only: it enters the outbox when sealed, not before). Its final frame follows the
// rule of the large ones: back on the list only in recycleFrameLocked, and only when no
// queued or in-write copy overlaps it.

// formingBufferLocked returns an empty buffer with room for size bytes for a forming
// request: as frameBufferLocked for a large size, else the largest buffer of the
// formingFrames list when it has room, else a new one. Called with mu held.
func (c *Client) formingBufferLocked(size int) []byte {
	if size >= frameReuseBytesMin {
		return c.frameBufferLocked(size)
	}
	largest := -1
	for i, buffer := range c.formingFrames {
		if cap(buffer) >= size && (largest < 0 || cap(buffer) > cap(c.formingFrames[largest])) {
			largest = i
		}
	}
	if largest < 0 {
		return make([]byte, 0, size)
	}
	buffer := c.formingFrames[largest]
	last := len(c.formingFrames) - 1
	c.formingFrames[largest] = c.formingFrames[last]
	c.formingFrames[last] = nil
	c.formingFrames = c.formingFrames[:last]
	return buffer[:0]
}

// growFormingLocked moves a forming request's frame to a buffer with room for size
// bytes (and at least twice its capacity) and puts the old one on the list. Called with
// mu held, only on a body not sealed yet (no copy of it is queued anywhere).
func (c *Client) growFormingLocked(body []byte, size int) []byte {
	grown := append(c.formingBufferLocked(max(size, 2*cap(body))), body...)
	c.keepFormingLocked(body)
	return grown
}

// keepFormingLocked puts a buffer below the large size class on the formingFrames list;
// when the list is full it replaces the smallest one if it is larger. Called with mu
// held, on a buffer nothing else references.
func (c *Client) keepFormingLocked(buffer []byte) {
	if cap(buffer) >= frameReuseBytesMin || cap(buffer) == 0 {
		return
	}
	if len(c.formingFrames) < formingReuseCountMax {
		c.formingFrames = append(c.formingFrames, buffer[:0])
		return
	}
	smallest := 0
	for i, kept := range c.formingFrames {
		if cap(kept) < cap(c.formingFrames[smallest]) {
			smallest = i
		}
	}
	if cap(buffer) > cap(c.formingFrames[smallest]) {
		c.formingFrames[smallest] = buffer[:0]
	}
}

// frameBufferLocked returns an empty buffer with room for a frame of size bytes: a reused
// one (or a new one of the reused size class) for large frames, a fresh exact one
// otherwise. Called with mu held.
func (c *Client) frameBufferLocked(size int) []byte {
	if size < frameReuseBytesMin || size > frameReuseCapacity {
		return make([]byte, 0, size)
	}
	if buffer, ok := popFree(&c.freeFrames); ok {
		return buffer[:0]
	}
	return make([]byte, 0, frameReuseCapacity)
}

// popFree takes the last buffer off a free list, clearing its slot so that the list's
// array keeps nothing reachable that the caller now owns.
func popFree[T any](list *[]T) (T, bool) {
	var zero T
	last := len(*list) - 1
	if last < 0 {
		return zero, false
	}
	item := (*list)[last]
	(*list)[last] = zero
	*list = (*list)[:last]
	return item, true
}

// recycleFrameLocked returns the frame of a call that has just completed with a reply
// (and left the pending set, under the same hold of mu) to the free list (a merged
// request's smaller frame: to formingFrames), unless it is not of the reused size class, the list is full, or a queued or in-write copy of it
// still waits for the socket (then the collector takes it later). Called with mu held.
func (c *Client) recycleFrameLocked(call *Call) {
	frame := call.frame
	if call.key.operation != 0 && cap(frame) < frameReuseBytesMin { // A merged request's.
		if !c.queuedLocked(frame) {
			call.frame = nil
			c.keepFormingLocked(frame)
		}
		return
	}
	if cap(frame) != frameReuseCapacity || len(c.freeFrames) >= frameReuseCountMax ||
		c.queuedLocked(frame) {
		return
	}
	call.frame = nil
	c.freeFrames = append(c.freeFrames, frame[:0])
}

// queuedLocked reports whether an entry of the outbox or of the batch being written
// shares memory with frame. Called with mu held.
func (c *Client) queuedLocked(frame []byte) bool {
	for _, queued := range c.outbox {
		if overlap(queued, frame) {
			return true
		}
	}
	for _, queued := range c.writingFrames {
		if overlap(queued, frame) {
			return true
		}
	}
	return false
}

// overlap reports whether the arrays behind a and b (up to their capacities) share
// any byte.
func overlap(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	aStart := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	bStart := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return aStart < bStart+uintptr(cap(b)) && bStart < aStart+uintptr(cap(a))
}
