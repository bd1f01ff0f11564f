package replication

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/shard"
	"sequent/tools/testcert"
)

// witnessProxy stands between nodes and a witness, as an attacker on the path would: it
// passes the nodes' bytes through and reads the witness's frames one by one, rewrites
// them (rewrite, when set) and sends them on with a correct CRC. It records every frame
// it sent, and stops with the test.
type witnessProxy struct {
	listener  net.Listener
	target    string
	rewrite   atomic.Pointer[func(frame) frame]
	rewritten atomic.Int64 // Frames rewrite changed.
	// fromNodes counts the bytes the nodes sent, added once a node's side has ended
	// (nodesEnded counts those connections).
	fromNodes  atomic.Int64
	nodesEnded atomic.Int64
	mutex      sync.Mutex
	sent       []frame // Bodies copied.
	conns      []net.Conn
	done       sync.WaitGroup
}

func newWitnessProxy(t *testing.T, target string) *witnessProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &witnessProxy{listener: listener, target: target}
	p.done.Add(1)
	go p.accept()
	t.Cleanup(func() {
		listener.Close()
		p.mutex.Lock()
		for _, conn := range p.conns {
			conn.Close()
		}
		p.mutex.Unlock()
		p.done.Wait()
	})
	return p
}

func (p *witnessProxy) address() string { return p.listener.Addr().String() }

// setRewrite makes rewrite apply to the witness's frames from the next one on.
func (p *witnessProxy) setRewrite(rewrite func(frame) frame) { p.rewrite.Store(&rewrite) }

// frames returns the frames sent to the nodes so far.
func (p *witnessProxy) frames() []frame {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	return append([]frame(nil), p.sent...)
}

func (p *witnessProxy) keep(conn net.Conn) {
	p.mutex.Lock()
	p.conns = append(p.conns, conn)
	p.mutex.Unlock()
}

func (p *witnessProxy) accept() {
	defer p.done.Done()
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.keep(conn)
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			p.forward(conn)
		}()
	}
}

func (p *witnessProxy) forward(conn net.Conn) {
	defer conn.Close()
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.keep(upstream)
	defer upstream.Close()
	conn.SetDeadline(time.Now().Add(waitMax))
	upstream.SetDeadline(time.Now().Add(waitMax))
	go func() {
		copied, _ := io.Copy(upstream, conn)
		p.fromNodes.Add(copied)
		p.nodesEnded.Add(1)
		upstream.Close()
	}()
	reader, writer := newFrameReader(upstream), bufio.NewWriter(conn)
	for {
		f, err := reader.read()
		if err != nil {
			return
		}
		f.body = bytes.Clone(f.body)
		if rewrite := p.rewrite.Load(); rewrite != nil {
			original := frame{kind: f.kind, epoch: f.epoch, body: bytes.Clone(f.body)}
			if f = (*rewrite)(f); f.kind != original.kind || f.epoch != original.epoch ||
				!bytes.Equal(f.body, original.body) {
				p.rewritten.Add(1)
			}
		}
		p.mutex.Lock()
		p.sent = append(p.sent, f)
		p.mutex.Unlock()
		if writeFrame(writer, f.kind, f.epoch, f.body) != nil || writer.Flush() != nil {
			return
		}
	}
}

// forgeGrant turns a refusal into a grant in either version of the reply, as an attacker
// who knows the format (not the key) would.
func forgeGrant(f frame) frame {
	switch f.kind {
	case frameLeaseReply:
		f.body[0] = 1
	case frameLeaseReplySigned:
		f.body[leaseReplyMACBytes] = 1
	}
	return f
}

// stripFeatures makes a witness's challenge look like an earlier build's: no features.
func stripFeatures(f frame) frame {
	if f.kind == frameChallenge && len(f.body) >= witnessChallengeBytes {
		clear(f.body[nonceSize:witnessChallengeBytes])
	}
	return f
}

// TestForgedWitnessGrantDoesNotPromote: someone on the path between a standby and the
// witness turns the witness's refusal (the primary holds the lease) into a grant. The
// standby must not promote (split brain): the signed reply's mac fails, and a challenge
// made to look like an earlier witness's (so that the node would ask for an unsigned
// reply, which the attacker can forge) is refused without TLS. Before session 37 the
// replies were not authenticated, and the standby promoted.
func TestForgedWitnessGrantDoesNotPromote(t *testing.T) {
	lease := testLeaseDuration
	witness, witnessAddress := startTestWitness(t, lease)
	// The witness's clock stands still at its start: the primary's lease never runs out
	// there, and no acquisition is ever granted, whatever the machine's load.
	setManualClock(witness)
	primaryAddress := freeAddress(t)
	primary := startNode(t, withWitness(nodeConfig(t.TempDir(), primaryAddress, ""), "a",
		witnessAddress, lease))
	defer primary.Close()
	waitForFirstRenewal(t, primary)
	proxy := newWitnessProxy(t, witnessAddress)
	messages := &recordingHandler{}
	standbyConfig := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.address(), lease)
	standbyConfig.Logger = slog.New(messages)
	standby := startNode(t, standbyConfig)
	defer standby.Close()

	attacks := []struct {
		name    string
		rewrite func(frame) frame
		want    error
	}{
		{"grant written into the reply", forgeGrant, ErrWitnessReplyForged},
		{"challenge without features, grant written into the reply",
			func(f frame) frame { return forgeGrant(stripFeatures(f)) }, ErrWitnessUnsigned},
	}
	for _, attack := range attacks {
		proxy.setRewrite(attack.rewrite)
		rewrittenBefore := proxy.rewritten.Load()
		_, err := standby.Promote()
		if role := standby.Role(); role != shard.RoleStandby {
			t.Fatalf("%s: the standby is %s (promotion: %v): it took a forged grant",
				attack.name, role, err)
		}
		if !errors.Is(err, attack.want) {
			t.Fatalf("%s: promotion refused with %v, want %v", attack.name, err, attack.want)
		}
		if proxy.rewritten.Load() == rewrittenBefore {
			t.Fatalf("%s: the proxy changed nothing: the attack did not happen", attack.name)
		}
	}
	if primary.Role() != shard.RolePrimary {
		t.Fatalf("the primary is %s", primary.Role())
	}
}

// startReplayingWitness answers every connection with frames, whatever the node sends:
// an attacker replaying a witness's earlier challenge and reply. It stops with the test.
func startReplayingWitness(t *testing.T, frames []frame) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { listener.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(waitMax))
			writer := bufio.NewWriter(conn)
			for _, f := range frames {
				writeFrame(writer, f.kind, f.epoch, f.body)
			}
			writer.Flush()
			newFrameReader(conn).read() // The node's request, unread.
			conn.Close()
		}
	}()
	return listener.Addr().String()
}

// TestReplayedWitnessReplyIsRefused: a genuine grant recorded on the path, with the
// challenge it answered, replayed to a later request (the same node, kind and epoch)
// must be refused: the reply's mac covers the nonce the node drew for the request it
// answered, and each request draws a new one. Otherwise a standby's single grant, long
// run out, could be replayed whenever the standby asks again.
func TestReplayedWitnessReplyIsRefused(t *testing.T) {
	_, address := startTestWitness(t, testLeaseDuration)
	proxy := newWitnessProxy(t, address)
	ask := func(address string) (leaseAnswer, error) {
		return askWitness(t.Context(), address, nil, testKey, leaseRenew, "a", 1,
			time.Now().Add(waitMax))
	}
	if answer, err := ask(proxy.address()); err != nil || !answer.granted || !answer.signed {
		t.Fatalf("genuine renewal: %+v, %v; want granted, signed", answer, err)
	}
	recorded := proxy.frames()
	if len(recorded) != 2 || recorded[1].kind != frameLeaseReplySigned {
		t.Fatalf("recorded %d frames (%+v), want the challenge and a signed reply",
			len(recorded), recorded)
	}
	answer, err := ask(startReplayingWitness(t, recorded))
	if !errors.Is(err, ErrWitnessReplyForged) {
		t.Fatalf("replayed grant: %+v, %v; want ErrWitnessReplyForged", answer, err)
	}
}

// TestSignedLeaseGrantAndRenewal: a node without a pinned witness id and a witness of
// this build use v2 (signed replies) for an acquisition and the renewal of the lease it
// granted; the witness's challenge announces its id (read by pinned nodes only) and
// that it answers probes.
func TestSignedLeaseGrantAndRenewal(t *testing.T) {
	lease := testLeaseDuration
	witness, address := startTestWitness(t, lease)
	setManualClock(witness).advance(lease + time.Millisecond) // Past the start's wait.
	proxy := newWitnessProxy(t, address)
	ask := func(kind byte, epoch uint64) leaseAnswer {
		t.Helper()
		answer, err := askWitness(t.Context(), proxy.address(), nil, testKey, kind, "b", epoch,
			time.Now().Add(waitMax))
		if err != nil || !answer.granted || !answer.signed || answer.holder != "b" {
			t.Fatalf("kind %d at epoch %d: %+v, %v; want granted to b, signed", kind, epoch,
				answer, err)
		}
		return answer
	}
	granted := ask(leaseAcquire, 1)
	if granted.epoch != 2 || granted.valid != lease {
		t.Fatalf("acquisition: %+v, want epoch 2 for %v", granted, lease)
	}
	ask(leaseRenew, granted.epoch)
	const features = witnessSignsReplies | witnessProvesIdentity | witnessAnswersProbes |
		witnessTracksReleases
	wantChallenge := encodeWitnessChallenge(make([]byte, nonceSize), features, witness.ID())
	for _, f := range proxy.frames() {
		if f.kind == frameChallenge && (len(f.body) != len(wantChallenge) ||
			!bytes.Equal(f.body[nonceSize:], wantChallenge[nonceSize:])) {
			t.Fatalf("challenge %x, want a nonce and then %x (the features %d, the id %q)",
				f.body, wantChallenge[nonceSize:], features, witness.ID())
		}
		if f.kind != frameChallenge && f.kind != frameLeaseReplySigned {
			t.Fatalf("the witness sent a frame of type %d, want only challenges and signed replies",
				f.kind)
		}
	}
}

// TestWitnessServesEarlierNodes: a witness of this build answers a v1 request (built by
// hand, as the nodes of earlier builds send it) with the v1 reply, unchanged, so that
// the nodes keep their lease while the witness is upgraded before them. Its challenge
// is longer than the nonce, which is all an earlier node reads of it.
func TestWitnessServesEarlierNodes(t *testing.T) {
	lease := testLeaseDuration
	_, address := startTestWitness(t, lease)
	reply, err := exchangeLease(t, address, leaseRequest{kind: leaseRenew, epoch: 1,
		node: "a"}.encode())
	if err != nil {
		t.Fatalf("v1 request: %v", err)
	}
	want := leaseAnswer{granted: true, holder: "a", epoch: 1, valid: lease}.encode()
	if reply.kind != frameLeaseReply || reply.epoch != 1 || !bytes.Equal(reply.body, want) {
		t.Fatalf("v1 reply: type %d, epoch %d, body %x; want type %d, epoch 1, body %x",
			reply.kind, reply.epoch, reply.body, frameLeaseReply, want)
	}
}

// TestNodeAndAnUnsigningWitness: a witness that does not sign its replies (the earlier
// build) is asked nothing by a node without TLS, unless unsigned replies are allowed;
// over TLS, which authenticates the replies, the node uses v1. A primary allowed to use
// it keeps its lease and says that the witness should be upgraded.
func TestNodeAndAnUnsigningWitness(t *testing.T) {
	lease := testLeaseDuration
	witness, address := startTestWitness(t, lease)
	witness.earlierBuild.Store(true)
	if answer, err := askWitness(t.Context(), address, nil, testKey, leaseRenew, "a", 1,
		time.Now().Add(waitMax)); !errors.Is(err, ErrWitnessUnsigned) {
		t.Fatalf("without TLS: %+v, %v; want ErrWitnessUnsigned", answer, err)
	}
	witness.mutex.Lock()
	holder := witness.holder
	witness.mutex.Unlock()
	if holder != "" {
		t.Fatalf("the refused node's request reached the witness: holder %q", holder)
	}
	allowed := witnessClient{address: address, key: testKey, unsignedAllowed: true}
	if answer, err := allowed.ask(t.Context(), leaseRenew, "a", 1,
		time.Now().Add(waitMax)); err != nil || !answer.granted || answer.signed {
		t.Fatalf("unsigned allowed: %+v, %v; want granted, unsigned", answer, err)
	}

	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", address, lease)
	config.WitnessUnsignedAllowed = true
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	waitForFirstRenewal(t, primary)
	if !messages.loggedAt(slog.LevelWarn,
		"replication: witness does not sign its replies: upgrade it") {
		t.Fatal("the unsigned witness was not logged")
	}
}

// TestUnsigningWitnessOverTLS: over TLS a node uses an earlier witness's v1 (TLS
// authenticates the reply), and a witness of this build's v2.
func TestUnsigningWitnessOverTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent test CA")
	for _, earlier := range []bool{true, false} {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey,
			LeaseDuration: testLeaseDuration, Logger: testLogger,
			TLS: NewTLS(authority.Issue(t), authority.Pool())})
		defer witness.Close()
		witness.earlierBuild.Store(earlier)
		answer, err := askWitness(t.Context(), listener.Addr().String(),
			NewTLS(authority.Issue(t), authority.Pool()).Client, testKey, leaseRenew, "a", 1,
			time.Now().Add(waitMax))
		if err != nil || !answer.granted || answer.signed == earlier {
			t.Fatalf("earlier witness %v, over TLS: %+v, %v; want granted, signed %v",
				earlier, answer, err, !earlier)
		}
	}
}

// FuzzSignedLeaseCodecs: a v2 reply or request body of arbitrary bytes never panics the
// decoders; one that is signed with the key decodes as its payload does (what it accepts
// encodes back to the payload), and any single changed byte of it, or another nonce, is
// refused. The body is bounded by the frame reader (frameBodyBytesMax) in use; here by
// what the fuzzer generates.
func FuzzSignedLeaseCodecs(f *testing.F) {
	f.Add(leaseAnswer{granted: true, holder: "a:1", epoch: 2, valid: time.Second}.encode(),
		uint64(2), uint16(0))
	f.Add(leaseRequest{kind: leaseRenew, epoch: 2, node: "a:1"}.encode(), uint64(2), uint16(5))
	f.Add([]byte{}, uint64(0), uint16(0))
	nodeNonce, witnessNonce := bytes.Repeat([]byte{1}, nonceSize), bytes.Repeat([]byte{2}, nonceSize)
	f.Fuzz(func(t *testing.T, payload []byte, epoch uint64, flip uint16) {
		// Unsigned bytes: refused (nobody holds the key), without a panic.
		if _, err := decodeSignedLeaseAnswer(testKey, nodeNonce, witnessNonce, epoch,
			payload, decodeLeaseAnswer); err == nil {
			t.Fatal("an unsigned reply was accepted")
		}
		if _, _, err := openSignedLeaseRequest(testKey, witnessNonce, frame{
			kind: frameLeaseRequestSigned, epoch: epoch, body: payload}); err == nil {
			t.Fatal("an unsigned request was accepted")
		}
		body := append(leaseReplyMAC(testKey, nodeNonce, witnessNonce, epoch, payload),
			payload...)
		answer, err := decodeSignedLeaseAnswer(testKey, nodeNonce, witnessNonce, epoch, body,
			decodeLeaseAnswer)
		plain, plainErr := decodeLeaseAnswer(payload)
		if (err == nil) != (plainErr == nil) || errors.Is(err, ErrWitnessReplyForged) {
			t.Fatalf("signed reply: %v; its payload alone: %v", err, plainErr)
		}
		if err == nil && (!answer.signed || answer.granted != plain.granted ||
			answer.holder != plain.holder || answer.epoch != plain.epoch ||
			answer.valid != plain.valid) {
			t.Fatalf("signed reply read as %+v, its payload as %+v", answer, plain)
		}
		changed := bytes.Clone(body)
		changed[int(flip)%len(changed)] ^= 1
		if _, err := decodeSignedLeaseAnswer(testKey, nodeNonce, witnessNonce, epoch,
			changed, decodeLeaseAnswer); !errors.Is(err, ErrWitnessReplyForged) {
			t.Fatalf("reply with byte %d changed: %v, want ErrWitnessReplyForged",
				int(flip)%len(changed), err)
		}
		if _, err := decodeSignedLeaseAnswer(testKey, witnessNonce, witnessNonce, epoch,
			body, decodeLeaseAnswer); !errors.Is(err, ErrWitnessReplyForged) {
			t.Fatalf("reply for another node nonce: %v, want ErrWitnessReplyForged", err)
		}
		signed := append(mac(testKey, frameLeaseRequestSigned, witnessNonce, epoch,
			append(bytes.Clone(nodeNonce), payload...)), nodeNonce...)
		signed = append(signed, payload...)
		gotNonce, gotPayload, err := openSignedLeaseRequest(testKey, witnessNonce,
			frame{kind: frameLeaseRequestSigned, epoch: epoch, body: signed})
		if err != nil || !bytes.Equal(gotNonce, nodeNonce) || !bytes.Equal(gotPayload, payload) {
			t.Fatalf("signed request: nonce %x, payload %x, %v", gotNonce, gotPayload, err)
		}
		if r, err := decodeLeaseRequest(gotPayload); err == nil &&
			!bytes.Equal(r.encode(), payload) {
			t.Fatal("an accepted request does not encode back to its bytes")
		}
		// A request's mac is never a reply's: the labels differ.
		if _, err := decodeSignedLeaseAnswer(testKey, witnessNonce, witnessNonce, epoch,
			signed, decodeLeaseAnswer); err == nil {
			t.Fatal("a signed request was accepted as a reply")
		}
	})
}

// openSignedLeaseRequest checks a v2 request frame's mac against the witness's nonce and
// returns the node nonce and the payload (aliasing f's body), or ErrUnauthenticated.
func openSignedLeaseRequest(key, witnessNonce []byte, f frame) (nodeNonce, payload []byte,
	err error) {
	return openLeaseRequest(key, frameLeaseRequestSigned, witnessNonce, f, nonceSize, "")
}
