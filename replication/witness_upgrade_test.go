package replication

import (
	"bufio"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/core/shard"
)

// encodeEarlierWitnessRefusal is a refusal as the witness of the build before session 36
// encoded it: the time left on the holder's lease as is, so negative once that lease had
// run out (a renewal refused to another node), written into the unsigned valid field.
func encodeEarlierWitnessRefusal(holder string, epoch uint64, wait time.Duration) []byte {
	reply := make([]byte, 26, 26+len(holder))
	binary.LittleEndian.PutUint64(reply[8:], epoch)
	binary.LittleEndian.PutUint64(reply[16:], uint64(wait.Milliseconds()))
	binary.LittleEndian.PutUint16(reply[24:], uint16(len(holder)))
	return append(reply, holder...)
}

// TestRefusalOfAnEarlierWitnessIsARefusal: during a rolling upgrade (nodes first), a
// witness of the previous build answers a renewal refused after the holder's lease ran
// out with a negative wait, wrapped near 2^64 ms. The node must read it as the refusal it
// is: it used to refuse the whole reply (ErrFrame), so a primary whose lease the witness
// had given away took the answer for an unreachable witness.
func TestRefusalOfAnEarlierWitnessIsARefusal(t *testing.T) {
	answer, err := decodeLeaseAnswer(encodeEarlierWitnessRefusal("b", 5, -1500*time.Millisecond))
	if err != nil {
		t.Fatalf("an earlier witness's refusal: %v, want it read", err)
	}
	if answer.granted || answer.holder != "b" || answer.epoch != 5 || answer.valid != 0 {
		t.Fatalf("an earlier witness's refusal read as %+v, want refused, held by b at "+
			"epoch 5, valid 0", answer)
	}
}

// startEarlierWitness serves lease requests as the previous build's witness refuses a
// renewal once the holder's lease ran out: holder at epoch, with a negative wait. It
// answers until the test ends.
func startEarlierWitness(t *testing.T, holder string, epoch uint64) string {
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
			reader, writer := newFrameReader(conn), bufio.NewWriter(conn)
			nonce := make([]byte, nonceSize)
			if writeFrame(writer, frameChallenge, 0, append(nonce, encodeUint64s(0)...)) == nil &&
				writer.Flush() == nil {
				if request, err := reader.read(); err == nil && request.kind == frameLeaseRequest {
					writeFrame(writer, frameLeaseReply, epoch,
						encodeEarlierWitnessRefusal(holder, epoch, -time.Second))
					writer.Flush()
				}
			}
			conn.Close()
		}
	}()
	return listener.Addr().String()
}

// TestPrimaryFencesOnAnEarlierWitnessRefusal: a primary of this build whose witness, of
// the previous build, gave its lease to another node (whose own lease then ran out) must
// fence itself at once, saying so, as it did before; it used to take the reply for a
// malformed one, count renewal failures for a whole lease, then fence saying that the
// witness was unreachable. Since session 37 such a witness's replies are unsigned, which
// a node without TLS accepts only when allowed to (an upgrade done nodes first).
func TestPrimaryFencesOnAnEarlierWitnessRefusal(t *testing.T) {
	messages := &recordingHandler{}
	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a",
		startEarlierWitness(t, "b", 5), testLeaseDuration)
	config.WitnessUnsignedAllowed = true
	config.Logger = slog.New(messages)
	primary := startNode(t, config)
	defer primary.Close()
	waitFor(t, "the primary to fence itself", func() bool {
		return primary.Role() == shard.RoleFenced
	})
	if !messages.loggedAt(slog.LevelWarn,
		"shard: fenced: the witness gave this node's lease to another node") {
		t.Fatal("the fence was not logged as the lease given to another node")
	}
	if failures := primary.lease.failures.Load(); failures != 0 {
		t.Fatalf("%d renewal failures counted for a witness that answered", failures)
	}
}
