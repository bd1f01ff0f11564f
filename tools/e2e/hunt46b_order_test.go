package e2e

// Session 46 protocol hunt (helper hunt46b): the order in which one connection's
// requests are processed. The raw client is hunt46b_protocol_test.go's.

import "testing"

// TestHunt46bPipelinedReadBeforeWrite: section 6, "the server processes the requests of
// one connection in the order received" and "Replies to processed requests of one
// connection arrive in the order the requests were sent" (section 17 repeats it). A
// client pipelines, in one write, pairs of lookup_accounts of an id followed by the
// create_accounts of that id. Each lookup was received before the create of its id, so
// it must find nothing, and its reply must come before the create's. The shard's
// sequencer (core/shard sequencer.go, the turn) put every write it took in one turn
// into the entry and answered the turn's reads afterwards, against the state after the
// whole entry: each lookup found the account a later request created, and every write's
// reply overtook the reads sent before it. Fixed in session 46 (helper order46): the
// turn's take (inputRing.takeUpTo) stops before a write of a connection with a read
// taken, so a turn holds, per connection, its writes and then its reads, which it
// answers last; core/shard's read_write_order_test.go pins it in the package.
func TestHunt46bPipelinedReadBeforeWrite(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	c := docLogin(t, address, data, 4602)
	const pairs = 64
	var pipeline []byte
	for i := uint64(0); i < pairs; i++ {
		id := 4_602_000 + i
		pipeline = append(pipeline, docEncode(docKindRequest, docOperationLookupAccounts, 0,
			c.session, 2*i+1, docIDs(id))...)
		pipeline = append(pipeline, docEncode(docKindRequest, docOperationCreateAccounts, 0,
			c.session, 2*i+2, docAccount(id))...)
	}
	c.write(pipeline)
	var order []uint64
	foundEarly := 0
	for range 2 * pairs {
		reply := c.next()
		if reply.kind != docKindReply || reply.status != docStatusOK {
			t.Fatalf("reply kind %d number %d status %d, want ok replies only", reply.kind,
				reply.number, reply.status)
		}
		order = append(order, reply.number)
		if reply.operation == docOperationLookupAccounts && len(reply.body) != 0 {
			foundEarly++
		}
	}
	outOfOrder := 0
	for i, number := range order {
		if number != uint64(i+1) {
			outOfOrder++
		}
	}
	if foundEarly != 0 || outOfOrder != 0 {
		t.Fatalf("%d of %d lookups found the account created by the request sent after "+
			"them, %d of %d replies out of request order (first replies: %v)", foundEarly,
			pairs, outOfOrder, 2*pairs, order[:min(len(order), 12)])
	}
}
