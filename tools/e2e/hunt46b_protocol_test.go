package e2e

// Session 46's protocol hunt (helper hunt46b): promises of netio/PROTOCOL.md checked
// against a real `sequent serve` process by a client that encodes every frame from the
// document's words alone (no netio/wire, no netio/client), so that a mismatch between
// the code and the document cannot hide behind a shared encoder.

import (
	"crypto/hmac"
	"crypto/sha256"
	endian "encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
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
	client, key, secret := credentials(t, data)
	return docLoginAs(t, address, client, key, secret, session)
}

// docLoginAs is docLogin with the client, key and secret given.
func docLoginAs(t *testing.T, address string, client uint64, key uint32, secret []byte,
	session uint64) *docConn {
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
	c.write(docEncode(docKindLogin, 0, 0, session, 0,
		docLoginBody(challenge.body, client, key, secret, session)))
	if accepted := c.next(); accepted.kind != docKindLoginAccepted {
		t.Fatalf("login answered kind %d status %d %q", accepted.kind, accepted.status,
			accepted.body)
	}
	return c
}

// docWriteKeys writes file, a keys file whose clients' key secrets are secretHex, at
// path (for `sequent serve --keys`), and returns the secret's bytes for docLoginAs.
func docWriteKeys(t *testing.T, path, file, secretHex string) []byte {
	t.Helper()
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// docLoginBody is the body of a login frame answering challenge (section 4): the client
// and key ids, then the HMAC-SHA256 under secret of the challenge's nonce, the client,
// the key and the session.
func docLoginBody(challenge []byte, client uint64, key uint32, secret []byte,
	session uint64) []byte {
	message := make([]byte, 56)
	copy(message, challenge[:32])
	endian.LittleEndian.PutUint64(message[32:], client)
	endian.LittleEndian.PutUint32(message[40:], key)
	endian.LittleEndian.PutUint64(message[48:], session)
	mac := hmac.New(sha256.New, secret)
	mac.Write(message)
	body := make([]byte, 48)
	endian.LittleEndian.PutUint64(body, client)
	endian.LittleEndian.PutUint32(body[8:], key)
	copy(body[16:], mac.Sum(nil))
	return body
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
// op of shard 0's cached part there. (And, as section 18 says, the first attempt's
// shard-0 event alone is a duplicate: no shard can tell it from the first attempt.)
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
	// Section 18: a shard compares only its own part, so the first attempt's shard-0
	// event alone is answered from shard 0's cache as a duplicate.
	subset := c.request(docOperationCreateAccounts, 0, 1, docAccount(on[0][0]))
	if subset.status != docStatusOK || subset.flags != docReplyFlagDuplicate ||
		subset.aux == 0 || !slices.Equal(subset.body, first.body[:docEventResultBytes]) {
		t.Fatalf("resend of the shard-0 part alone: status %d flags %d aux %d body %x, want "+
			"ok, duplicate, an op, shard 0's result %x", subset.status, subset.flags,
			subset.aux, subset.body, first.body[:docEventResultBytes])
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

// More kinds and statuses of sections 4 and 12.
const (
	docKindSubscribe      = 9
	docKindSubscribed     = 10
	docKindMDSubscribe    = 20
	docKindMDSubscribed   = 21
	docStatusRateLimited  = 202
	docStatusInvalidBody  = 206
	docErrorUnexpected    = 1009
	docEventResultExists  = 14
	docEventResultBytes   = 16
	docSubscribeShardsMax = 256
)

// sendSubscribe sends a subscribe frame (section 4: from_sequence, shard).
func (c *docConn) sendSubscribe(fromSequence, shard uint64) {
	c.t.Helper()
	body := make([]byte, 16)
	endian.LittleEndian.PutUint64(body, fromSequence)
	endian.LittleEndian.PutUint64(body[8:], shard)
	c.write(docEncode(docKindSubscribe, 0, 0, c.session, 0, body))
}

// subscribe sends a subscribe frame and returns the answer, which must be a subscribed
// frame.
func (c *docConn) subscribe(fromSequence, shard uint64) docFrame {
	c.t.Helper()
	c.sendSubscribe(fromSequence, shard)
	answer := c.next()
	if answer.kind != docKindSubscribed || len(answer.body) != 16 {
		c.t.Fatalf("subscribe with shard field %d answered kind %d status %d %q", shard,
			answer.kind, answer.status, answer.body)
	}
	return answer
}

// expectError reads the next frame and requires an error frame with code.
func (c *docConn) expectError(code uint32) {
	c.t.Helper()
	if frame := c.next(); frame.kind != docKindError || frame.status != code {
		c.t.Fatalf("got kind %d status %d %q, want error %d", frame.kind, frame.status,
			frame.body, code)
	}
}

// expectSubscribed requires an answer with status and label (header number); refused,
// its aux and body are zero (section 4, subscribed), accepted its aux (next_sequence) is
// not.
func expectSubscribed(t *testing.T, what string, answer docFrame, status uint32,
	label uint64) {
	t.Helper()
	zeroBody := endian.LittleEndian.Uint64(answer.body) == 0 &&
		endian.LittleEndian.Uint64(answer.body[8:]) == 0
	refusedRight := status == docStatusOK || (answer.aux == 0 && zeroBody)
	acceptedRight := status != docStatusOK || answer.aux != 0
	if answer.status != status || answer.number != label || !refusedRight || !acceptedRight {
		t.Fatalf("%s: status %d number %d aux %d body %x, want status %d number %d", what,
			answer.status, answer.number, answer.aux, answer.body, status, label)
	}
}

// TestHunt46bSubscribeShardField: section 4, subscribe: "A value s + 1 from 1 to 256
// names shard s: on a node of N shards, s must be below N ..., else the subscription is
// refused with status 206 invalid_body"; "A value above 256 names no shard and is taken
// as 0"; the label is "the field as sent (0 to 256; 0 for a value above 256)"; "0 and
// d + 1 (d the default instrument shard) name the same shard", and a second accepted
// subscription to a shard is unexpected_frame (section 8), while a refused one does not
// count. Checked at the bounds, on a node of one shard and on one of two whose default
// instrument shard is 1.
func TestHunt46bSubscribeShardField(t *testing.T) {
	one := t.TempDir()
	oneAddress := freePort(t)
	startServer(t, one, oneAddress)
	c := docLogin(t, oneAddress, one, 4603)
	expectSubscribed(t, "one shard, field 256", c.subscribe(0, docSubscribeShardsMax),
		docStatusInvalidBody, docSubscribeShardsMax)
	expectSubscribed(t, "one shard, field 257", c.subscribe(0, docSubscribeShardsMax+1),
		docStatusOK, 0)
	c.sendSubscribe(0, 1) // Shard 0 again, by its other name.
	c.expectError(docErrorUnexpected)

	two := t.TempDir()
	twoAddress := freePort(t)
	startServer(t, two, twoAddress, "--shards", "2", "--placement-instrument-default", "1")
	c = docLogin(t, twoAddress, two, 4603)
	expectSubscribed(t, "two shards, field 3", c.subscribe(0, 3), docStatusInvalidBody, 3)
	expectSubscribed(t, "two shards, field 1 (shard 0)", c.subscribe(0, 1), docStatusOK, 1)
	expectSubscribed(t, "two shards, field 2^63 (the default instrument shard, 1)",
		c.subscribe(0, 1<<63), docStatusOK, 0)
	c.sendSubscribe(0, 2) // Shard 1 again, by its other name.
	c.expectError(docErrorUnexpected)
}

// docMarketDataSubscribe encodes an md_subscribe (section 8a: instrument, channels,
// from_op).
func docMarketDataSubscribe(session uint64, instrument, channels uint32, fromOp uint64) []byte {
	body := make([]byte, 16)
	endian.LittleEndian.PutUint32(body, instrument)
	endian.LittleEndian.PutUint32(body[4:], channels)
	endian.LittleEndian.PutUint64(body[8:], fromOp)
	return docEncode(docKindMDSubscribe, 0, 0, session, 0, body)
}

// TestHunt46bRateLimited: section 6, rate_limited (202): "The rate check charges a
// request's events whole, against a bucket of one second of them: a request of more
// events than the client's events_per_second is refused rate_limited at every attempt",
// refusals carry aux 0 and an empty body; section 14: "a rate below 1 ... lets one
// request through every 1/rate seconds"; "every request, subscribe and md_subscribe
// frame counts as one request", and each is refused in its own answer: subscribed with
// status 202, its label, aux and body zero (section 4); md_subscribed with status 202,
// live_from_op (aux) 0, the instrument, channels and from_op echoed (section 8a). The
// keys file is section 15's.
func TestHunt46bRateLimited(t *testing.T) {
	data := t.TempDir()
	secretHex := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	keys := filepath.Join(data, "hunt46b-keys.json")
	file := `{"version": 1, "clients": [
 {"id": 2, "name": "events", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}],
  "limits": {"requests_per_second": 1000, "events_per_second": 3}},
 {"id": 3, "name": "requests", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}],
  "limits": {"requests_per_second": 0.001}}]}`
	secret := docWriteKeys(t, keys, file, secretHex)
	address := freePort(t)
	startServer(t, data, address, "--keys", keys)

	events := docLoginAs(t, address, 2, 1, secret, 4604)
	four := slices.Concat(docAccount(4_604_001), docAccount(4_604_002), docAccount(4_604_003),
		docAccount(4_604_004))
	for attempt := 1; attempt <= 2; attempt++ {
		if reply := events.request(docOperationCreateAccounts, 0, 1, four); reply.status != docStatusRateLimited ||
			reply.aux != 0 || len(reply.body) != 0 {
			t.Fatalf("attempt %d of 4 events at 3 per second: status %d aux %d body %d bytes, "+
				"want rate_limited, aux 0, no body", attempt, reply.status, reply.aux,
				len(reply.body))
		}
	}
	if reply := events.request(docOperationCreateAccounts, 0, 2, four[:3*128]); reply.status != docStatusOK {
		t.Fatalf("3 events at 3 per second: status %d, want ok", reply.status)
	}

	requests := docLoginAs(t, address, 3, 1, secret, 4605)
	if reply := requests.request(docOperationGetShardMap, 0, 1, nil); reply.status != docStatusOK {
		t.Fatalf("first request at 0.001 per second: status %d, want ok", reply.status)
	}
	if reply := requests.request(docOperationGetShardMap, 0, 2, nil); reply.status != docStatusRateLimited {
		t.Fatalf("second request at 0.001 per second: status %d, want rate_limited",
			reply.status)
	}
	expectSubscribed(t, "subscribe with the rate spent", requests.subscribe(0, 1),
		docStatusRateLimited, 1)
	requests.write(docMarketDataSubscribe(requests.session, 5, 3, 9))
	answer := requests.next()
	if answer.kind != docKindMDSubscribed || answer.status != docStatusRateLimited ||
		answer.aux != 0 || len(answer.body) != 32 ||
		endian.LittleEndian.Uint32(answer.body) != 5 ||
		endian.LittleEndian.Uint32(answer.body[4:]) != 3 ||
		endian.LittleEndian.Uint64(answer.body[8:]) != 9 {
		t.Fatalf("md_subscribe with the rate spent: kind %d status %d aux %d body %x, want "+
			"md_subscribed 202, aux 0, instrument 5, channels 3, from_op 9 echoed", answer.kind,
			answer.status, answer.aux, answer.body)
	}
	// A refused subscription does not count (section 8): the next is refused again, not
	// unexpected_frame.
	expectSubscribed(t, "subscribe again with the rate spent", requests.subscribe(0, 1),
		docStatusRateLimited, 1)
}

// TestHunt46bExactlyOnceAcrossCrashShards: section 7, "after its restart ... the resend
// is answered from the cache (flag duplicate) if the first attempt was applied", "with
// the original's aux"; "n already applied, but with another ... body:
// request_number_reused (213), nothing applied, empty body, aux 0"; section 18: "A
// request whose events live on several shards is split and its results come back in one
// reply ...: exactly-once holds as for any request"; and ids: "an identical transfer
// answers exists". On a node of two shards killed with SIGKILL and restarted: a split
// create_accounts and a request of two cross-shard transfers (one each way).
func TestHunt46bExactlyOnceAcrossCrashShards(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	s := startServer(t, data, address, "--shards", "2", "--placement", "hash")
	on := docIDsOnShards(t, 4_606_000, 2)
	// Accounts without debits_must_not_exceed_credits: the development key is an
	// operator, which may issue money (section 5).
	accounts := slices.Concat(docAccount(on[0][0]), docAccount(on[1][0]))
	accounts[118], accounts[128+118] = 0, 0
	transfers := slices.Concat(docTransfer(on[0][0]+100, on[0][0], on[1][0], 5),
		docTransfer(on[1][0]+100, on[1][0], on[0][0], 2))
	c := docLogin(t, address, data, 4606)
	first := [2]docFrame{c.request(docOperationCreateAccounts, 0, 1, accounts),
		c.request(docOperationCreateTransfers, 0, 2, transfers)}
	for i, reply := range first {
		if reply.status != docStatusOK || reply.aux == 0 || len(reply.body) != 2*docEventResultBytes ||
			eventStatus(reply.body, 0) != docStatusOK || eventStatus(reply.body, 1) != docStatusOK {
			t.Fatalf("request %d before the crash: status %d aux %d body %x", i+1, reply.status,
				reply.aux, reply.body)
		}
	}
	s.kill()
	s.restart()
	c = docLogin(t, address, data, 4606)
	for i, body := range [][]byte{accounts, transfers} {
		number := uint64(i + 1)
		again := c.request(first[i].operation, 0, number, body)
		if again.status != docStatusOK || again.flags != docReplyFlagDuplicate ||
			again.aux != first[i].aux || !slices.Equal(again.body, first[i].body) {
			t.Fatalf("request %d resent after the crash: status %d flags %d aux %d (first %d), "+
				"same body %v; want the first reply flagged duplicate", number, again.status,
				again.flags, again.aux, first[i].aux, slices.Equal(again.body, first[i].body))
		}
	}
	// Both transfers with another amount: each part differs from the first attempt's.
	changed := slices.Clone(transfers)
	changed[48]++
	changed[128+48]++
	reused := c.request(docOperationCreateTransfers, 0, 2, changed)
	if reused.status != docStatusRequestNumberReused || reused.aux != 0 || len(reused.body) != 0 {
		t.Fatalf("number 2 reused for another body after the crash: status %d aux %d body %d "+
			"bytes, want request_number_reused, aux 0, no body", reused.status, reused.aux,
			len(reused.body))
	}
	retried := c.request(docOperationCreateTransfers, 0, 3, transfers)
	if retried.status != docStatusOK || retried.flags != 0 ||
		eventStatus(retried.body, 0) != docEventResultExists ||
		eventStatus(retried.body, 1) != docEventResultExists {
		t.Fatalf("the transfers under a new number: status %d flags %d body %x, want ok with "+
			"exists for each", retried.status, retried.flags, retried.body)
	}
}

// docTransfer is a section 10 Transfer record: id, debit and credit accounts, amount,
// ledger 1, code 1, no flag.
func docTransfer(id, debit, credit, amount uint64) []byte {
	record := make([]byte, 128)
	endian.LittleEndian.PutUint64(record, id)
	endian.LittleEndian.PutUint64(record[16:], debit)
	endian.LittleEndian.PutUint64(record[32:], credit)
	endian.LittleEndian.PutUint64(record[48:], amount)
	endian.LittleEndian.PutUint32(record[112:], 1)
	endian.LittleEndian.PutUint16(record[116:], 1)
	return record
}

// eventStatus is the status of the index-th EventResult of a body (section 10: u32 at 8).
func eventStatus(body []byte, index int) uint32 {
	return endian.LittleEndian.Uint32(body[index*docEventResultBytes+8:])
}

// docStatusNotPrimary is section 12's not_primary.
const docStatusNotPrimary = 201

// TestHunt46bStandbyAnswers: what a client sees at a hot standby. Section 6:
// "not_primary (201): ... the body is the current primary's host:port in ASCII", with
// aux 0, after the checks before the shard's own ("permission, flags, shape, rate, then
// the shard's own": an undefined flag is still invalid_body there); section 8a: "201
// not_primary (only the primary serves market data ...)", an md_subscribed with aux 0 and
// the request echoed; section 8: a standby "keeps its report subscribers", so a live
// subscribe is accepted; and, as section 6 now says, a standby answers reads from its
// state (behind its primary's at most by what it has not applied yet).
func TestHunt46bStandbyAnswers(t *testing.T) {
	dir := t.TempDir()
	secretHex := "44556677445566774455667744556677445566774455667744556677445566aa"
	keys := filepath.Join(dir, "keys.json")
	file := `{"version": 1, "clients": [
 {"id": 1, "name": "operator", "permissions": ["read", "transfer"],
  "keys": [{"id": 1, "secret": "` + secretHex + `"}], "grants": [{"scopes": ["operator"]}]}]}`
	secret := docWriteKeys(t, keys, file, secretHex)
	primaryReplication := freePort(t)
	primary := startServer(t, filepath.Join(dir, "primary"), freePort(t), "--keys", keys,
		"--replication-listen", primaryReplication, "--replication-key", replicationTestKey)
	standby := startServer(t, filepath.Join(dir, "standby"), freePort(t), "--keys", keys,
		"--replication-listen", freePort(t), "--standby-of", primaryReplication,
		"--replication-key", replicationTestKey)

	writer := docLoginAs(t, primary.address, 1, 1, secret, 4607)
	if reply := writer.request(docOperationCreateAccounts, 0, 1, docAccount(4_607_001)); reply.status != docStatusOK {
		t.Fatalf("create_accounts at the primary: status %d", reply.status)
	}
	reader := docLoginAs(t, standby.address, 1, 1, secret, 4608)
	number := uint64(0)
	eventually(t, "the standby's lookup finding the primary's account", func() bool {
		number++
		return len(reader.request(docOperationLookupAccounts, 0, number,
			docIDs(4_607_001)).body) == 128
	})
	number++
	refused := reader.request(docOperationCreateAccounts, 0, number, docAccount(4_607_002))
	if refused.status != docStatusNotPrimary || refused.aux != 0 ||
		string(refused.body) != primary.address {
		t.Fatalf("a write at the standby: status %d aux %d body %q, want not_primary, aux 0, "+
			"body %q", refused.status, refused.aux, refused.body, primary.address)
	}
	number++
	if reply := reader.request(docOperationCreateAccounts, 2, number, docAccount(4_607_002)); reply.status != docStatusInvalidBody {
		t.Fatalf("a write with flag bit 1 at the standby: status %d, want invalid_body "+
			"(flags are checked before the shard's own refusals)", reply.status)
	}
	expectSubscribed(t, "a live subscribe at the standby", reader.subscribe(0, 0), docStatusOK, 0)
	reader.write(docMarketDataSubscribe(reader.session, 5, 3, 0))
	answer := reader.next()
	if answer.kind != docKindMDSubscribed || answer.status != docStatusNotPrimary ||
		answer.aux != 0 || len(answer.body) != 32 ||
		endian.LittleEndian.Uint32(answer.body) != 5 ||
		endian.LittleEndian.Uint32(answer.body[4:]) != 3 {
		t.Fatalf("md_subscribe at the standby: kind %d status %d aux %d body %x, want "+
			"md_subscribed not_primary, aux 0, instrument 5 and channels 3 echoed", answer.kind,
			answer.status, answer.aux, answer.body)
	}
}

// docOperationLookupAccounts is the operation lookup_accounts (section 11).
const docOperationLookupAccounts = 3

// docIDs encodes ids as section 10's Id events (u128, little-endian).
func docIDs(ids ...uint64) []byte {
	body := make([]byte, 16*len(ids))
	for i, id := range ids {
		endian.LittleEndian.PutUint64(body[16*i:], id)
	}
	return body
}
