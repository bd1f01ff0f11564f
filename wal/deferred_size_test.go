package wal

import "testing"

// TestAppendDeferredLeavesLargeBodiesToTheWriter: on an idle log, a body of deferBytesMax
// is deferred (not durable until WriteDeferred, which writes it on the appender), while
// one byte more goes to the writer goroutine at once (WriteDeferred has nothing to
// write, and the writer makes it durable), so that a large entry's encoding, write and
// fdatasync overlap the appender's apply instead of following it.
func TestAppendDeferredLeavesLargeBodiesToTheWriter(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	small := Entry{Epoch: 1, FirstOp: 1, Count: 1, Timestamp: 1,
		Body: make([]byte, deferBytesMax)}
	if err := l.AppendDeferred(small); err != nil {
		t.Fatal(err)
	}
	if durable := l.Durable(); durable != 0 {
		t.Fatalf("a %d-byte body was durable at op %d before WriteDeferred: the writer "+
			"was woken", len(small.Body), durable)
	}
	l.WriteDeferred()
	if stats := l.Stats(); l.Durable() != 1 || stats.InlineGroups != 1 {
		t.Fatalf("after WriteDeferred: durable %d, stats %+v; want op 1 written inline",
			l.Durable(), stats)
	}
	large := Entry{Epoch: 1, FirstOp: 2, Count: 1, Timestamp: 2,
		Body: make([]byte, deferBytesMax+1)}
	if err := l.AppendDeferred(large); err != nil {
		t.Fatal(err)
	}
	l.WriteDeferred() // Nothing to write here: the writer has it (else it would write it).
	for l.Durable() < 2 {
		<-l.DurableNotify()
	}
	if stats := l.Stats(); stats.InlineGroups != 1 || stats.Groups != 2 {
		t.Fatalf("stats %+v: the large body should have been the writer's group", stats)
	}
}
