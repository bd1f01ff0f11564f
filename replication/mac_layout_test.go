package replication

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// TestMACLayoutsAreTheWireContract: the link's and the witness reply's MACs are computed
// by one function (labelledMAC); nodes and witnesses of other builds compute them with
// their own code, so the bytes covered must stay exactly label | type | nonce(s) | epoch
// (little-endian) | payload, the v3 reply's payload being id length (u16) | id | reply
// and the v3 request's id length (u16) | id | body.
// Computed here by hand from that layout.
func TestMACLayoutsAreTheWireContract(t *testing.T) {
	key := []byte("key of the pair")
	nonce := bytes.Repeat([]byte{0xA5}, nonceSize)
	nodeNonce := bytes.Repeat([]byte{0x5A}, nonceSize)
	payload := []byte("payload bytes")
	const epoch = 0x0102030405060708
	epochBytes := []byte{8, 7, 6, 5, 4, 3, 2, 1}
	byHand := func(parts ...[]byte) []byte {
		h := hmac.New(sha256.New, key)
		for _, part := range parts {
			h.Write(part)
		}
		return h.Sum(nil)
	}
	if got, want := mac(key, frameHello, nonce, epoch, payload), byHand(
		[]byte("sequent-replication-v1"), []byte{byte(frameHello)}, nonce, epochBytes,
		payload); !bytes.Equal(got, want) {
		t.Fatalf("link mac %x, want %x", got, want)
	}
	if got, want := leaseReplyMAC(key, nodeNonce, nonce, epoch, payload), byHand(
		[]byte(leaseReplyLabel), []byte{byte(frameLeaseReplySigned)}, nodeNonce, nonce,
		epochBytes, payload); !bytes.Equal(got, want) {
		t.Fatalf("lease reply mac %x, want %x", got, want)
	}
	// v3 (session 38): the witness's id, its length first (u16), between epoch and reply.
	if got, want := leaseIdentifiedReplyMAC(key, "w-1", nodeNonce, nonce, epoch, payload),
		byHand([]byte("sequent-witness-reply-v3"), []byte{17}, nodeNonce, nonce, epochBytes,
			[]byte{3, 0}, []byte("w-1"), payload); !bytes.Equal(got, want) {
		t.Fatalf("identified lease reply mac %x, want %x", got, want)
	}
	// The v3 request (session 38): the link's mac of type 16 over the id the node pins
	// (length u16, then bytes; never sent) before the body after the mac.
	if got, want := leaseRequestMAC(key, frameLeaseRequestIdentified, nonce, epoch, "w-1",
		payload), byHand([]byte("sequent-replication-v1"), []byte{16}, nonce, epochBytes,
		[]byte{3, 0}, []byte("w-1"), payload); !bytes.Equal(got, want) {
		t.Fatalf("identified lease request mac %x, want %x", got, want)
	}
	// Earlier requests: the link's mac of the body alone, whatever id is passed.
	if got, want := leaseRequestMAC(key, frameLeaseRequestSigned, nonce, epoch, "w-1",
		payload), mac(key, frameLeaseRequestSigned, nonce, epoch, payload); !bytes.Equal(got,
		want) {
		t.Fatalf("signed lease request mac %x, want %x", got, want)
	}
}
