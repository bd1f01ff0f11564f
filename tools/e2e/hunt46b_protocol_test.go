package e2e

// Session 46's protocol hunt (helper hunt46b): promises of netio/PROTOCOL.md checked
// against a real `sequent serve` process by a client that encodes every frame from the
// document's words alone (no netio/wire, no netio/client), so that a mismatch between
// the code and the document cannot hide behind a shared encoder.

import (
	"crypto/hmac"
	"crypto/sha256"
	endian "encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"
)

// Frame kinds, operations and statuses as PROTOCOL.md sections 4, 11 and 12 number them.
const (
	docKindChallenge     = 1
	docKindLogin         = 2
	docKindLoginAccepted = 3
	docKindHeartbeat     = 5
	docKindRequest       = 6
	docKindReply         = 7
	docKindError         = 8

	docOperationCreateAccounts  = 1
	docOperationCreateTransfers = 2
	docOperationGetShardMap     = 7

	docStatusOK                  = 0
	docStatusRequestTooOld       = 208
	docStatusRequestNumberReused = 213

	docReplyFlagDuplicate = 1
)

// docHeaderBytes is section 3's header size; docFrameWait bounds every read of a frame
// (a hang guard only: nothing is asserted about time).
const (
	docHeaderBytes = 48
	docFrameWait   = 30 * time.Second
)

// docCastagnoli is section 3's CRC-32C, from the reflected polynomial the document gives.
var docCastagnoli = crc32.MakeTable(0x82F63B78)

// docFrame is a decoded frame, every header field as section 3's table names it.
type docFrame struct {
	kind, operation, flags byte
	status                 uint32
	session, number, aux   uint64
	body                   []byte
}

// docEncode builds a frame as section 3 says: magic "SQNT", version 1, the fields
// little-endian, bytes 40..43 zero and the CRC-32C of bytes 0..43 and the body at 44.
func docEncode(kind, operation, flags byte, session, number uint64, body []byte) []byte {
	frame := make([]byte, docHeaderBytes+len(body))
	endian.LittleEndian.PutUint32(frame[0:], 0x544E5153)
	frame[4], frame[5], frame[6], frame[7] = 1, kind, operation, flags
	endian.LittleEndian.PutUint32(frame[8:], uint32(len(body)))
	endian.LittleEndian.PutUint64(frame[16:], session)
	endian.LittleEndian.PutUint64(frame[24:], number)
	copy(frame[docHeaderBytes:], body)
	sum := crc32.Update(crc32.Update(0, docCastagnoli, frame[:44]), docCastagnoli, body)
	endian.LittleEndian.PutUint32(frame[44:], sum)
	return frame
}

// docConn is one connection of the document-only client.
type docConn struct {
	t       *testing.T
	conn    net.Conn
	session uint64
}

// docLogin connects, reads the challenge and logs in with the data directory's
// development key (section 4, login: HMAC-SHA256 over nonce, client, key, options and
// session), and expects login_accepted.
func docLogin(t *testing.T, address, data string, session uint64) *docConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, docFrameWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &docConn{t: t, conn: conn, session: session}
	challenge := c.next()
	if challenge.kind != docKindChallenge || len(challenge.body) != 48 {
		t.Fatalf("first frame kind %d (%d bytes), want a 48-byte challenge", challenge.kind,
			len(challenge.body))
	}
	client, key, secret := credentials(t, data)
	message := make([]byte, 56)
	copy(message, challenge.body[:32])
	endian.LittleEndian.PutUint64(message[32:], client)
	endian.LittleEndian.PutUint32(message[40:], key)
	endian.LittleEndian.PutUint64(message[48:], session)
	mac := hmac.New(sha256.New, secret)
	mac.Write(message)
	body := make([]byte, 48)
	endian.LittleEndian.PutUint64(body, client)
	endian.LittleEndian.PutUint32(body[8:], key)
	copy(body[16:], mac.Sum(nil))
	c.write(docEncode(docKindLogin, 0, 0, session, 0, body))
	if accepted := c.next(); accepted.kind != docKindLoginAccepted {
		t.Fatalf("login answered kind %d status %d %q", accepted.kind, accepted.status,
			accepted.body)
	}
	return c
}

func (c *docConn) write(frame []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame other than a heartbeat and checks its magic, version and
// checksum (section 3: what a client should check of the server's frames).
func (c *docConn) next() docFrame {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(docFrameWait))
		head := make([]byte, docHeaderBytes)
		if _, err := io.ReadFull(c.conn, head); err != nil {
			c.t.Fatalf("reading a frame header: %v", err)
		}
		frame := docFrame{kind: head[5], operation: head[6], flags: head[7],
			status:  endian.LittleEndian.Uint32(head[12:]),
			session: endian.LittleEndian.Uint64(head[16:]),
			number:  endian.LittleEndian.Uint64(head[24:]),
			aux:     endian.LittleEndian.Uint64(head[32:]),
			body:    make([]byte, endian.LittleEndian.Uint32(head[8:]))}
		if _, err := io.ReadFull(c.conn, frame.body); err != nil {
			c.t.Fatalf("reading a frame body: %v", err)
		}
		sum := crc32.Update(crc32.Update(0, docCastagnoli, head[:44]), docCastagnoli,
			frame.body)
		if endian.LittleEndian.Uint32(head[0:]) != 0x544E5153 || head[4] != 1 ||
			endian.LittleEndian.Uint32(head[44:]) != sum {
			c.t.Fatalf("server frame of kind %d fails section 3's checks", frame.kind)
		}
		if frame.kind != docKindHeartbeat {
			return frame
		}
	}
}

// request sends one request and returns its reply, which must echo the number.
func (c *docConn) request(operation, flags byte, number uint64, body []byte) docFrame {
	c.t.Helper()
	c.write(docEncode(docKindRequest, operation, flags, c.session, number, body))
	reply := c.next()
	if reply.kind != docKindReply || reply.number != number {
		c.t.Fatalf("request %d answered kind %d number %d status %d %q", number, reply.kind,
			reply.number, reply.status, reply.body)
	}
	return reply
}

// docAccount is a section 10 Account record: id, ledger 1, code 1, the flag
// debits_must_not_exceed_credits (2).
func docAccount(id uint64) []byte {
	record := make([]byte, 128)
	endian.LittleEndian.PutUint64(record, id)
	endian.LittleEndian.PutUint32(record[112:], 1)
	endian.LittleEndian.PutUint16(record[116:], 1)
	endian.LittleEndian.PutUint16(record[118:], 2)
	return record
}

// docHash is section 18's placement hash h of an id below 2^64 (its high 64 bits 0, so
// x starts as its low 64 bits).
func docHash(id uint64) uint64 {
	x := id
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// docIDsOnShards returns at least count ids from first on for each of two shards, by
// section 18's hash placement (h mod 2). It checks the document's own check value first (id 1 →
// 0x5692161d100b05e5), so that a wrong transcription fails here.
func docIDsOnShards(t *testing.T, first uint64, count int) [2][]uint64 {
	t.Helper()
	if docHash(1) != 0x5692161d100b05e5 || docHash(1000) != 0xc1936642eba4ead7 {
		t.Fatal("section 18's hash transcribed wrong")
	}
	var on [2][]uint64
	for id := first; len(on[0]) < count || len(on[1]) < count; id++ {
		shard := docHash(id) % 2
		on[shard] = append(on[shard], id)
	}
	return on
}

// TestHunt46bSplitRefusalAuxZero: section 3's header table, aux: "reply: log position
// (op) of a write whose request status is ok (for a duplicate, the original's op); 0 for
// reads and for every other status"; section 7: request_number_reused and
// request_too_old are answered with "aux 0". On a node of two shards (hash placement,
// section 18) a request split over both shards, resent under its number with its
// shard-1 part changed, is answered request_number_reused by shard 1 while shard 0
// answers its unchanged part from its cache (ok, with its op); and a split request
// resent once shard 1's window has moved 256 past its number is answered
// request_too_old. The merged reply must carry aux 0 in both cases: the server put the
// op of shard 0's cached part there.
func TestHunt46bSplitRefusalAuxZero(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash")
	c := docLogin(t, address, data, 4601)
	on := docIDsOnShards(t, 4_600_000, 3)
	split := append(docAccount(on[0][0]), docAccount(on[1][0])...)
	first := c.request(docOperationCreateAccounts, 0, 1, split)
	if first.status != docStatusOK || first.aux == 0 {
		t.Fatalf("split create_accounts: status %d aux %d, want ok with its op", first.status,
			first.aux)
	}
	duplicate := c.request(docOperationCreateAccounts, 0, 1, split)
	if duplicate.status != docStatusOK || duplicate.flags != docReplyFlagDuplicate {
		t.Fatalf("resend: status %d flags %d, want a duplicate", duplicate.status,
			duplicate.flags)
	}
	reused := c.request(docOperationCreateAccounts, 0, 1,
		append(docAccount(on[0][0]), docAccount(on[1][1])...))
	if reused.status != docStatusRequestNumberReused || reused.aux != 0 ||
		len(reused.body) != 0 || reused.flags != 0 {
		t.Fatalf("number reused with another shard-1 part: status %d aux %d flags %d body "+
			"%d bytes, want request_number_reused, aux 0, no flag, no body", reused.status,
			reused.aux, reused.flags, len(reused.body))
	}
	// Shard 1 alone moves its window 256 past number 1; shard 0 still holds 1's part.
	if moved := c.request(docOperationCreateAccounts, 0, 257, docAccount(on[1][2])); moved.status != docStatusOK {
		t.Fatalf("request 257 on shard 1: status %d", moved.status)
	}
	tooOld := c.request(docOperationCreateAccounts, 0, 1, split)
	if tooOld.status != docStatusRequestTooOld || tooOld.aux != 0 || len(tooOld.body) != 0 ||
		tooOld.flags != 0 {
		t.Fatalf("split resend below shard 1's window: status %d aux %d flags %d body %d "+
			"bytes, want request_too_old, aux 0, no flag, no body", tooOld.status, tooOld.aux,
			tooOld.flags, len(tooOld.body))
	}
}
