package testlog

import (
	"bytes"
	"sync"
)

// Buffer collects log lines from any goroutine. The bytes.Buffer is a named field, not
// embedded: embedding would promote its ReadFrom, which io.Copy (used by os/exec)
// prefers to Write, and which would bypass the lock.
type Buffer struct {
	mutex  sync.Mutex
	buffer bytes.Buffer
}

// Write appends p under the lock.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.String()
}
