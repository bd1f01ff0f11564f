package replication

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/shard"
)

// TestSignedReplyTamperingIsRefused: an attacker on the path changes what the signed
// (v2) reply's mac does not sit in: the frame header's epoch, the length (a byte
// appended), or the frame type with the mac dropped (a v1 reply to a v2 request, the
// downgrade an unsigned reply would need). Each is refused before any decision is read,
// so the node takes the witness for unreachable; the untouched reply is granted.
func TestSignedReplyTamperingIsRefused(t *testing.T) {
	_, witnessAddress := startTestWitness(t, testLeaseDuration)
	proxy := newWitnessProxy(t, witnessAddress)
	ask := func() (leaseAnswer, error) {
		return askWitness(t.Context(), proxy.address(), nil, testKey, leaseRenew, "a", 1,
			time.Now().Add(waitMax))
	}
	if answer, err := ask(); err != nil || !answer.granted || !answer.signed {
		t.Fatalf("untouched: %+v, %v; want granted, signed", answer, err)
	}
	onReply := func(change func(frame) frame) func(frame) frame {
		return func(f frame) frame {
			if f.kind == frameLeaseReplySigned {
				return change(f)
			}
			return f
		}
	}
	for _, attack := range []struct {
		name    string
		rewrite func(frame) frame
		want    error
	}{
		{"header epoch raised", func(f frame) frame { f.epoch++; return f },
			ErrWitnessReplyForged},
		{"header epoch lowered to 0", func(f frame) frame { f.epoch = 0; return f },
			ErrWitnessReplyForged},
		{"a byte appended", func(f frame) frame { f.body = append(f.body, 0); return f },
			ErrWitnessReplyForged},
		{"the last byte dropped", func(f frame) frame { f.body = f.body[:len(f.body)-1]; return f },
			ErrWitnessReplyForged},
		{"v1 reply (mac dropped, type 12)", func(f frame) frame {
			f.kind, f.body = frameLeaseReply, f.body[leaseReplyMACBytes:]
			return f
		}, ErrFrame},
		{"v1 type, mac kept", func(f frame) frame { f.kind = frameLeaseReply; return f }, ErrFrame},
	} {
		rewrittenBefore := proxy.rewritten.Load()
		proxy.setRewrite(onReply(attack.rewrite))
		answer, err := ask()
		if !errors.Is(err, attack.want) || answer.granted {
			t.Fatalf("%s: %+v, %v; want %v and no grant", attack.name, answer, err, attack.want)
		}
		if proxy.rewritten.Load() == rewrittenBefore {
			t.Fatalf("%s: the proxy changed nothing: the attack did not happen", attack.name)
		}
	}
}

// TestForgedRefusalFencesAsALostWitness: an attacker on the path turns the witness's
// renewals of the primary's lease into refusals. Before session 37 the primary believed
// them and fenced at once ("the witness gave the lease to another node"); now the reply's
// mac fails, each renewal counts as failed, and the primary fences only when its lease
// runs out unrenewed, as it would with the witness unreachable, naming the forgery.
func TestForgedRefusalFencesAsALostWitness(t *testing.T) {
	lease := testLeaseDuration
	_, witnessAddress := startTestWitness(t, lease)
	proxy := newWitnessProxy(t, witnessAddress)
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", proxy.address(),
		lease)
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	waitForFirstRenewal(t, primary)
	proxy.setRewrite(func(f frame) frame {
		if f.kind == frameLeaseReplySigned && len(f.body) > leaseReplyMACBytes {
			f.body[leaseReplyMACBytes] = 0 // granted: a refusal.
		}
		return f
	})
	const unrenewed = "replication: witness unreachable and the lease ran out: fencing"
	const givenAway = "replication: the witness gave the lease to another node: fencing"
	// The loss is counted after the fence's reason is logged, and the role changes after
	// both: once both are seen, the reason is there to read.
	waitFor(t, "the primary to fence", func() bool {
		return primary.Status().Lease.Losses >= 1 && primary.Role() != shard.RolePrimary
	})
	if messages.logged(givenAway) {
		t.Fatal("the primary fenced on a forged refusal as if the lease had been given away")
	}
	if value, ok := messages.attr(unrenewed, "last_error"); !ok ||
		!errors.Is(valueError(value), ErrWitnessReplyForged) {
		t.Fatalf("fenced naming %v (logged: %v), want ErrWitnessReplyForged", value, ok)
	}
	if status := primary.Status().Lease; status.RenewalFailures == 0 || status.Losses != 1 {
		t.Fatalf("lease counters %+v, want failed renewals and one loss", status)
	}
}

// valueError is the error a log record's attribute holds, or nil.
func valueError(value slog.Value) error {
	err, _ := value.Any().(error)
	return err
}

// TestStandbyLogsEachCauseOfAnUntrustedWitness: a standby's failover watch says at Error
// level, once, that it refused the witness's answer. The two causes mean different
// things: an unsigned witness (typically an upgrade done nodes first) and a reply whose
// mac fails (an attack on the path, or a corrupting middlebox). One said before (the
// upgrade window) must not silence the other later: the forged replies of an attack
// came out at Debug level only.
func TestStandbyLogsEachCauseOfAnUntrustedWitness(t *testing.T) {
	lease := 100 * time.Millisecond // Far shorter than the primary's heartbeat interval.
	_, witnessAddress := startTestWitness(t, lease)
	proxy := newWitnessProxy(t, witnessAddress)
	proxy.setRewrite(stripFeatures) // Phase 1: the witness looks like an earlier build.
	primaryAddress := freeAddress(t)
	primary := startNode(t, nodeConfig(t.TempDir(), primaryAddress, "")) // No witness.
	defer primary.Close()
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), primaryAddress), "b",
		proxy.address(), lease)
	config.Logger = slog.New(messages)
	standby := startNode(t, config)
	defer standby.Close()
	const refused = "replication: automatic failover refused the witness's answer"
	untrustedLogged := func(cause error) bool {
		messages.mutex.Lock()
		defer messages.mutex.Unlock()
		for i, message := range messages.messages {
			if message == refused && messages.levels[i] == slog.LevelError &&
				errors.Is(valueError(messages.attrs[i]["error"]), cause) {
				return true
			}
		}
		return false
	}
	waitFor(t, "the unsigned witness to be refused", func() bool {
		return untrustedLogged(ErrWitnessUnsigned)
	})
	// Phase 2: the witness signs, and every signed reply's mac is broken on the way.
	var forged atomic.Int64
	proxy.setRewrite(func(f frame) frame {
		if f.kind == frameLeaseReplySigned && len(f.body) > 0 {
			f.body[0] ^= 1
			forged.Add(1)
		}
		return f
	})
	// Since session 51 the watch sends a probe before each lease request, so a second
	// forged reply no longer means that the watch has dealt with the first: wait for the
	// message itself (waitFor fails the test when it never comes: an earlier unsigned
	// witness silenced the forged replies), after at least two forgeries.
	waitFor(t, "two forged replies", func() bool { return forged.Load() >= 2 })
	waitFor(t, "the forged replies said at Error level (an earlier unsigned witness "+
		"must not silence them)", func() bool { return untrustedLogged(ErrWitnessReplyForged) })
	if count := messages.count(refused); count != 2 {
		t.Fatalf("%q logged %d times, want once per cause (2)", refused, count)
	}
	if role := standby.Role(); role != shard.RoleStandby {
		t.Fatalf("the standby is %s", role)
	}
}

// TestReflectedRequestIsNotASignedReply: an impostor witness (it announces signed
// replies, it has no key) answers a node's v2 request with the request's own mac over a
// grant, or with the whole request echoed as the reply. The request's mac is the link's
// (its own label and frame type), so neither passes for the witness's: no grant.
func TestReflectedRequestIsNotASignedReply(t *testing.T) {
	challenge := append(bytes.Repeat([]byte{3}, nonceSize), encodeUint64s(witnessSignsReplies)...)
	grant := leaseAnswer{granted: true, holder: "b", epoch: 9, valid: time.Hour}.encode()
	reflect := func(reply func(request frame) []byte) func(*bufio.Writer, *frameReader) {
		return func(w *bufio.Writer, r *frameReader) {
			writeFrame(w, frameChallenge, 0, challenge)
			w.Flush()
			if request, err := r.read(); err == nil && request.kind == frameLeaseRequestSigned {
				writeFrame(w, frameLeaseReplySigned, request.epoch, reply(request))
			}
		}
	}
	cases := []struct {
		name  string
		reply func(request frame) []byte
	}{
		{"the request's mac over a grant", func(request frame) []byte {
			return append(bytes.Clone(request.body[:leaseRequestMACBytes]), grant...)
		}},
		{"the request echoed", func(request frame) []byte { return bytes.Clone(request.body) }},
	}
	answers := make([]func(*bufio.Writer, *frameReader), len(cases))
	for i, c := range cases {
		answers[i] = reflect(c.reply)
	}
	address := scriptedPeer(t, answers...)
	for _, c := range cases {
		answer, err := askWitness(t.Context(), address, nil, testKey, leaseAcquire, "b", 1,
			time.Now().Add(waitMax))
		if !errors.Is(err, ErrWitnessReplyForged) || answer.granted {
			t.Fatalf("%s: %+v, %v; want ErrWitnessReplyForged", c.name, answer, err)
		}
	}
}
