package e2e

// Session 48's protocol hunt (helper hunt48): the edges of netio/PROTOCOL.md a client
// written from the document alone relies on (framing errors and the number they carry,
// shape refusals, the largest batch, lookups of 0 ids, reads under numbers of writes),
// checked against a real `sequent serve --shards 2` with frames encoded by hand from the
// document (the docEncode client of hunt46b_protocol_test.go: no netio/wire, no
// netio/client). One server per test group.

import (
	"crypto/hmac"
	"crypto/sha256"
	endian "encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Kinds, operations, statuses and error codes as PROTOCOL.md sections 4, 11, 12 and 13
// number them (those hunt46b's file does not name already).
const (
	h48KindLogout    = 4
	h48KindUnknown   = 12
	h48KindSubscribe = 9

	h48OperationGetAccountTransfers = 5
	h48OperationUndefined           = 8
	h48OperationPulse               = 60

	h48StatusTooManyEvents = 207
	h48StatusEmptyRequest  = 211

	h48ErrorBadVersion       = 1002
	h48ErrorBadChecksum      = 1003
	h48ErrorFrameTooLarge    = 1004
	h48ErrorBadBodyLength    = 1005
	h48ErrorUnknownKind      = 1006
	h48ErrorReservedNotZero  = 1007
	h48ErrorUnexpectedFrame  = 1009
	h48ErrorUnknownOperation = 1010
	h48ErrorSessionMismatch  = 1011
	h48ErrorBadRequestNumber = 1012
	h48ErrorLoginNonceUsed   = 1015

	// h48RequestBodyMax and h48EventsMax are section 14's request body and events per
	// request; h48ErrorBodyMax its error message bound.
	h48RequestBodyMax = 1_048_192
	h48EventsMax      = 8189
	h48ErrorBodyMax   = 256
)

// h48Raw connects and reads the challenge, without logging in.
func h48Raw(t *testing.T, address string) *docConn {
	t.Helper()
	c, challenge := h48Dial(t, address, 0)
	if challenge.kind != docKindChallenge {
		t.Fatalf("first frame kind %d, want a challenge", challenge.kind)
	}
	return c
}

// h48Dial connects (closed at the test's end) and returns the connection, to log in
// with session, and the first frame the server sent.
func h48Dial(t *testing.T, address string, session uint64) (*docConn, docFrame) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, docFrameWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &docConn{t: t, conn: conn, session: session}
	return c, c.next()
}

// expectErrorClosed requires the next frame to be error code with header number and
// session as section 4 (error) says, aux 0 and a body of at most 256 bytes, and then
// the end of the connection (section 9: the error frame is the last frame).
func (c *docConn) expectErrorClosed(what string, code uint32, number, session uint64) {
	c.t.Helper()
	frame := c.next()
	if frame.kind != docKindError || frame.status != code || frame.number != number ||
		frame.session != session || frame.aux != 0 || len(frame.body) > h48ErrorBodyMax {
		c.t.Fatalf("%s: kind %d status %d number %d session %d aux %d %q, want error %d "+
			"number %d session %d aux 0", what, frame.kind, frame.status, frame.number,
			frame.session, frame.aux, frame.body, code, number, session)
	}
	c.conn.SetReadDeadline(time.Now().Add(docFrameWait))
	var one [1]byte
	if _, err := c.conn.Read(one[:]); err == nil {
		c.t.Fatalf("%s: a byte after the error frame", what)
	} else if timeout, ok := err.(net.Error); ok && timeout.Timeout() {
		c.t.Fatalf("%s: the connection stayed open after the error frame", what)
	}
}

// h48Header is a bare frame header with body_length set and the checksum of the header
// alone (the body that would follow is never sent).
func h48Header(kind, operation byte, session, number uint64, bodyLength uint32) []byte {
	header := docEncode(kind, operation, 0, session, number, nil)
	endian.LittleEndian.PutUint32(header[8:], bodyLength)
	endian.LittleEndian.PutUint32(header[44:], crc32.Checksum(header[:44], docCastagnoli))
	return header
}

// h48Reseal recomputes the checksum of a frame whose header was changed.
func h48Reseal(frame []byte) []byte {
	sum := crc32.Update(crc32.Update(0, docCastagnoli, frame[:44]), docCastagnoli,
		frame[docHeaderBytes:])
	endian.LittleEndian.PutUint32(frame[44:], sum)
	return frame
}

// TestHunt48FramingErrors: section 3's reading steps and section 4's error frame on a
// node of two shards, each on a connection of its own: the code, the header `number`
// ("the number of the request that caused it once its header passed section 3's steps 2
// and 3, else 0 (frame_too_large, reserved_not_zero of bytes 40..43 and truncated_frame
// carry 0, as does an error caused by any other kind of frame whatever its number field
// held"), the session ("the connection's session once logged in, else 0"), aux 0, a body
// of at most 256 bytes, and the close.
func TestHunt48FramingErrors(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	const session = 4801
	account := docAccount(4_800_001)
	cases := []struct {
		name   string
		frame  func() []byte
		code   uint32
		number uint64
	}{
		{"a request one byte above the frame bound, its body never sent", func() []byte {
			return h48Header(docKindRequest, docOperationCreateAccounts, session, 11,
				h48RequestBodyMax+1)
		}, h48ErrorFrameTooLarge, 0},
		{"a bad checksum", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 12, account)
			frame[44] ^= 1
			return frame
		}, h48ErrorBadChecksum, 12},
		{"a request whose kind byte was damaged into reply's", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 23, account)
			frame[5] = docKindReply
			return frame
		}, h48ErrorBadChecksum, 0},
		{"an undefined operation", func() []byte {
			return docEncode(docKindRequest, h48OperationUndefined, 0, session, 13, nil)
		}, h48ErrorUnknownOperation, 13},
		{"operation 0", func() []byte {
			return docEncode(docKindRequest, 0, 0, session, 14, nil)
		}, h48ErrorUnknownOperation, 14},
		{"an internal operation", func() []byte {
			return docEncode(docKindRequest, h48OperationPulse, 0, session, 15, nil)
		}, h48ErrorUnknownOperation, 15},
		{"request number 0", func() []byte {
			return docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 0, account)
		}, h48ErrorBadRequestNumber, 0},
		{"a lookup numbered 0", func() []byte {
			return docEncode(docKindRequest, docOperationLookupAccounts, 0, session, 0, docIDs(1))
		}, h48ErrorBadRequestNumber, 0},
		{"another session's request", func() []byte {
			return docEncode(docKindRequest, docOperationCreateAccounts, 0, session+1, 16, account)
		}, h48ErrorSessionMismatch, 16},
		{"a request with status set", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 17, account)
			frame[12] = 1
			return h48Reseal(frame)
		}, h48ErrorReservedNotZero, 17},
		{"a request with aux set", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 18, account)
			frame[39] = 1
			return h48Reseal(frame)
		}, h48ErrorReservedNotZero, 18},
		{"a request with header bytes 40..43 set", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 19, account)
			frame[41] = 1
			return h48Reseal(frame)
		}, h48ErrorReservedNotZero, 0},
		{"a heartbeat with a number", func() []byte {
			return docEncode(docKindHeartbeat, 0, 0, session, 20, nil)
		}, h48ErrorReservedNotZero, 0},
		{"a reply sent by the client", func() []byte {
			return docEncode(docKindReply, docOperationCreateAccounts, 0, session, 21, nil)
		}, h48ErrorUnexpectedFrame, 0},
		{"an undefined kind", func() []byte {
			return docEncode(h48KindUnknown, 0, 0, session, 0, nil)
		}, h48ErrorUnknownKind, 0},
		{"version 2", func() []byte {
			frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, session, 22, account)
			frame[4] = 2
			return h48Reseal(frame)
		}, h48ErrorBadVersion, 0},
		{"a subscribe of 15 bytes", func() []byte {
			return docEncode(h48KindSubscribe, 0, 0, session, 0, make([]byte, 15))
		}, h48ErrorBadBodyLength, 0},
		{"a second login", func() []byte {
			return docEncode(docKindLogin, 0, 0, session, 0, make([]byte, 48))
		}, h48ErrorLoginNonceUsed, 0},
	}
	for _, check := range cases {
		c := docLogin(t, address, data, session)
		c.write(check.frame())
		c.expectErrorClosed(check.name, check.code, check.number, session)
	}

	// Section 3's order of checks, after the login and before it: the length against the
	// kind's bound (step 3) before the kind's place (steps 4 and 6), the version before
	// the kind (step 2).
	order := []struct {
		name   string
		frame  []byte
		code   uint32
		number uint64
	}{
		{"a challenge of 47 bytes", docEncode(docKindChallenge, 0, 0, session, 0,
			make([]byte, 47)), h48ErrorBadBodyLength, 0},
		{"a reply above its bound", h48Header(docKindReply, 0, session, 0, 1_179_217),
			h48ErrorFrameTooLarge, 0},
		{"an error frame of 257 bytes", h48Header(docKindError, 0, session, 0, 257),
			h48ErrorFrameTooLarge, 0},
		{"a logout of 1 byte", docEncode(h48KindLogout, 0, 0, session, 0, []byte{0}),
			h48ErrorBadBodyLength, 0},
		{"an undefined kind of version 2", h48Reseal(func() []byte {
			frame := docEncode(h48KindUnknown, 0, 0, session, 0, nil)
			frame[4] = 2
			return frame
		}()), h48ErrorBadVersion, 0},
		{"an undefined kind with bytes 40..43 set", h48Reseal(func() []byte {
			frame := docEncode(h48KindUnknown, 0, 0, session, 0, nil)
			frame[40] = 1
			return frame
		}()), h48ErrorUnknownKind, 0},
	}
	for _, check := range order {
		for _, logged := range []bool{true, false} {
			var c *docConn
			wantSession := uint64(0)
			if logged {
				c, wantSession = docLogin(t, address, data, session), session
			} else {
				c = h48Raw(t, address)
			}
			c.write(check.frame)
			c.expectErrorClosed(check.name, check.code, check.number, wantSession)
		}
	}
	tooLarge := h48Raw(t, address)
	tooLarge.write(h48Header(docKindRequest, docOperationCreateAccounts, session, 5,
		h48RequestBodyMax+1))
	tooLarge.expectErrorClosed("a request above the bound before login",
		h48ErrorFrameTooLarge, 0, 0)

	// Before login: a request is refused from its header alone (section 3 step 4), so
	// without its body; the error carries session 0 and, its header having passed steps
	// 2 and 3, the request's number.
	early := h48Raw(t, address)
	early.write(h48Header(docKindRequest, docOperationCreateAccounts, session, 3, 128))
	early.expectErrorClosed("a request before login, its body never sent",
		h48ErrorUnexpectedFrame, 3, 0)

	// A logout is answered with a logout frame, then the close (section 4, logout).
	c := docLogin(t, address, data, session)
	c.write(docEncode(h48KindLogout, 0, 0, session, 0, nil))
	if answer := c.next(); answer.kind != h48KindLogout || answer.session != session {
		t.Fatalf("logout answered kind %d session %d, want logout", answer.kind, answer.session)
	}
}

// h48ShardMap checks the get_shard_map record of section 18: magic, version, checksum
// (CRC32C of the record with its checksum field zero), and returns shards and placement.
func h48ShardMap(t *testing.T, record []byte) (shards uint16, placement byte) {
	t.Helper()
	if len(record) < 40 || string(record[:8]) != "SQSHMAP1" ||
		endian.LittleEndian.Uint32(record[8:]) != 1 {
		t.Fatalf("shard map record %x: not section 18's", record)
	}
	zeroed := slices.Clone(record)
	endian.LittleEndian.PutUint32(zeroed[12:], 0)
	if crc32.Checksum(zeroed, docCastagnoli) != endian.LittleEndian.Uint32(record[12:]) {
		t.Fatalf("shard map record %x: checksum", record)
	}
	ledger := endian.LittleEndian.Uint32(record[24:])
	ranges := endian.LittleEndian.Uint32(record[28:])
	instruments := endian.LittleEndian.Uint32(record[32:])
	if uint32(len(record)) != 40+8*ledger+24*ranges+8*instruments {
		t.Fatalf("shard map record of %d bytes for %d, %d, %d entries", len(record), ledger,
			ranges, instruments)
	}
	return endian.LittleEndian.Uint16(record[16:]), record[18]
}

// TestHunt48RequestEdges: section 6's refusals at once and their order, the largest
// batch, and section 7's rules for numbers of reads and refused writes, on one
// connection to a node of two shards (hash placement), which stays open throughout.
func TestHunt48RequestEdges(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4802)
	number := uint64(0)
	ask := func(operation, flags byte, body []byte) docFrame {
		t.Helper()
		number++
		return c.request(operation, flags, number, body)
	}
	refused := func(what string, reply docFrame, status uint32) {
		t.Helper()
		if reply.status != status || reply.aux != 0 || len(reply.body) != 0 || reply.flags != 0 {
			t.Fatalf("%s: status %d aux %d flags %d body %d bytes, want status %d, aux 0, "+
				"no body", what, reply.status, reply.aux, reply.flags, len(reply.body), status)
		}
	}

	// get_shard_map: an empty body, one record.
	shardMap := ask(docOperationGetShardMap, 0, nil)
	if shardMap.status != docStatusOK || shardMap.aux != 0 {
		t.Fatalf("get_shard_map: status %d aux %d", shardMap.status, shardMap.aux)
	}
	if shards, placement := h48ShardMap(t, shardMap.body); shards != 2 || placement != 3 {
		t.Fatalf("shard map: %d shards, placement %d, want 2 and hash (3)", shards, placement)
	}
	refused("get_shard_map with a body byte", ask(docOperationGetShardMap, 0, []byte{0}),
		docStatusInvalidBody)
	refused("get_shard_map with flag bit 0", ask(docOperationGetShardMap, 1, nil),
		docStatusInvalidBody)

	// Shape refusals (section 6's table) and their order: flags before shape.
	refused("create_accounts of 0 events", ask(docOperationCreateAccounts, 0, nil),
		h48StatusEmptyRequest)
	refused("lookup_accounts of 0 ids", ask(docOperationLookupAccounts, 0, nil),
		h48StatusEmptyRequest)
	refused("lookup_transfers of 0 ids", ask(docOperationLookupTransfers, 0, nil),
		h48StatusEmptyRequest)
	refused("create_accounts of 129 bytes",
		ask(docOperationCreateAccounts, 0, append(docAccount(4_800_100), 0)),
		docStatusInvalidBody)
	refused("lookup_accounts with flag bit 0", ask(docOperationLookupAccounts, 1, docIDs(1)),
		docStatusInvalidBody)
	refused("an undefined flag on an empty request", ask(docOperationCreateAccounts, 2, nil),
		docStatusInvalidBody)
	refused("lookup_accounts of 8190 ids",
		ask(docOperationLookupAccounts, 0, make([]byte, 16*(h48EventsMax+1))),
		h48StatusTooManyEvents)
	refused("get_account_transfers of two filters",
		ask(h48OperationGetAccountTransfers, 0, make([]byte, 256)), h48StatusTooManyEvents)

	// A number refused at once is not recorded: the same number then applies a write.
	number++
	refused("create_accounts of 0 events", c.request(docOperationCreateAccounts, 0, number, nil),
		h48StatusEmptyRequest)
	if reply := c.request(docOperationCreateAccounts, 0, number, docAccount(4_800_200)); reply.status != docStatusOK || reply.flags != 0 ||
		reply.aux == 0 || eventStatus(reply.body, 0) != docStatusOK {
		t.Fatalf("a write under the number of an empty_request: status %d flags %d aux %d "+
			"body %x, want it applied", reply.status, reply.flags, reply.aux, reply.body)
	}
	applied := number

	// The largest batch: 8189 accounts over both shards, one result each in event order.
	ids := make([]uint64, h48EventsMax)
	batch := make([]byte, 0, 128*h48EventsMax)
	for i := range ids {
		ids[i] = 4_810_000 + uint64(i)
		batch = append(batch, docAccount(ids[i])...)
	}
	largest := ask(docOperationCreateAccounts, 0, batch)
	if largest.status != docStatusOK || largest.aux == 0 ||
		len(largest.body) != docEventResultBytes*h48EventsMax {
		t.Fatalf("8189 accounts: status %d aux %d body %d bytes", largest.status, largest.aux,
			len(largest.body))
	}
	for i := range ids {
		if eventStatus(largest.body, i) != docStatusOK {
			t.Fatalf("8189 accounts: result %d is %x", i,
				largest.body[i*docEventResultBytes:(i+1)*docEventResultBytes])
		}
	}
	// Looked up in reverse order with a missing id first: the records come in the order
	// asked, the missing one skipped.
	asked := append([]uint64{4_800_999}, ids[:h48EventsMax-1]...)
	slices.Reverse(asked[1:])
	found := ask(docOperationLookupAccounts, 0, docIDs(asked...))
	if found.status != docStatusOK || len(found.body) != 128*(h48EventsMax-1) {
		t.Fatalf("lookup of 8189 ids: status %d body %d bytes", found.status, len(found.body))
	}
	for i, id := range asked[1:] {
		if got := endian.LittleEndian.Uint64(found.body[128*i:]); got != id {
			t.Fatalf("lookup record %d is account %d, want %d (the order asked)", i, got, id)
		}
	}

	// Reads are not recorded (section 7): a read under an applied write's number is
	// executed, not answered from the cache, and a write under a read's number is new.
	if again := c.request(docOperationLookupAccounts, 0, applied, docIDs(ids[0])); again.status != docStatusOK ||
		again.flags != 0 || len(again.body) != 128 {
		t.Fatalf("a lookup under the number of an applied write: status %d flags %d body %d "+
			"bytes, want the lookup executed", again.status, again.flags, len(again.body))
	}
	read := ask(docOperationLookupAccounts, 0, docIDs(ids[1]))
	if created := c.request(docOperationCreateAccounts, 0, read.number, docAccount(4_800_300)); created.status != docStatusOK ||
		created.flags != 0 || eventStatus(created.body, 0) != docStatusOK {
		t.Fatalf("a write under a read's number: status %d flags %d body %x, want it applied",
			created.status, created.flags, created.body)
	}

	// Section 7's window at its edge, on one shard: a number 255 below the highest
	// applied is applied, one 256 below is request_too_old.
	on := docIDsOnShards(t, 4_802_000, 3)
	highest := number + 300
	for i, check := range []struct {
		number uint64
		status uint32
	}{{highest, docStatusOK}, {highest - 255, docStatusOK}, {highest - 256, docStatusRequestTooOld}} {
		reply := c.request(docOperationCreateAccounts, 0, check.number, docAccount(on[0][i]))
		if reply.status != check.status || reply.flags != 0 || (reply.aux == 0) != (check.status != docStatusOK) {
			t.Fatalf("number %d with %d applied: status %d aux %d flags %d, want status %d",
				check.number, highest, reply.status, reply.aux, reply.flags, check.status)
		}
	}
}

// Transfer flags and statuses of sections 10 and 18 used below.
const (
	h48TransferFlagLinked       = 1
	h48StatusLinkedEventFailed  = 1
	h48StatusLinkedChainSpans   = 80
	h48ReplyFlagBalances        = 1
	h48EventResultBalancesBytes = 144
)

// h48Transfer is docTransfer with transfer flags.
func h48Transfer(id, debit, credit, amount uint64, flags uint16) []byte {
	record := docTransfer(id, debit, credit, amount)
	endian.LittleEndian.PutUint16(record[118:], flags)
	return record
}

// h48AccountsOnShards creates, as request 1 of c, two accounts on shard 0 (a0, a1) and
// two on shard 1 (b0, b1), the first such ids from first on, with flags 0 (no
// debits_must_not_exceed_credits: they may issue money, the development key being an
// operator).
func h48AccountsOnShards(t *testing.T, c *docConn, first uint64) (a0, a1, b0, b1 uint64) {
	t.Helper()
	on := docIDsOnShards(t, first, 2)
	a0, a1, b0, b1 = on[0][0], on[0][1], on[1][0], on[1][1]
	accounts := slices.Concat(docAccount(a0), docAccount(a1), docAccount(b0), docAccount(b1))
	for i := range 4 {
		accounts[128*i+118] = 0
	}
	if reply := c.request(docOperationCreateAccounts, 0, 1, accounts); reply.status != docStatusOK {
		t.Fatalf("create_accounts: status %d", reply.status)
	}
	return a0, a1, b0, b1
}

// TestHunt48ShardedAnswers: section 6, "exactly one result per event, in event
// order: EventResult (16 bytes), or EventResult with balances (144 bytes) when request
// flag bit 0 was set for create_transfers", on a node of two shards: for a request
// split over both shards, for one whose every event the node refused itself (section
// 18, "Refused by the node": "status ok, one result per event, aux 0"), and for one
// mixing both; and each resent under its number answers the same bytes.
func TestHunt48ShardedAnswers(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4803)
	a0, a1, b0, b1 := h48AccountsOnShards(t, c, 4_830_000)
	chain := slices.Concat(h48Transfer(4_831_010, a0, a1, 1, h48TransferFlagLinked),
		h48Transfer(4_831_011, a0, b0, 1, 0))
	requests := []struct {
		what   string
		body   []byte
		want   []uint32
		byNode bool
	}{
		{"a request split over both shards", slices.Concat(h48Transfer(4_831_001, a0, a1, 5, 0),
			h48Transfer(4_831_002, b0, b1, 6, 0)), []uint32{docStatusOK, docStatusOK}, false},
		{"a chain the node refused", chain,
			[]uint32{h48StatusLinkedEventFailed, h48StatusLinkedChainSpans}, true},
		{"a local transfer and a chain the node refused",
			slices.Concat(h48Transfer(4_831_003, b1, b0, 2, 0), chain),
			[]uint32{docStatusOK, h48StatusLinkedEventFailed, h48StatusLinkedChainSpans}, false},
	}
	for i, request := range requests {
		number := uint64(10 + i)
		first := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, number, request.body)
		if first.status != docStatusOK || (first.aux == 0) != request.byNode ||
			len(first.body) != h48EventResultBalancesBytes*len(request.want) {
			t.Fatalf("%s with balances: status %d aux %d body %d bytes, want ok, %d results "+
				"of 144 bytes", request.what, first.status, first.aux, len(first.body),
				len(request.want))
		}
		for j, status := range request.want {
			if got := endian.LittleEndian.Uint32(first.body[h48EventResultBalancesBytes*j+8:]); got != status {
				t.Fatalf("%s: event %d answered %d, want %d", request.what, j, got, status)
			}
		}
		again := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, number, request.body)
		if again.status != docStatusOK || !slices.Equal(again.body, first.body) ||
			again.aux != first.aux {
			t.Fatalf("%s resent: status %d aux %d (first %d), same body %v", request.what,
				again.status, again.aux, first.aux, slices.Equal(again.body, first.body))
		}
	}

	// A cross-shard transfer with balances (section 10, "EventResult with balances": the
	// debit account's four balances and the credit account's, right after the transfer):
	// a1 on shard 0 pays 9 to b1 on shard 1; each account's balances then match a lookup.
	cross := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, 15,
		h48Transfer(4_831_020, a1, b1, 9, 0))
	if cross.status != docStatusOK || len(cross.body) != h48EventResultBalancesBytes ||
		eventStatus(cross.body, 0) != docStatusOK {
		t.Fatalf("a cross-shard transfer with balances: status %d body %x", cross.status,
			cross.body)
	}
	accountsNow := c.request(docOperationLookupAccounts, 0, 16, docIDs(a1, b1))
	if len(accountsNow.body) != 256 {
		t.Fatalf("lookup of a1 and b1: %d bytes", len(accountsNow.body))
	}
	for side, account := range [][]byte{accountsNow.body[:128], accountsNow.body[128:]} {
		// Account balances: debits_pending, debits_posted, credits_pending, credits_posted
		// at 16, 32, 48, 64; the result's at 16 + 64*side.
		if got, want := cross.body[16+64*side:16+64*(side+1)], account[16:80]; !slices.Equal(got, want) {
			t.Fatalf("cross-shard transfer's balances of its %s account %x, a lookup after "+
				"it %x", []string{"debit", "credit"}[side], got, want)
		}
	}

	// Section 6, lookups: "the records found, in the order of the ids asked": ids asked
	// twice, of both shards, interleaved; transfer ids are asked of every shard.
	for _, lookup := range []struct {
		what      string
		operation byte
		asked     []uint64
	}{
		{"lookup_accounts", docOperationLookupAccounts, []uint64{b0, a0, b0, 4_839_999, a0, a1}},
		{"lookup_transfers", docOperationLookupTransfers,
			[]uint64{4_831_002, 4_831_001, 4_831_002, 4_839_999, 4_831_001}},
	} {
		found := c.request(lookup.operation, 0, 20, docIDs(lookup.asked...))
		var got []uint64
		for i := 0; i+128 <= len(found.body); i += 128 {
			got = append(got, endian.LittleEndian.Uint64(found.body[i:]))
		}
		want := slices.DeleteFunc(slices.Clone(lookup.asked), func(id uint64) bool {
			return id == 4_839_999
		})
		if found.status != docStatusOK || len(found.body)%128 != 0 || !slices.Equal(got, want) {
			t.Fatalf("%s of %v: status %d records %v, want %v", lookup.what, lookup.asked,
				found.status, got, want)
		}
	}

	// Section 18, "Lookups on several shards": a transfer id both shards use has two
	// records, in shard order; a reply holds at most 8,189 records and ends before the
	// first id whose records would not all fit (8,188 records on two shards).
	const twice = 4095
	for shard, debit := range [2][2]uint64{{a0, a1}, {b0, b1}} {
		body := make([]byte, 0, 128*twice)
		for i := range uint64(twice) {
			body = append(body, h48Transfer(4_870_000+i, debit[0], debit[1], 1, 0)...)
		}
		reply := c.request(docOperationCreateTransfers, 0, uint64(30+shard), body)
		if reply.status != docStatusOK || eventStatus(reply.body, twice-1) != docStatusOK {
			t.Fatalf("transfers on shard %d: status %d", shard, reply.status)
		}
	}
	asked := make([]uint64, twice)
	for i := range asked {
		asked[i] = 4_870_000 + uint64(twice-1-i)
	}
	found := c.request(docOperationLookupTransfers, 0, 40, docIDs(asked...))
	if found.status != docStatusOK || len(found.body) != 128*2*(twice-1) {
		t.Fatalf("lookup_transfers of %d ids with two records each: status %d, %d records, "+
			"want %d (the last id left out whole)", twice, found.status, len(found.body)/128,
			2*(twice-1))
	}
	for i, id := range asked[:twice-1] {
		for shard, debit := range [2]uint64{a0, b0} {
			record := found.body[128*(2*i+shard):]
			if endian.LittleEndian.Uint64(record) != id ||
				endian.LittleEndian.Uint64(record[16:]) != debit {
				t.Fatalf("record %d: transfer %d debiting %d, want %d debiting %d (shard %d)",
					2*i+shard, endian.LittleEndian.Uint64(record),
					endian.LittleEndian.Uint64(record[16:]), id, debit, shard)
			}
		}
	}
}

// h48ReplyCacheBytes is section 7's bound of cached reply bodies per session (per shard
// on a node of several shards, section 18).
const h48ReplyCacheBytes = 2 << 20

// TestHunt48ReplyCacheEvictionOnShards: section 7, "the newest ones, up to 256 replies
// and 2 MiB of reply bodies per session, evicting the one applied first", "n already
// applied but its reply no longer cached (evicted by the 2 MiB bound) ...:
// request_too_old (208), aux 0 ... This answer is final"; section 18: each shard keeps
// its own 2 MiB, and "A resend that one shard no longer recognises (its part's reply
// evicted ...) is answered request_too_old, finally, even when another shard answered
// its part from its cache". Two replies of 8189 results with balances (1,179,216 bytes
// each) on shard 0 evict a split request's shard-0 part and the first of them; shard 1
// still holds its part; the second stays cached.
func TestHunt48ReplyCacheEvictionOnShards(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4804)
	a0, a1, b0, b1 := h48AccountsOnShards(t, c, 4_840_000)
	split := slices.Concat(h48Transfer(4_841_001, a0, a1, 1, 0), h48Transfer(4_841_002, b0, b1, 1, 0))
	if reply := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, 2, split); reply.status != docStatusOK {
		t.Fatalf("split transfers: status %d", reply.status)
	}
	large := func(first uint64) []byte {
		body := make([]byte, 0, 128*h48EventsMax)
		for i := range uint64(h48EventsMax) {
			body = append(body, h48Transfer(first+i, a0, a1, 1, 0)...)
		}
		return body
	}
	larges := [][]byte{large(4_850_000), large(4_860_000)}
	if 2*h48EventResultBalancesBytes*h48EventsMax <= h48ReplyCacheBytes {
		t.Fatal("two largest replies fit in the cache: the test proves nothing")
	}
	var replies [2]docFrame
	for i, body := range larges {
		replies[i] = c.request(docOperationCreateTransfers, h48ReplyFlagBalances, uint64(3+i), body)
		if replies[i].status != docStatusOK ||
			len(replies[i].body) != h48EventResultBalancesBytes*h48EventsMax {
			t.Fatalf("request %d of 8189 transfers: status %d body %d bytes", 3+i,
				replies[i].status, len(replies[i].body))
		}
	}
	kept := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, 4, larges[1])
	if kept.status != docStatusOK || kept.flags != docReplyFlagDuplicate ||
		!slices.Equal(kept.body, replies[1].body) || kept.aux != replies[1].aux {
		t.Fatalf("the newest reply resent: status %d flags %d, want its duplicate", kept.status,
			kept.flags)
	}
	for attempt := range 2 {
		for _, number := range []uint64{2, 3} {
			var body []byte
			if number == 2 {
				body = split
			} else {
				body = larges[0]
			}
			old := c.request(docOperationCreateTransfers, h48ReplyFlagBalances, number, body)
			if old.status != docStatusRequestTooOld || old.aux != 0 || len(old.body) != 0 ||
				old.flags != 0 {
				t.Fatalf("attempt %d at request %d, its shard-0 reply evicted: status %d aux %d "+
					"flags %d body %d bytes, want request_too_old, aux 0, no body", attempt,
					number, old.status, old.aux, old.flags, len(old.body))
			}
		}
	}
}

// Login options and errors of sections 4, 5 and 13.
const (
	h48OptionUnchecked        = 2
	h48ErrorLoginUnknownKey   = 1013
	h48ErrorLoginBadSignature = 1014
	h48ErrorLoginBadOptions   = 1016
	h48PermissionsAll         = 15
)

// h48LoginBody is a login body (section 4) with options, signed over nonce, client, key,
// options and session.
func h48LoginBody(challenge []byte, client uint64, key, options uint32, secret []byte,
	session uint64) []byte {
	body := docLoginBody(challenge, client, key, secret, session)
	if options == 0 {
		return body
	}
	message := make([]byte, 56)
	copy(message, challenge[:32])
	endian.LittleEndian.PutUint64(message[32:], client)
	endian.LittleEndian.PutUint32(message[40:], key)
	endian.LittleEndian.PutUint32(message[44:], options)
	endian.LittleEndian.PutUint64(message[48:], session)
	mac := hmac.New(sha256.New, secret)
	mac.Write(message)
	endian.LittleEndian.PutUint32(body[12:], options)
	copy(body[16:], mac.Sum(nil))
	return body
}

// TestHunt48Login: sections 4 and 5 on the login: the challenge's fields, the order of
// the login's checks and their error frames (session 0 in the error: not logged in),
// unused header fields of a login, a heartbeat before the login, and the unchecked
// option (login_accepted echoes it; a request with checksum 0 is then applied).
func TestHunt48Login(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	client, key, secret := credentials(t, data)
	login := func(session uint64, options uint32, change func(frame []byte),
		corrupt bool) *docConn {
		t.Helper()
		c, challenge := h48Dial(t, address, session)
		if challenge.kind != docKindChallenge || challenge.session != 0 ||
			endian.LittleEndian.Uint32(challenge.body[32:]) != 1000 ||
			endian.LittleEndian.Uint32(challenge.body[36:]) != 15000 ||
			endian.LittleEndian.Uint64(challenge.body[40:]) != 0 {
			t.Fatalf("challenge: kind %d session %d body %x", challenge.kind,
				challenge.session, challenge.body)
		}
		frame := docEncode(docKindLogin, 0, 0, session, 0,
			h48LoginBody(challenge.body, client, key, options, secret, session))
		if change != nil {
			change(frame)
			h48Reseal(frame)
		}
		if corrupt {
			frame[44] ^= 1
		}
		c.write(frame)
		return c
	}
	refusals := []struct {
		what    string
		session uint64
		options uint32
		change  func(frame []byte)
		code    uint32
	}{
		{"session 0", 0, 0, nil, h48ErrorLoginBadOptions},
		{"an undefined option bit", 4805, 4, nil, h48ErrorLoginBadOptions},
		{"session 0 and an unknown key", 0, 0, func(frame []byte) { frame[48+8]++ },
			h48ErrorLoginBadOptions},
		{"an unknown key", 4805, 0, func(frame []byte) { frame[48+8]++ }, h48ErrorLoginUnknownKey},
		{"a bad signature", 4805, 0, func(frame []byte) { frame[48+20]++ },
			h48ErrorLoginBadSignature},
		{"a signature over other options", 4805, 0, func(frame []byte) { frame[48+12] = 1 },
			h48ErrorLoginBadSignature},
		{"a login with a number", 4805, 0, func(frame []byte) { frame[24] = 1 },
			h48ErrorReservedNotZero},
		{"a login with an operation", 4805, 0, func(frame []byte) { frame[6] = 1 },
			h48ErrorReservedNotZero},
		{"a login with a bad checksum", 4805, 0, nil, h48ErrorBadChecksum},
	}
	for _, refusal := range refusals {
		c := login(refusal.session, refusal.options, refusal.change,
			refusal.code == h48ErrorBadChecksum)
		c.expectErrorClosed(refusal.what, refusal.code, 0, 0)
	}

	// A heartbeat before the login is read and the login then accepted; with the
	// unchecked option, a request with checksum 0 is applied.
	c, challenge := h48Dial(t, address, 4806)
	c.write(docEncode(docKindHeartbeat, 0, 0, 0, 0, nil))
	c.write(docEncode(docKindLogin, 0, 0, c.session, 0,
		h48LoginBody(challenge.body, client, key, h48OptionUnchecked, secret, c.session)))
	accepted := c.next()
	if accepted.kind != docKindLoginAccepted || accepted.session != c.session ||
		endian.LittleEndian.Uint64(accepted.body) != client ||
		endian.LittleEndian.Uint32(accepted.body[8:]) != h48PermissionsAll ||
		endian.LittleEndian.Uint32(accepted.body[12:]) != h48OptionUnchecked ||
		endian.LittleEndian.Uint64(accepted.body[24:]) != 0 {
		t.Fatalf("login_accepted: kind %d session %d body %x", accepted.kind, accepted.session,
			accepted.body)
	}
	frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, c.session, 1,
		docAccount(4_805_001))
	endian.LittleEndian.PutUint32(frame[44:], 0)
	c.write(frame)
	if reply := c.next(); reply.kind != docKindReply || reply.status != docStatusOK ||
		eventStatus(reply.body, 0) != docStatusOK {
		t.Fatalf("an unchecked request: kind %d status %d body %x", reply.kind, reply.status,
			reply.body)
	}
	// Section 3, session: "every frame the server sends carries the login's session except
	// the server's heartbeats, which carry 0"; section 4: after heartbeat_interval_ms
	// without sending, the server sends one (waited for by count of frames, not time).
	c.conn.SetReadDeadline(time.Now().Add(docFrameWait))
	head := make([]byte, docHeaderBytes)
	if _, err := io.ReadFull(c.conn, head); err != nil {
		t.Fatalf("waiting for the server's heartbeat: %v", err)
	}
	if head[5] != docKindHeartbeat || endian.LittleEndian.Uint64(head[16:]) != 0 ||
		endian.LittleEndian.Uint32(head[8:]) != 0 ||
		endian.LittleEndian.Uint32(head[44:]) != crc32.Checksum(head[:44], docCastagnoli) {
		t.Fatalf("the frame after an idle second: %x, want a heartbeat with session 0", head)
	}
}

// TestHunt48RefusedByNodeNumbers: section 18, "Refused by the node": a write every event
// of which the node refused itself is answered ok with one result per event and aux 0,
// and "Section 7's session rules do not reach its number: a resend is answered the same
// again, never flagged duplicate, however far below the window (never
// request_too_old); the number reused for another body is answered as a new request
// (never request_number_reused); and it does not count as applied". Checked both ways:
// such a write's number (far above the window) neither moves the window nor is taken,
// and such a write under an applied number or below the window is answered as at first.
func TestHunt48RefusedByNodeNumbers(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4807)
	on := docIDsOnShards(t, 4_880_000, 3)
	chain := slices.Concat(docAccount(on[0][0]), docAccount(on[1][0]))
	chain[118] |= 1 // linked: a chain of an account of each shard.
	byNode := func(what string, number uint64) {
		t.Helper()
		reply := c.request(docOperationCreateAccounts, 0, number, chain)
		if reply.status != docStatusOK || reply.aux != 0 || reply.flags != 0 ||
			len(reply.body) != 2*docEventResultBytes ||
			eventStatus(reply.body, 0) != h48StatusLinkedEventFailed ||
			eventStatus(reply.body, 1) != h48StatusLinkedChainSpans {
			t.Fatalf("%s (number %d): status %d aux %d flags %d body %x, want ok, aux 0, "+
				"linked_event_failed then linked_chain_spans_shards", what, number, reply.status,
				reply.aux, reply.flags, reply.body)
		}
	}
	applied := func(what string, number uint64, id uint64, duplicate bool) uint64 {
		t.Helper()
		reply := c.request(docOperationCreateAccounts, 0, number, docAccount(id))
		if reply.status != docStatusOK || reply.aux == 0 ||
			(reply.flags == docReplyFlagDuplicate) != duplicate ||
			eventStatus(reply.body, 0) != docStatusOK {
			t.Fatalf("%s (number %d): status %d aux %d flags %d body %x, want ok (duplicate %v)",
				what, number, reply.status, reply.aux, reply.flags, reply.body, duplicate)
		}
		return reply.aux
	}
	applied("a write on shard 0", 1, on[0][1], false)
	byNode("a chain refused by the node far above the window", 1000)
	applied("the first write resent", 1, on[0][1], true)
	byNode("the refused chain under the applied number", 1)
	applied("a write under the refused chain's number", 1000, on[0][2], false)
	byNode("the refused chain again under that number", 1000)
	// Section 7: a shard that never applied a number applies a new body's events there.
	applied("a write on shard 1 under a number only shard 0 applied", 1000, on[1][1], false)
	applied("a write moving shard 1's window", 1300, on[1][2], false)
	byNode("the refused chain below the window", 2)
}

// More statuses and operations of sections 11 and 12.
const (
	h48OperationPlaceOrders   = 21
	h48StatusPermissionDenied = 204
)

// TestHunt48RefusalOrderWithRate: section 6, "The checks run in this order: permission,
// flags, shape (invalid_body, empty_request, too_many_events), rate, then the shard's
// own": a request refused by an earlier check never reaches the rate check, so it is
// answered that refusal with the rate spent, and it spends nothing of the rate when the
// rate is not spent. A client with transfer permission (not trade) and a rate of one
// request per 1000 s, on a node of two shards.
func TestHunt48RefusalOrderWithRate(t *testing.T) {
	data := t.TempDir()
	secretHex := "48484848484848484848484848484848484848484848484848484848484848aa"
	keys := filepath.Join(data, "hunt48-keys.json")
	file := `{"version": 1, "clients": [
 {"id": 2, "name": "slow", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}], "grants": [{"scopes": ["operator"]}],
  "limits": {"requests_per_second": 0.001}}]}`
	secret := docWriteKeys(t, keys, file, secretHex)
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash", "--keys", keys)
	c := docLoginAs(t, address, 2, 1, secret, 4808)
	number := uint64(0)
	expect := func(what string, operation, flags byte, body []byte, status uint32) {
		t.Helper()
		number++
		reply := c.request(operation, flags, number, body)
		if reply.status != status || reply.aux != 0 || len(reply.body) != 0 {
			t.Fatalf("%s: status %d aux %d body %d bytes, want %d, aux 0, no body", what,
				reply.status, reply.aux, len(reply.body), status)
		}
	}
	earlier := func(spent string) {
		t.Helper()
		expect("place_orders without trade, empty"+spent, h48OperationPlaceOrders, 2, nil,
			h48StatusPermissionDenied)
		expect("an undefined flag on an empty request"+spent, docOperationCreateAccounts, 2,
			nil, docStatusInvalidBody)
		expect("create_accounts of 0 events"+spent, docOperationCreateAccounts, 0, nil,
			h48StatusEmptyRequest)
		expect("lookup_accounts of 8190 ids"+spent, docOperationLookupAccounts, 0,
			make([]byte, 16*(h48EventsMax+1)), h48StatusTooManyEvents)
	}
	earlier("")
	number++
	if reply := c.request(docOperationCreateAccounts, 0, number, docAccount(4_808_001)); reply.status != docStatusOK {
		t.Fatalf("the first request the rate lets through: status %d, want ok", reply.status)
	}
	expect("a second request", docOperationCreateAccounts, 0, docAccount(4_808_002),
		docStatusRateLimited)
	earlier(", with the rate spent")
}

// h48ErrorSessionTakenOver is section 13's session_taken_over.
const h48ErrorSessionTakenOver = 1020

// TestHunt48SessionPerClient: section 2, "A connection carries exactly one session,
// identified by the pair (client id, session id)"; section 5, "A login to a session held
// by another connection closes that other connection (error session_taken_over)";
// section 7, "The server remembers, per (client, session), ...": on a node of two
// shards, two clients using one session id hold two sessions (neither takes the other
// over; the same numbers with other bodies are new requests, on either shard), while a
// second login of the same client and session takes the first connection over, and a
// request applied on it answers on the new one from the cache.
func TestHunt48SessionPerClient(t *testing.T) {
	data := t.TempDir()
	secretHex := "4848484848484848484848484848484848484848484848484848484848484801"
	keys := filepath.Join(data, "hunt48-keys.json")
	file := `{"version": 1, "clients": [
 {"id": 2, "name": "one", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}]},
 {"id": 3, "name": "two", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}]}]}`
	secret := docWriteKeys(t, keys, file, secretHex)
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash", "--keys", keys)
	const session = 4809
	on := docIDsOnShards(t, 4_890_000, 2)
	split := func(i int) []byte {
		return slices.Concat(docAccount(on[0][i]), docAccount(on[1][i]))
	}
	one := docLoginAs(t, address, 2, 1, secret, session)
	two := docLoginAs(t, address, 3, 1, secret, session)
	first := one.request(docOperationCreateAccounts, 0, 1, split(0))
	second := two.request(docOperationCreateAccounts, 0, 1, split(1))
	for i, reply := range []docFrame{first, second} {
		if reply.status != docStatusOK || reply.flags != 0 || eventStatus(reply.body, 0) != docStatusOK ||
			eventStatus(reply.body, 1) != docStatusOK {
			t.Fatalf("client %d's request 1 under session %d: status %d flags %d body %x, want "+
				"both accounts created", i+2, session, reply.status, reply.flags, reply.body)
		}
	}
	again := one.request(docOperationCreateAccounts, 0, 1, split(0))
	if again.status != docStatusOK || again.flags != docReplyFlagDuplicate ||
		!slices.Equal(again.body, first.body) {
		t.Fatalf("client 2's request 1 resent: status %d flags %d, want its duplicate",
			again.status, again.flags)
	}
	taker := docLoginAs(t, address, 2, 1, secret, session)
	one.expectErrorClosed("the connection taken over", h48ErrorSessionTakenOver, 0, session)
	resent := taker.request(docOperationCreateAccounts, 0, 1, split(0))
	if resent.status != docStatusOK || resent.flags != docReplyFlagDuplicate ||
		!slices.Equal(resent.body, first.body) || resent.aux != first.aux {
		t.Fatalf("request 1 resent after the takeover: status %d flags %d, want its duplicate",
			resent.status, resent.flags)
	}
	if reply := two.request(docOperationLookupAccounts, 0, 2, docIDs(on[0][1])); len(reply.body) != 128 {
		t.Fatalf("client 3's connection after client 2's takeover: status %d body %d bytes",
			reply.status, len(reply.body))
	}
}

// h48ErrorTruncatedFrame is section 13's truncated_frame.
const h48ErrorTruncatedFrame = 1008

// TestHunt48SessionFieldIgnoredAndTruncated: section 3, "in every other frame a client
// sends after the login (heartbeat, subscribe, md_subscribe, logout) the server ignores
// it [the session field]": a heartbeat, a subscribe and a logout carrying another
// session are taken; and step 1, "the stream ending inside a frame, header or body:
// truncated_frame" with number 0, seen by a client that half-closes inside a header.
func TestHunt48SessionFieldIgnoredAndTruncated(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4810)
	c.write(docEncode(docKindHeartbeat, 0, 0, 999, 0, nil))
	body := make([]byte, 16)
	c.write(docEncode(h48KindSubscribe, 0, 0, 999, 0, body))
	expectSubscribed(t, "a subscribe carrying another session", c.next(), docStatusOK, 0)
	c.write(docEncode(h48KindLogout, 0, 0, 999, 0, nil))
	if answer := c.next(); answer.kind != h48KindLogout || answer.session != c.session {
		t.Fatalf("a logout carrying another session: kind %d status %d session %d, want a "+
			"logout with the login's session", answer.kind, answer.status, answer.session)
	}

	for _, cut := range []int{20, docHeaderBytes + 64} {
		c := docLogin(t, address, data, 4811)
		frame := docEncode(docKindRequest, docOperationCreateAccounts, 0, c.session, 7,
			docAccount(4_810_001))
		c.write(frame[:cut])
		if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.expectErrorClosed("a stream ended inside a frame", h48ErrorTruncatedFrame, 0,
			c.session)
	}
}

// Operations and statuses of the matching engine (sections 10, 11 and 18).
const (
	h48OperationCreateInstruments   = 20
	h48OperationLookupInstruments   = 25
	h48OperationCancelOrders        = 22
	h48OperationReplaceOrders       = 23
	h48OperationMassCancel          = 24
	h48OperationLookupOrders        = 26
	h48OperationGetAccountOrders    = 27
	h48StatusInstrumentShardUnknown = 85
	h48StatusInstrumentNotFound     = 102
)

// TestHunt48OrdersOnSeveralShards: section 18, "Order ids are numbered by each shard on
// its own ... (hence instrument_shard_unknown for a command naming only an order)", and
// its table: 85 instrument_shard_unknown, "a command naming only an order, on a node with
// instruments on several shards". On a node of two shards with instrument 2 on shard 1:
// lookup_orders, and get_account_orders of every instrument (0), are refused whole with
// status 85 in the reply header, aux 0, no body, and the connection stays (a
// get_account_orders of instrument 0 ended the node: the router indexed the parts of a
// query that had none); cancel_orders, replace_orders and a mass_cancel of every
// instrument are answered ok, 85 in each result, aux 0 (refused by the node); a
// get_account_orders naming an instrument is answered by its shard (instrument_not_found:
// it was never created).
func TestHunt48OrdersOnSeveralShards(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash",
		"--placement-instruments", "2:1")
	c := docLogin(t, address, data, 4812)
	// Section 18's map of this node: 2 shards, hash placement, one instrument entry (2 on
	// shard 1) at offset 40 (no ledger or range entries before it), default instrument
	// shard 0.
	shardMap := c.request(docOperationGetShardMap, 0, 100, nil)
	if shards, placement := h48ShardMap(t, shardMap.body); shards != 2 || placement != 3 ||
		endian.LittleEndian.Uint16(shardMap.body[22:]) != 0 ||
		endian.LittleEndian.Uint32(shardMap.body[32:]) != 1 || len(shardMap.body) != 48 ||
		endian.LittleEndian.Uint32(shardMap.body[40:]) != 2 ||
		endian.LittleEndian.Uint16(shardMap.body[44:]) != 1 {
		t.Fatalf("shard map %x, want 2 shards, hash, instrument 2 on shard 1", shardMap.body)
	}
	filter := func(instrument uint32) []byte {
		body := make([]byte, 32)
		endian.LittleEndian.PutUint64(body, 1)               // account
		endian.LittleEndian.PutUint32(body[16:], instrument) // 0: every instrument
		endian.LittleEndian.PutUint32(body[20:], 10)         // limit
		return body
	}
	number := uint64(0)
	for round := range 2 {
		for _, read := range []struct {
			what      string
			operation byte
			body      []byte
		}{
			{"get_account_orders of every instrument", h48OperationGetAccountOrders, filter(0)},
			{"lookup_orders", h48OperationLookupOrders, make([]byte, 16)},
		} {
			number++
			reply := c.request(read.operation, 0, number, read.body)
			if reply.status != h48StatusInstrumentShardUnknown || reply.aux != 0 ||
				reply.flags != 0 || len(reply.body) != 0 {
				t.Fatalf("round %d, %s: status %d aux %d flags %d body %d bytes, want "+
					"instrument_shard_unknown (85), aux 0, no body", round, read.what,
					reply.status, reply.aux, reply.flags, len(reply.body))
			}
		}
	}
	cancel := make([]byte, 32)
	endian.LittleEndian.PutUint64(cancel, 1)      // client_order_id
	endian.LittleEndian.PutUint64(cancel[8:], 1)  // account
	endian.LittleEndian.PutUint64(cancel[16:], 5) // order_id
	replace := append(slices.Clone(cancel), make([]byte, 32)...)
	endian.LittleEndian.PutUint64(replace[32:], 10) // price
	endian.LittleEndian.PutUint64(replace[40:], 1)  // quantity
	massCancel := slices.Clone(cancel)
	endian.LittleEndian.PutUint64(massCancel[16:], 0) // instrument 0, side 0: everything
	for _, write := range []struct {
		what         string
		operation    byte
		body         []byte
		statusOffset int
	}{
		{"cancel_orders", h48OperationCancelOrders, cancel, 16},
		{"replace_orders", h48OperationReplaceOrders, replace, 16},
		{"mass_cancel of every instrument", h48OperationMassCancel, massCancel, 8},
	} {
		number++
		reply := c.request(write.operation, 0, number, write.body)
		if reply.status != docStatusOK || reply.aux != 0 || len(reply.body) == 0 ||
			endian.LittleEndian.Uint32(reply.body[write.statusOffset:]) != h48StatusInstrumentShardUnknown {
			t.Fatalf("%s: status %d aux %d body %x, want ok, aux 0, result status 85",
				write.what, reply.status, reply.aux, reply.body)
		}
	}
	number++
	if reply := c.request(h48OperationGetAccountOrders, 0, number, filter(2)); reply.status != h48StatusInstrumentNotFound ||
		len(reply.body) != 0 {
		t.Fatalf("get_account_orders of instrument 2 (never created): status %d body %d "+
			"bytes, want its shard's instrument_not_found", reply.status, len(reply.body))
	}

	// Instruments 1 (shard 0) and 2 (shard 1) created by one split request, then looked
	// up in an order of their own, one asked twice and one missing: section 6's lookup
	// order holds across shards.
	instrument := func(id uint32) []byte {
		record := make([]byte, 128)
		endian.LittleEndian.PutUint32(record, id)
		endian.LittleEndian.PutUint32(record[4:], 1)     // base ledger
		endian.LittleEndian.PutUint32(record[8:], 2)     // quote ledger
		endian.LittleEndian.PutUint64(record[16:], 1)    // tick size
		endian.LittleEndian.PutUint64(record[24:], 1)    // lot size
		endian.LittleEndian.PutUint64(record[32:], 1)    // quantity min
		endian.LittleEndian.PutUint64(record[40:], 1000) // quantity max
		return record
	}
	number++
	created := c.request(h48OperationCreateInstruments, 0, number,
		slices.Concat(instrument(1), instrument(2)))
	if created.status != docStatusOK || created.aux == 0 || eventStatus(created.body, 0) != docStatusOK ||
		eventStatus(created.body, 1) != docStatusOK {
		t.Fatalf("create_instruments 1 and 2: status %d aux %d body %x", created.status,
			created.aux, created.body)
	}
	asked := []uint32{2, 1, 3, 2}
	ids := make([]byte, 8*len(asked))
	for i, id := range asked {
		endian.LittleEndian.PutUint32(ids[8*i:], id)
	}
	number++
	found := c.request(h48OperationLookupInstruments, 0, number, ids)
	var got []uint32
	for i := 0; i+128 <= len(found.body); i += 128 {
		got = append(got, endian.LittleEndian.Uint32(found.body[i:]))
	}
	if found.status != docStatusOK || len(found.body)%128 != 0 || !slices.Equal(got, []uint32{2, 1, 2}) {
		t.Fatalf("lookup_instruments of %v: status %d records %v, want [2 1 2]", asked,
			found.status, got)
	}
}
