package replication

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core/model"
	"sequent/netio/acceptretry"
	"sequent/netio/peer"
)

// The witness is the third party that makes automatic failover safe with two nodes: it
// holds one lease. The primary keeps renewing it and fences itself when it cannot; the
// standby may promote itself only when the witness grants it the lease, which it does
// only after the primary's lease has expired (plus a margin for clock rates). Two nodes
// alone never promote themselves.
//
// Lease frames (on the replication frame format). The witness opens every connection with
// its challenge; the node answers with one request, the witness with one reply:
//
//	challenge         nonce[32] | features u64 | id length u16 | id (with witnessProvesIdentity)
//	request v1 (11)   mac[32] | kind u8 | reserved[7] | epoch u64 | node length u16 | node
//	reply v1 (12)     granted u8 | reserved[7] | holder epoch u64 | valid ms u64 | holder length u16 | holder
//	request v2 (14)   mac[32] | node nonce[32] | kind u8 | ... | node (the rest as v1)
//	reply v2 (15)     reply mac[32] | granted u8 | ... | holder (the rest as v1)
//	request v3 (16)   as v2, its mac over the pinned id too (leaseRequestMAC)
//	reply v3 (17)     reply mac[32] | granted u8 | ... | holder (as v2, another mac)
//
// A request's mac is the link's (frame.go's mac: the key over the frame type, the
// witness's nonce, the frame's epoch and everything after the mac), so only a holder of
// the key obtains a decision; a v3 request's mac also covers the id the node pins (its
// length u16 and its bytes, before the rest; the id is not sent), so a witness of
// another id holding the same key acts on nothing it did not address. A v1 reply is not authenticated: without TLS, anyone on the
// path could forge a grant (the standby promotes while the primary lives: split brain) or
// a refusal (the primary fences). A v2 reply is: its mac (leaseReplyMAC: its own label,
// so that no request's mac can pass for a reply's) covers the node nonce, a value the
// node draws afresh for each request, the witness's nonce, the frame's epoch and the
// whole reply, so a forged, altered or replayed reply fails the node's check, which
// comes before it reads any decision; the node then treats the witness as unreachable.
//
// Versions (session 37). The challenge's features (zero from the earlier builds, whose
// nodes ignore everything after the nonce) announce what this witness serves:
// witnessSignsReplies, v2. A witness of this build serves both versions, v1 for the nodes
// of earlier builds; a node of this build sends v2 whenever the witness announces it.
// The earlier witness closes the connection without an answer on a v2 request (any frame
// type but 11), and refuses (logs and closes) a v1 request with reserved bytes set; the
// earlier node refuses a v2 reply (frame type 15: a failed renewal) but never gets one,
// since it sends only v1. Upgrade the witness first. A node of this build whose witness
// does not announce v2 (an earlier one, or an attacker who cleared the bit) uses v1 only
// when the replies are authenticated otherwise (TLS) or its operator allowed unsigned
// replies (NodeConfig.WitnessUnsignedAllowed); otherwise it asks nothing
// (ErrWitnessUnsigned: a primary then fences once its lease runs out, a standby does not
// promote), since falling back on its own would let an attacker force the downgrade.
// Unknown feature bits are ignored: they announce, they do not change the frames.
//
// Identity (session 38). A v2 reply's mac binds the key and the request, not which
// witness answered: a second witness holding the same key (another pair's, an old one
// left running) signs grants a node accepts, so a standby whose connection is redirected
// to it could promote while its primary holds the lease at its own witness. So a witness
// has an identity (WitnessConfig.ID, or one generated once and kept in its state file),
// announced in its challenge with the feature bit witnessProvesIdentity: the id's length
// (1 to WitnessIDBytesMax) and its bytes follow the features; what follows the id is
// ignored (room for later features). A v3 reply's mac (leaseIdentifiedReplyMAC, its own
// label) covers the witness's id too, so only a witness of that id (with the key) can
// produce it. A node that pins an id (NodeConfig.WitnessID, --witness-id) asks only a
// witness that announces that very id, with v3, and checks the mac over the pinned id:
// an id changed on the way fails the mac (ErrWitnessReplyForged), another witness's id
// or a witness that announces none (an earlier build, or the bit cleared on the way) is
// refused before the request (ErrWitnessIdentity), whatever the transport. A node
// without a pin uses v1 and v2 as before (and says once at start, at Warn, how to pin). A witness
// of this build serves all three versions; an earlier witness closes the connection on a
// v3 request unanswered; an earlier node ignores the id after the features.
//
// Probes (session 39). A request of kind leaseProbe (3) asks what the lease is and
// changes nothing: the witness answers it (v2 or v3, never v1) as a refusal carrying the
// holder, its epoch and the time left, and stores nothing. A witness of this build
// announces it with the feature bit witnessAnswersProbes; a node sends probes only to a
// witness that announces both that bit and signing, since a probe serves only to receive
// a signed answer (a standby raising its ratchet, witness_ratchet.go); a pinned node
// checks the id the challenge announces all the same (a wrong pin is ErrWitnessIdentity,
// no request sent). An earlier witness, which refuses an unknown kind (it logs and
// closes), is sent none; a witness of this build refuses an unsigned probe the same way.
//
// Releases (session 52). The stale-node check (Node.behindTheWitness) refuses to promote
// a node whose epoch is below the witness's last grant to another node, which may have
// written acknowledged entries this node lacks. A grant whose promotion failed for good
// (the grantee could not store the epoch and gave the grant up: grantGivenUpError) wrote
// nothing, so a witness of this build learns of it: the grantee sends a request of kind
// leaseRelease (4) at the grant's epoch, and the witness, if that grant is still its last
// (same holder, same epoch), records it as released (in its state file first), ends its
// lease at once and answers granted (again to a repeated release: a reply lost on the way
// is retried). A request of kind leaseProbeWritten (5) is a probe whose reply carries,
// after the holder, the written extension (leaseWrittenBytes):
//
//	written            version u8 (1) | released u8 | reserved[6] | written epoch u64
//
// written epoch: the highest epoch whose grantee may have written as far as the witness
// knows (the last grant's, or, once its grantee released it, the highest epoch below it
// that was not released; never above the holder epoch); released: the last grant was
// released. A witness of this build announces both kinds with witnessTracksReleases,
// refuses them unsigned or from a v1 request (as a probe), and answers a plain probe as
// before (an earlier node still reads a released grant as another node's: as safe as
// before). A node sends neither to a witness that does not announce the bit: no release
// (errWitnessReleaseNotServed, nothing sent), and a plain probe in place of
// leaseProbeWritten (the answer's writtenKnown false, the check as before).
//
// Why every grant counts as written until released (no confirmation is asked): a grantee
// that stored its epoch may have written, and a confirmation it sent could be lost on the
// way, so a witness could not take a missing confirmation for a failed promotion; the
// grant therefore reads as written until its grantee says otherwise. A grantee sends a
// release only once it has given the grant up after failed stores of its epoch, or once
// the grant's lease ran out after such failures and it acquires afresh (review2-repl52:
// Node.releaseRunOutGrantLocked), none of which left the epoch file at it (a store that
// may have, ErrEpochFileAhead, stops the node: no release), so no shard of it switched
// and nothing was written under that epoch; and after it, it never promotes under that
// epoch (its next attempt acquires a new, higher one), while the witness renews the
// released grant to nobody. A release
// lost on the way leaves the grant written (the check refuses as before); a release
// that arrives after the witness granted the lease again finds another last grant and
// changes nothing.
const (
	frameLeaseRequest       frameType = 11
	frameLeaseReply         frameType = 12
	frameLeaseRequestSigned frameType = 14 // v2: carries the node nonce.
	frameLeaseReplySigned   frameType = 15 // v2: carries the reply mac.
	// v3: as v2, the reply mac covering the witness's id.
	frameLeaseRequestIdentified frameType = 16
	frameLeaseReplyIdentified   frameType = 17

	leaseRenew   = 1 // The holder extends its lease.
	leaseAcquire = 2 // A node asks for the lease (granted only if free or expired).
	// leaseProbe (session 39) asks what the witness holds and changes nothing: never
	// granted, answered with the holder, its epoch and the time left. Sent only signed
	// (v2 or v3) to a witness that announces witnessAnswersProbes; a standby sends it to
	// learn that its witness signs (witness_ratchet.go) before it needs the lease.
	leaseProbe = 3
	// leaseRelease (session 52) gives up the lease granted at the request's epoch, before
	// anything was written under it (see Releases above). Granted: recorded (or already).
	leaseRelease = 4
	// leaseProbeWritten (session 52) is a probe whose reply carries the written extension
	// (leaseWrittenBytes): the epoch the stale-node check compares with.
	leaseProbeWritten = 5

	// witnessSignsReplies is the challenge's feature bit of a witness that serves v2.
	witnessSignsReplies = 1
	// witnessProvesIdentity is the challenge's feature bit of a witness that serves v3:
	// its id follows the features.
	witnessProvesIdentity = 2
	// witnessAnswersProbes is the challenge's feature bit of a witness that answers
	// leaseProbe (session 39); an earlier one refuses the kind (it logs and closes).
	witnessAnswersProbes = 4
	// witnessTracksReleases is the challenge's feature bit of a witness that serves
	// leaseRelease and leaseProbeWritten (session 52); an earlier one refuses the kinds.
	witnessTracksReleases = 8
	// witnessChallengeIDOffset is where the id's length sits in a challenge that
	// announces it; the id follows.
	witnessChallengeIDOffset = witnessChallengeBytes
	witnessIDLengthBytes     = 2 // The id's length (u16) before it, wherever it is sent or signed.
	// WitnessIDBytesMax bounds a witness's id (printable ASCII, ValidateWitnessID).
	WitnessIDBytesMax = 64
	// witnessIDGeneratedBytes is the randomness of a generated id (hex-encoded, twice as
	// many characters): no two witnesses draw the same.
	witnessIDGeneratedBytes = 16
	// witnessChallengeBytes is the witness's challenge: nonce, features.
	witnessChallengeBytes = nonceSize + 8

	leaseRequestMACBytes   = sha256.Size // mac: HMAC-SHA256 over the challenge and the rest.
	leaseReplyMACBytes     = sha256.Size // reply mac (v2): see leaseReplyMAC.
	leaseRequestFixedBytes = 18          // After the mac: kind to node length.
	leaseReplyFixedBytes   = 26          // granted to holder length.
	leaseReservedOffset    = 1           // reserved[7] of both, after kind or granted.
	leaseReservedOffsetEnd = 8
	leaseEpochOffset       = 8  // epoch (request), holder epoch (reply).
	leaseRequestNodeOffset = 16 // node length (request).
	leaseReplyValidOffset  = 16 // valid ms (reply).
	leaseReplyHolderOffset = 24 // holder length (reply).

	// The written extension after a leaseProbeWritten reply's holder (see Releases).
	leaseWrittenVersion        = 1
	leaseWrittenVersionOffset  = 0 // u8 leaseWrittenVersion.
	leaseWrittenReleasedOffset = 1 // u8 1: the last grant was released.
	leaseWrittenReservedEnd    = 8 // [6] zero after the released byte.
	leaseWrittenEpochOffset    = 8 // u64 the written epoch.
	leaseWrittenBytes          = 16

	// leaseReplyLabel is the reply mac's domain label: the request's mac uses the link's
	// label ("sequent-replication-v1"), so neither can be replayed as the other.
	leaseReplyLabel = "sequent-witness-reply-v2"
	// leaseIdentifiedReplyLabel is the v3 reply mac's label: a v2 reply's mac never
	// passes for a v3's, whose input also holds the witness's id.
	leaseIdentifiedReplyLabel = "sequent-witness-reply-v3"
)

// Errors of the witness link, on the node's side.
var (
	// ErrWitnessUnsigned refuses a witness that does not sign its replies (does not
	// announce v2) when nothing else authenticates them: no TLS, and unsigned replies not
	// allowed (NodeConfig.WitnessUnsignedAllowed). The node asks it nothing, as if it were
	// unreachable.
	ErrWitnessUnsigned = errors.New("replication: witness does not sign its replies: upgrade it " +
		"(or use TLS to it, or allow unsigned replies: --witness-allow-unsigned)")
	// ErrWitnessReplyForged reports a v2 reply whose mac does not verify: forged, altered
	// or replayed on the way (a witness without the key never answers: it cannot verify
	// the request). Not a decision: the node treats the witness as unreachable.
	ErrWitnessReplyForged = errors.New("replication: the witness's reply failed " +
		"authentication (forged, altered or replayed on the way): ignored")
	// ErrWitnessIdentity refuses a witness that does not prove the id the node pins
	// (NodeConfig.WitnessID): it announces another id (another pair's witness, or a
	// redirection), or none (a witness of an earlier build: upgrade it). The node asks
	// it nothing, as if it were unreachable; the error names both ids.
	ErrWitnessIdentity = errors.New("replication: the witness is not the one pinned " +
		"(--witness-id)")
)

// errWitnessReleaseNotServed: the witness does not announce releases (a build before
// session 52, or the bit cleared on the way), so none was sent: its grant stays written.
var errWitnessReleaseNotServed = errors.New("replication: the witness does not take " +
	"releases (a witness before session 52: upgrade it; or the bit was cleared on the way)")

// errWitnessProbeNotServed: the witness does not announce probes (an earlier build, or
// the bit cleared on the way), so none was sent. Not a refusal: nothing is counted.
var errWitnessProbeNotServed = errors.New("replication: the witness does not answer probes")

// errWitnessSignsWithoutProbes and errWitnessDoesNotSign say why no probe was sent
// (both are errWitnessProbeNotServed): a witness that signs without announcing probes is
// a build of session 37 or 38, or one of this build whose probe bit was cleared on the
// way; one that does not sign is a build before session 37, or its signing bit was
// cleared. Either keeps an unpinned standby's ratchet down until its first signed
// answer: probeWitness says it once, at Warn.
var (
	errWitnessSignsWithoutProbes = fmt.Errorf("%w: it signs its answers but does not "+
		"announce probes (a witness before session 39: upgrade it; or the bit was cleared "+
		"on the way)", errWitnessProbeNotServed)
	errWitnessDoesNotSign = fmt.Errorf("%w: it does not sign its answers (a witness before "+
		"session 37: upgrade it; or the bit was cleared on the way)", errWitnessProbeNotServed)
)

// WitnessConfig configures the witness process.
type WitnessConfig struct {
	Listener      net.Listener
	TLS           *TLS // Optional: serve over mutual TLS (the nodes need the same CA).
	Key           []byte
	LeaseDuration time.Duration // How long a grant lasts; default 1 s.
	Logger        *slog.Logger
	// StatePath is the witness state file (witness_state.go): the highest epoch granted
	// and its holder, persisted before any grant that changes them and loaded at start,
	// so that a restarted witness refuses a stale primary's renewal. Empty: the state is
	// kept in memory only, and a restart forgets the epoch (tests, the drill).
	StatePath string
	// ID is the witness's identity (ValidateWitnessID), which the nodes may pin. Empty:
	// the id kept in the state file (generated at its first start), or with no state file
	// one generated at each start (a pinned node then needs the new one after a restart).
	ID string
}

// ValidateWitnessID refuses an id a witness cannot announce: empty, longer than
// WitnessIDBytesMax, or with a byte outside printable ASCII without the space (so that
// it is copied as is from the witness's log into a flag or an environment file).
func ValidateWitnessID(id string) error {
	if len(id) == 0 || len(id) > WitnessIDBytesMax {
		return fmt.Errorf("replication: a witness id of %d bytes: want 1 to %d", len(id),
			WitnessIDBytesMax)
	}
	for index := range len(id) {
		if id[index] <= ' ' || id[index] > '~' {
			return fmt.Errorf("replication: witness id %q: byte %d is not printable ASCII "+
				"(spaces excluded)", id, index)
		}
	}
	return nil
}

// newWitnessID draws a witness id: witnessIDGeneratedBytes random bytes in hex.
func newWitnessID() (string, error) {
	random := make([]byte, witnessIDGeneratedBytes)
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	return hex.EncodeToString(random), nil
}

// Witness grants the single lease.
type Witness struct {
	config  WitnessConfig
	mutex   sync.Mutex
	holder  string
	epoch   uint64
	expires time.Time // Local monotonic time.
	// released and writtenBefore are the state file's (witnessState): the grant at epoch
	// was released by its holder, and the highest epoch below it whose grantee may have
	// written (writtenEpoch).
	released      bool
	writtenBefore uint64
	// id is the identity the witness announces and signs for (v3); storedID the one in
	// its state file, written back with every grant (it differs from id when
	// WitnessConfig.ID overrides it). Neither changes after OpenWitness.
	id       string
	storedID string
	// acquireAfter is one lease after start: the witness keeps the lease's expiry in
	// memory only, so after a restart it cannot know whether a primary still counts on a
	// lease granted before; it grants nothing for failover until any such lease has run
	// out. For the same reason the stored holder's lease counts as live until then
	// (expires is acquireAfter at start): the holder's renewal at its epoch is granted at
	// once, and no other node acquires it meanwhile (nor takes it by renewal, at any
	// time: see decide).
	acquireAfter time.Time
	// earlierBuild, set by tests only, makes the witness serve as the builds before
	// session 37: no features in the challenge, v2 requests closed unanswered.
	earlierBuild atomic.Bool
	// beforeIdentity, set by tests only, makes the witness serve as the build of session
	// 37: no witnessProvesIdentity (nor id) in the challenge, v3 requests closed
	// unanswered.
	beforeIdentity atomic.Bool
	// beforeProbes, set by tests only, makes the witness serve as the build of session
	// 38: no witnessAnswersProbes in the challenge, probes refused.
	beforeProbes atomic.Bool
	// beforeReleases, set by tests only, makes the witness serve as the builds of
	// sessions 39 to 51: no witnessTracksReleases in the challenge, leaseRelease and
	// leaseProbeWritten refused.
	beforeReleases atomic.Bool
	// releasesToDrop, set by tests only: that many releases are read and closed
	// unanswered and unapplied (a release lost on the way).
	releasesToDrop atomic.Int32
	// unsignedServedLogged: a v1 request was served (said once, at Info).
	unsignedServedLogged atomic.Bool
	// misaddressedLogged: a v3 request failed its mac (said once, at Warn).
	misaddressedLogged atomic.Bool
	// oversizedLogged: a request over unauthenticatedFrameBytesMax was refused unread
	// (said once, at Warn: anyone who can connect can send one).
	oversizedLogged atomic.Bool
	// now is the witness's clock: time.Now, or a test's manual clock (set under mutex),
	// so that a test of the lease rules depends on no scheduling delay.
	now  func() time.Time
	done chan struct{}
}

// StartWitness is OpenWitness for a witness that keeps its state in memory (tests, the
// drill), which cannot fail; it panics if OpenWitness does (only a config.StatePath can
// make it: use OpenWitness then).
func StartWitness(config WitnessConfig) *Witness {
	w, err := OpenWitness(config)
	if err != nil {
		panic(err)
	}
	return w
}

// OpenWitness loads the state file (config.StatePath, created when missing) and serves
// lease requests until Close. It refuses to start, closing the listener, when the file
// exists but cannot be read or verified (ErrWitnessState) or cannot be created: starting
// at epoch 0 instead would let a stale primary renew the lease.
func OpenWitness(config WitnessConfig) (*Witness, error) {
	var state witnessState
	var err error
	if config.ID != "" {
		err = ValidateWitnessID(config.ID)
	}
	if err == nil && config.StatePath != "" {
		state, err = loadWitnessState(config.StatePath)
	}
	id, source := config.ID, "configured"
	switch {
	case err != nil:
	case id == "" && state.id != "":
		id, source = state.id, "the state file's (generated at its first start)"
	case id == "":
		source = "generated for this run only (no state file)"
		id, err = newWitnessID()
	}
	if err != nil {
		config.Listener.Close()
		return nil, err
	}
	epoch, holder := state.epoch, state.holder
	if config.LeaseDuration <= 0 {
		config.LeaseDuration = LeaseDurationDefault
	}
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	// Under TLS, so that a connection past its peer's share costs no handshake. Running
	// out of file descriptors is waited out: the accept loop returned on any error, and
	// one EMFILE ended the witness for good
	// (TestLeft49bOutOfFileDescriptorsDoesNotStopTheWitness).
	config.Listener = peer.NewListener(acceptretry.NewListener(config.Listener,
		config.Logger, "replication: witness"), witnessConnectionsPerPeerMax, nil)
	if config.TLS != nil {
		// The handshake runs on the first write (the challenge), under serve's deadline.
		config.Listener = tls.NewListener(config.Listener, config.TLS.Server)
	}
	w := &Witness{config: config, done: make(chan struct{}), now: time.Now,
		holder: holder, epoch: epoch, acquireAfter: time.Now().Add(config.LeaseDuration),
		id: id, storedID: state.id, released: state.released,
		writtenBefore: state.writtenBefore}
	// The stored holder may still count on a lease granted before the restart: as far as
	// the witness knows, it runs until acquireAfter.
	w.expires = w.acquireAfter
	if config.StatePath != "" {
		config.Logger.Info("witness: state loaded", "path", config.StatePath, "epoch", epoch,
			"holder", holder, "released", state.released, "written_epoch", state.writtenEpoch())
	}
	config.Logger.Info("witness: identity (pin it on both nodes: --witness-id)", "id", id,
		"source", source)
	go w.accept()
	return w, nil
}

// ID returns the identity the witness announces (WitnessConfig.ID, the state file's, or
// generated at start).
func (w *Witness) ID() string { return w.id }

// Close stops the witness.
func (w *Witness) Close() error {
	err := w.config.Listener.Close()
	<-w.done
	return err
}

func (w *Witness) accept() {
	defer close(w.done)
	for {
		conn, err := w.config.Listener.Accept()
		if err != nil {
			return
		}
		go w.serve(conn)
	}
}

func (w *Witness) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if secure, ok := conn.(*tls.Conn); ok {
		// Handshake explicitly so that a refused node is logged here; otherwise the
		// failure would surface only as a failed write of the challenge.
		if err := secure.Handshake(); err != nil {
			w.config.Logger.Warn("replication: witness TLS handshake failed", "peer",
				conn.RemoteAddr().String(), "error", err)
			return
		}
	}
	reader, writer := newFrameReader(conn), bufio.NewWriter(conn)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return
	}
	earlierBuild := w.earlierBuild.Load()
	identifies := !earlierBuild && !w.beforeIdentity.Load()
	probes := identifies && !w.beforeProbes.Load()
	releases := probes && !w.beforeReleases.Load()
	var challenge []byte
	switch {
	case releases:
		challenge = encodeWitnessChallenge(nonce, witnessSignsReplies|witnessProvesIdentity|
			witnessAnswersProbes|witnessTracksReleases, w.id)
	case probes:
		challenge = encodeWitnessChallenge(nonce,
			witnessSignsReplies|witnessProvesIdentity|witnessAnswersProbes, w.id)
	case identifies:
		challenge = encodeWitnessChallenge(nonce, witnessSignsReplies|witnessProvesIdentity, w.id)
	case earlierBuild:
		challenge = encodeWitnessChallenge(nonce, 0, "")
	default:
		challenge = encodeWitnessChallenge(nonce, witnessSignsReplies, "")
	}
	if writeFrame(writer, frameChallenge, 0, challenge) != nil || writer.Flush() != nil {
		return
	}
	// Read before its MAC can be checked: a peer without the key may send it.
	f, err := reader.readAtMost(unauthenticatedFrameBytesMax)
	if errors.Is(err, errFrameTooLarge) && !w.oversizedLogged.Swap(true) {
		// Logged once, as a misaddressed request is: refusing it costs the peer a header
		// and no wait, so a line per connection would let anyone fill the log.
		w.config.Logger.Warn("witness: request too large, refused unread (logged once)",
			"peer", conn.RemoteAddr().String(), "error", err)
	}
	if err != nil {
		return
	}
	var payload, nodeNonce []byte
	switch {
	case f.kind == frameLeaseRequest:
		// A node of an earlier build (a node of this build sends v2 to a witness that
		// announces it, unless the challenge was altered on the way): answered as before,
		// unsigned.
		if _, payload, err = openLeaseRequest(w.config.Key, frameLeaseRequest, nonce, f, 0,
			""); err != nil {
			return
		}
		if !w.unsignedServedLogged.Swap(true) {
			w.config.Logger.Info("witness: a node of an earlier build asked (its replies are "+
				"not signed): upgrade the nodes", "peer", conn.RemoteAddr().String())
		}
	case f.kind == frameLeaseRequestSigned && !earlierBuild:
		if nodeNonce, payload, err = openLeaseRequest(w.config.Key, frameLeaseRequestSigned,
			nonce, f, nonceSize, ""); err != nil {
			return // Not from a holder of the key: nothing to say to it.
		}
	case f.kind == frameLeaseRequestIdentified && identifies:
		// A pinned node: as v2 under its own type, its mac over the id it pins as well, so
		// that a witness of another id (holding the same key) acts on nothing a node
		// pinned to this one sent it; the reply proves the id back.
		if nodeNonce, payload, err = openLeaseRequest(w.config.Key,
			frameLeaseRequestIdentified, nonce, f, nonceSize, w.id); err != nil {
			// Logged once: anyone can send such a request (without the key too), and a
			// line per connection would let them fill the log.
			if !w.misaddressedLogged.Swap(true) {
				w.config.Logger.Warn("witness: a lease request pinned to another witness "+
					"id, or not from a holder of the key: not answered (logged once)",
					"peer", conn.RemoteAddr().String(), "id", w.id)
			}
			return
		}
	default:
		return
	}
	request, err := decodeLeaseRequest(payload)
	if err == nil && request.kind == leaseProbe && (f.kind == frameLeaseRequest || !probes) {
		// Answered signed only, and by a witness that announces it: as an earlier build
		// would, refused.
		err = fmt.Errorf("%w: a probe unsigned or not announced", ErrFrame)
	}
	if err == nil && (request.kind == leaseRelease || request.kind == leaseProbeWritten) &&
		(f.kind == frameLeaseRequest || !releases) {
		// As a probe: signed only, by a witness that announces them.
		err = fmt.Errorf("%w: a release or a written probe unsigned or not announced", ErrFrame)
	}
	if err != nil {
		// From a node that has the key: another version, most likely. Closing without an
		// answer is what the node takes for a witness it cannot reach.
		w.config.Logger.Warn("witness: lease request refused", "peer",
			conn.RemoteAddr().String(), "error", err)
		return
	}
	if request.kind == leaseRelease && w.releasesToDrop.Load() > 0 &&
		w.releasesToDrop.Add(-1) >= 0 {
		return // A test's release lost on the way.
	}
	answer := w.decideAnswer(request.kind, request.node, request.epoch)
	reply := answer.encode()
	if request.kind == leaseProbeWritten {
		reply = answer.appendWritten(reply)
	}
	switch f.kind {
	case frameLeaseRequest:
		writeFrame(writer, frameLeaseReply, answer.epoch, reply)
	case frameLeaseRequestIdentified:
		writeFrame(writer, frameLeaseReplyIdentified, answer.epoch, append(
			leaseIdentifiedReplyMAC(w.config.Key, w.id, nodeNonce, nonce, answer.epoch, reply),
			reply...))
	default:
		writeFrame(writer, frameLeaseReplySigned, answer.epoch, append(leaseReplyMAC(
			w.config.Key, nodeNonce, nonce, answer.epoch, reply), reply...))
	}
	writer.Flush()
}

// openLeaseRequest checks a request frame's mac (over kind, the request's version, so
// a v1 request's mac never passes as a v2's; for v3 over id too: leaseRequestMAC)
// against the witness's nonce and returns the nodeNonceBytes that follow the mac (none
// in v1) and the payload after them, both aliasing f's body, or ErrUnauthenticated.
func openLeaseRequest(key []byte, kind frameType, witnessNonce []byte, f frame,
	nodeNonceBytes int, id string) (nodeNonce, payload []byte, err error) {
	prefixBytes := leaseRequestMACBytes + nodeNonceBytes
	if len(f.body) < prefixBytes || !hmac.Equal(leaseRequestMAC(key, kind, witnessNonce,
		f.epoch, id, f.body[leaseRequestMACBytes:]), f.body[:leaseRequestMACBytes]) {
		return nil, nil, fmt.Errorf("%w: lease request", ErrUnauthenticated)
	}
	return f.body[leaseRequestMACBytes:prefixBytes], f.body[prefixBytes:], nil
}

// leaseRequestMAC authenticates a lease request: the link's mac over the frame type, the
// witness's nonce, the epoch and the body after the mac (the node nonce, from v2 on, and
// the request). A v3 request (frameLeaseRequestIdentified) puts the witness id the node
// pins before that body (its length, u16 little-endian, then its bytes: never sent, the
// witness checks with its own): only the witness of that id can open it.
func leaseRequestMAC(key []byte, kind frameType, witnessNonce []byte, epoch uint64, id string,
	body []byte) []byte {
	if kind != frameLeaseRequestIdentified {
		return mac(key, kind, witnessNonce, epoch, body)
	}
	covered := appendWitnessID(make([]byte, 0, witnessIDLengthBytes+len(id)+len(body)), id)
	return mac(key, kind, witnessNonce, epoch, append(covered, body...))
}

// leaseReplyMAC authenticates a v2 reply: HMAC-SHA256 with the replication key over its
// own label, the frame type, the node's nonce for this request (which makes a replayed
// reply fail), the witness's nonce, the frame's epoch and the reply.
func leaseReplyMAC(key, nodeNonce, witnessNonce []byte, epoch uint64, reply []byte) []byte {
	return labelledMAC(key, leaseReplyLabel, frameLeaseReplySigned, nodeNonce, witnessNonce,
		epoch, reply)
}

// leaseIdentifiedReplyMAC authenticates a v3 reply as leaseReplyMAC does a v2 one, under
// its own label and frame type, with the witness's id (its length, u16 little-endian,
// then its bytes) before the reply: the length keeps the id and the reply apart.
func leaseIdentifiedReplyMAC(key []byte, id string, nodeNonce, witnessNonce []byte,
	epoch uint64, reply []byte) []byte {
	covered := appendWitnessID(make([]byte, 0, witnessIDLengthBytes+len(id)+len(reply)), id)
	return labelledMAC(key, leaseIdentifiedReplyLabel, frameLeaseReplyIdentified, nodeNonce,
		witnessNonce, epoch, append(covered, reply...))
}

// appendWitnessID appends id as the challenge announces it and the v3 macs cover it: its
// length (u16 little-endian), then its bytes; the length keeps the id and what follows
// apart.
func appendWitnessID(dst []byte, id string) []byte {
	return append(binary.LittleEndian.AppendUint16(dst, uint16(len(id))), id...)
}

// encodeWitnessChallenge returns a challenge: the nonce, the features and, when they
// announce it, the id.
func encodeWitnessChallenge(nonce []byte, features uint64, id string) []byte {
	challenge := make([]byte, witnessChallengeBytes, witnessChallengeBytes+
		witnessIDLengthBytes+len(id))
	copy(challenge, nonce)
	binary.LittleEndian.PutUint64(challenge[nonceSize:], features)
	if features&witnessProvesIdentity == 0 {
		return challenge
	}
	return appendWitnessID(challenge, id)
}

// witnessChallenge is a challenge as the node reads it.
type witnessChallenge struct {
	nonce    []byte // Aliases the frame's body.
	features uint64 // Zero from the earliest builds, which send the nonce only.
	id       string // Announced with witnessProvesIdentity; proven only by a v3 reply.
}

// decodeWitnessChallenge reads a challenge's body: the nonce, then (absent from the
// earliest builds) the features, then the id when they announce it. Bytes after what the
// features announce are ignored (later features). It refuses a body shorter than the
// nonce, features cut short, and an announced id that is cut short or invalid
// (ValidateWitnessID).
func decodeWitnessChallenge(body []byte) (witnessChallenge, error) {
	if len(body) < nonceSize {
		return witnessChallenge{}, fmt.Errorf("%w: witness challenge of %d bytes", ErrFrame,
			len(body))
	}
	challenge := witnessChallenge{nonce: body[:nonceSize]}
	if len(body) == nonceSize {
		return challenge, nil
	}
	if len(body) < witnessChallengeBytes {
		return witnessChallenge{}, fmt.Errorf("%w: witness challenge of %d bytes", ErrFrame,
			len(body))
	}
	challenge.features = binary.LittleEndian.Uint64(body[nonceSize:])
	if challenge.features&witnessProvesIdentity == 0 {
		return challenge, nil
	}
	idOffset := witnessChallengeIDOffset + witnessIDLengthBytes
	if len(body) < idOffset {
		return witnessChallenge{}, fmt.Errorf("%w: witness challenge without its id's length",
			ErrFrame)
	}
	idEnd := idOffset + int(binary.LittleEndian.Uint16(body[witnessChallengeIDOffset:]))
	if len(body) < idEnd {
		return witnessChallenge{}, fmt.Errorf("%w: witness challenge with its id cut short",
			ErrFrame)
	}
	challenge.id = string(body[idOffset:idEnd])
	if err := ValidateWitnessID(challenge.id); err != nil {
		return witnessChallenge{}, fmt.Errorf("%w: witness challenge: %v", ErrFrame, err)
	}
	return challenge, nil
}

// decide applies the lease rules. A renewal succeeds for the holder at its epoch (or a
// newer one), and for anyone while there is no holder yet (a new or in-memory witness).
// An acquisition succeeds when nobody holds a live lease; the grant raises the epoch
// above everything seen, which the new holder must promote to.
//
// Another node never takes the lease by renewal, not even once it has run out: the epoch
// it renews at may be one it learned as the holder's standby (a follower stores its
// primary's epoch), and a standby restarted as a primary would then be a second history
// under the same epoch, which neither fencing nor a rejoining node's divergence check can
// tell apart. It must acquire, at a new epoch.
//
// A live lease is never granted again by an acquisition, not even to its holder's name
// at the granted epoch: two nodes may share a name (both defaulting to the same --addr),
// and the granted epoch is no proof of being the grantee once the grantee has promoted
// (its welcome and entries carry the epoch, and a standby whose link drops takes its
// primary for lost at once) and before its first renewal reaches the witness. A node
// whose promotion failed after the grant retries by renewing it (Node.promote).
//
// With a state file, a grant that changes the epoch or the holder is persisted before it
// is answered (the expiry is not: after a restart, acquireAfter covers it); when that
// fails, the grant is refused and nothing changes.
//
// A grant records the epoch below it whose grantee may have written (writtenBefore: the
// written epoch so far, or the acquiring node's own epoch if higher, since a standby's
// epoch is one its primary wrote at), for a release to fall back on. A release (see
// Releases) is granted to the holder at the epoch of the last grant only; a released
// grant is renewed to nobody (its grantee never promotes under it), and its lease ends at
// the release, so that the other node acquires at once.
func (w *Witness) decide(kind byte, node string, epoch uint64) (bool, string, uint64, time.Duration) {
	answer := w.decideAnswer(kind, node, epoch)
	return answer.granted, answer.holder, answer.epoch, answer.valid
}

// decideAnswer is decide, its answer carrying the written extension (writtenKnown) read
// under the same lock as the rest.
func (w *Witness) decideAnswer(kind byte, node string, epoch uint64) leaseAnswer {
	w.mutex.Lock()
	defer w.mutex.Unlock()
	granted, valid := w.decideLocked(kind, node, epoch)
	return leaseAnswer{granted: granted, holder: w.holder, epoch: w.epoch, valid: valid,
		writtenKnown: true, released: w.released, writtenEpoch: w.state().writtenEpoch()}
}

// decideLocked applies the rules (decide) with the mutex held: granted, and the time the
// lease is valid for (or the wait, on a refusal). The holder and epoch to answer are the
// witness's once it returns.
func (w *Witness) decideLocked(kind byte, node string, epoch uint64) (bool, time.Duration) {
	now := w.now()
	if kind == leaseProbe || kind == leaseProbeWritten {
		// Nothing changes, nothing is stored: what the lease is now (the wait as a
		// refusal's).
		return false, max(w.expires.Sub(now), 0)
	}
	live := w.holder != "" && now.Before(w.expires)
	switch {
	case kind == leaseRenew && (w.holder == node || w.holder == "") && epoch >= w.epoch &&
		!(w.released && epoch == w.epoch):
		next := w.state()
		if node != w.holder || epoch != w.epoch {
			next = witnessState{epoch: epoch, holder: node, id: w.storedID,
				writtenBefore: w.state().writtenEpoch()}
		}
		if !w.persist(next, "grant") {
			break
		}
		if w.holder != node {
			w.config.Logger.Info("witness: first holder by renewal", "node", node, "epoch", epoch)
		}
		w.apply(next)
		w.expires = now.Add(w.config.LeaseDuration)
		return true, w.config.LeaseDuration
	case kind == leaseAcquire && !live && now.After(w.acquireAfter):
		next := witnessState{epoch: max(w.epoch, epoch) + 1, holder: node, id: w.storedID,
			writtenBefore: max(w.state().writtenEpoch(), epoch)}
		if !w.persist(next, "grant") {
			break
		}
		w.apply(next)
		w.expires = now.Add(w.config.LeaseDuration)
		w.config.Logger.Warn("witness: lease granted for failover", "node", node, "epoch", w.epoch)
		return true, w.config.LeaseDuration
	case kind == leaseRelease && w.holder == node && w.holder != "" && epoch == w.epoch:
		if w.released {
			return true, 0 // Already: a release whose reply was lost, sent again.
		}
		next := w.state()
		next.released = true
		if !w.persist(next, "release") {
			break
		}
		w.apply(next)
		w.expires = now
		w.config.Logger.Warn("witness: lease released by its grantee before it wrote "+
			"(its promotion failed)", "node", node, "epoch", epoch, "written_epoch",
			next.writtenEpoch())
		return true, 0
	}
	wait := w.expires.Sub(now)
	if kind == leaseAcquire {
		wait = max(wait, w.acquireAfter.Sub(now))
	}
	// Negative once the lease has run out (a renewal refused to another node, a grant
	// that could not be stored): the reply's field is unsigned, and a negative wait would
	// wrap to some 584 million years there.
	return false, max(wait, 0)
}

// state returns what the witness holds as its state file records it.
func (w *Witness) state() witnessState {
	return witnessState{epoch: w.epoch, holder: w.holder, id: w.storedID,
		released: w.released, writtenBefore: w.writtenBefore}
}

// apply makes state the witness's (its expiry apart); the caller holds the mutex.
func (w *Witness) apply(state witnessState) {
	w.holder, w.epoch = state.holder, state.epoch
	w.released, w.writtenBefore = state.released, state.writtenBefore
}

// persist stores state in the state file, when there is one and it differs from what the
// witness holds (the holder renewing at its epoch writes nothing), before decide grants
// it. It reports whether the request (what it is, "grant" or "release", for the log:
// a release that cannot be stored is no grant refused) may go ahead; a failure is logged
// at Error, since every request that needs a write is refused until the file can be
// written again. Called with the mutex held: requests wait for the fsync, which keeps the
// grants in the order they were persisted.
func (w *Witness) persist(state witnessState, request string) bool {
	holder, epoch := state.holder, state.epoch
	if w.config.StatePath == "" || state == w.state() {
		return true
	}
	if len(holder) > NodeNameBytesMax {
		// Not a disk failure: the record has no room for the name. Said as such, since
		// "cannot be written" would send the operator to the disk.
		w.config.Logger.Error("witness: "+request+" refused: the node's name is longer "+
			"than the state file records; give the node a shorter name (--node-name)",
			"bytes", len(holder), "bytes_max", NodeNameBytesMax, "epoch", epoch)
		return false
	}
	if err := storeWitnessState(w.config.StatePath, state); err != nil {
		w.config.Logger.Error("witness: "+request+" refused: the state file cannot be "+
			"written", "path", w.config.StatePath, "node", holder, "epoch", epoch,
			"error", err)
		return false
	}
	return true
}

// leaseAnswer is the witness's answer to a lease request.
type leaseAnswer struct {
	granted bool
	holder  string
	epoch   uint64
	valid   time.Duration
	// signed: the reply carried the witness's mac (v2 or v3). False for a v1 reply,
	// accepted only over TLS or when unsigned replies are allowed (not on the wire).
	signed bool
	// writtenKnown: the reply carried the written extension (a leaseProbeWritten's, from
	// a witness that tracks releases), read into released and writtenEpoch.
	writtenKnown bool
	released     bool   // The last grant (at epoch, to holder) was released.
	writtenEpoch uint64 // The highest epoch whose grantee may have written.
}

// witnessClient is how a node asks the witness: its address, the TLS it dials with (nil:
// plain TCP), the replication key, whether replies that are not signed may be accepted
// without TLS (NodeConfig.WitnessUnsignedAllowed), whether the node's ratchet refuses
// them whatever that says (witness_ratchet.go), and the witness id it pins
// (NodeConfig.WitnessID; "": any witness holding the key).
type witnessClient struct {
	address         string
	tls             *tls.Config
	key             []byte
	unsignedAllowed bool
	signedRequired  bool
	pinnedID        string
}

// askWitness sends one lease request as a node that does not allow unsigned replies.
func askWitness(ctx context.Context, address string, clientTLS *tls.Config, key []byte,
	kind byte, node string, epoch uint64, deadline time.Time) (leaseAnswer, error) {
	return witnessClient{address: address, tls: clientTLS, key: key}.ask(ctx, kind, node,
		epoch, deadline)
}

// ask sends one lease request, giving up at deadline or as soon as ctx ends: v3 to the
// pinned witness, refusing any other (ErrWitnessIdentity); without a pin, v2 when the
// witness announces it (v1 otherwise, if allowed: see the frames' comment). An answer
// accepted from v1 has signed false.
func (c witnessClient) ask(ctx context.Context, kind byte, node string, epoch uint64,
	deadline time.Time) (leaseAnswer, error) {
	conn, err := dialLinkBy(ctx, c.address, c.tls, deadline)
	if err != nil {
		return leaseAnswer{}, err
	}
	defer conn.Close()
	defer closeWhenDone(ctx, conn)()
	conn.SetDeadline(deadline) // One bound for dial, request and reply together.
	reader, writer := newFrameReader(conn), bufio.NewWriter(conn)
	challenge, err := reader.read()
	if err != nil && tlsRefused(err) {
		// TLS 1.3: the witness judges our certificate after our side of the handshake,
		// so its refusal arrives at this first read.
		return leaseAnswer{}, fmt.Errorf("%w: witness TLS: %v", ErrUnauthenticated, err)
	}
	if err != nil || challenge.kind != frameChallenge {
		return leaseAnswer{}, fmt.Errorf("replication: witness challenge: %v", err)
	}
	announced, err := decodeWitnessChallenge(challenge.body)
	if err != nil {
		return leaseAnswer{}, err
	}
	witnessNonce := bytes.Clone(announced.nonce)
	releases := announced.features&witnessTracksReleases != 0 &&
		announced.features&witnessSignsReplies != 0
	if kind == leaseProbeWritten && !releases {
		kind = leaseProbe // A witness before session 52: the check as before.
	}
	if kind == leaseRelease && !releases {
		if _, _, err := c.version(announced); err != nil {
			return leaseAnswer{}, err // A pin or the ratchet refuses this witness anyway.
		}
		return leaseAnswer{}, errWitnessReleaseNotServed
	}
	if kind == leaseProbe && (announced.features&witnessAnswersProbes == 0 ||
		announced.features&witnessSignsReplies == 0) {
		// A probe only serves to receive a signed answer, from a witness that answers it.
		// A pinned node checks the pin all the same: the challenge alone shows it (the id
		// announced), and a wrong pin is what a pinned standby probes to find.
		if c.pinnedID != "" {
			if _, _, err := c.version(announced); err != nil {
				return leaseAnswer{}, err
			}
		}
		if announced.features&witnessSignsReplies == 0 {
			if c.tls == nil && c.signedRequired {
				// Not signing after a signed answer: the downgrade the ratchet refuses,
				// counted as one (a plain errWitnessDoesNotSign would count nothing).
				return leaseAnswer{}, ErrWitnessDowngrade
			}
			return leaseAnswer{}, errWitnessDoesNotSign
		}
		return leaseAnswer{}, errWitnessSignsWithoutProbes
	}
	requestKind, replyKind, err := c.version(announced)
	if err != nil {
		return leaseAnswer{}, err
	}
	payload := leaseRequest{kind: kind, epoch: epoch, node: node}.encode()
	var nodeNonce []byte
	if requestKind != frameLeaseRequest { // v2 and v3 carry the node's nonce.
		nodeNonce = make([]byte, nonceSize)
		if _, err := rand.Read(nodeNonce); err != nil {
			return leaseAnswer{}, err
		}
		payload = append(append(make([]byte, 0, nonceSize+len(payload)), nodeNonce...),
			payload...)
	}
	body := append(leaseRequestMAC(c.key, requestKind, witnessNonce, epoch, c.pinnedID,
		payload), payload...)
	if err := writeFrame(writer, requestKind, epoch, body); err != nil {
		return leaseAnswer{}, err
	}
	if err := writer.Flush(); err != nil {
		return leaseAnswer{}, err
	}
	reply, err := reader.read()
	if err != nil {
		return leaseAnswer{}, err
	}
	if reply.kind != replyKind && replyKind != frameLeaseReply {
		// A witness of this build answers a signed request with the signed reply of its
		// version, and an earlier one does not answer it at all: another type (an unsigned
		// reply in place of a signed one) was made on the way, and counts as forged.
		return leaseAnswer{}, fmt.Errorf("%w: %w: witness reply of type %d, want %d",
			ErrWitnessReplyForged, ErrFrame, reply.kind, replyKind)
	}
	if reply.kind != replyKind {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply of type %d, want %d", ErrFrame,
			reply.kind, replyKind)
	}
	decode := decodeLeaseAnswer
	if kind == leaseProbeWritten {
		decode = decodeWrittenLeaseAnswer
	}
	switch replyKind {
	case frameLeaseReplyIdentified:
		return decodeIdentifiedLeaseAnswer(c.key, c.pinnedID, nodeNonce, witnessNonce,
			reply.epoch, reply.body, decode)
	case frameLeaseReplySigned:
		return decodeSignedLeaseAnswer(c.key, nodeNonce, witnessNonce, reply.epoch,
			reply.body, decode)
	default:
		return decodeLeaseAnswer(reply.body) // Never a release nor a written probe: signed only.
	}
}

// version chooses the request's and the reply's frame types for the witness's challenge:
// v3 for a pinned node, once the witness announces the pinned id (ErrWitnessIdentity
// otherwise); without a pin, v2 if the witness signs, else v1 if TLS authenticates the
// replies, or if unsigned replies are allowed and the ratchet is not raised
// (ErrWitnessDowngrade when it is, ErrWitnessUnsigned otherwise).
func (c witnessClient) version(announced witnessChallenge) (requestKind, replyKind frameType,
	err error) {
	pinned := c.pinnedID != ""
	switch {
	case pinned && announced.features&witnessProvesIdentity == 0:
		return 0, 0, fmt.Errorf("%w: want %q, the witness proves no identity (a build "+
			"before session 38: upgrade the witness)", ErrWitnessIdentity, c.pinnedID)
	case pinned && announced.id != c.pinnedID:
		return 0, 0, fmt.Errorf("%w: want %q, the witness announces %q", ErrWitnessIdentity,
			c.pinnedID, announced.id)
	case pinned:
		return frameLeaseRequestIdentified, frameLeaseReplyIdentified, nil
	case announced.features&witnessSignsReplies != 0:
		return frameLeaseRequestSigned, frameLeaseReplySigned, nil
	case c.tls == nil && c.signedRequired:
		return 0, 0, ErrWitnessDowngrade
	case c.tls == nil && !c.unsignedAllowed:
		return 0, 0, ErrWitnessUnsigned
	default:
		return frameLeaseRequest, frameLeaseReply, nil
	}
}

// decodeIdentifiedLeaseAnswer reads a v3 reply's body as decodeSignedLeaseAnswer does a
// v2 one, its mac checked over id, the one the node pins: a reply from a witness of
// another id fails (ErrWitnessReplyForged), whatever id its challenge announced.
func decodeIdentifiedLeaseAnswer(key []byte, id string, nodeNonce, witnessNonce []byte,
	epoch uint64, body []byte, decode func(reply []byte) (leaseAnswer, error)) (leaseAnswer,
	error) {
	return openLeaseAnswer(body, func(reply []byte) []byte {
		return leaseIdentifiedReplyMAC(key, id, nodeNonce, witnessNonce, epoch, reply)
	}, decode)
}

// decodeSignedLeaseAnswer reads a v2 reply's body: it checks the reply mac before it
// reads anything else (ErrWitnessReplyForged), then decodes the answer with decode
// (decodeLeaseAnswer, or decodeWrittenLeaseAnswer for a written probe's).
func decodeSignedLeaseAnswer(key, nodeNonce, witnessNonce []byte, epoch uint64,
	body []byte, decode func(reply []byte) (leaseAnswer, error)) (leaseAnswer, error) {
	return openLeaseAnswer(body, func(reply []byte) []byte {
		return leaseReplyMAC(key, nodeNonce, witnessNonce, epoch, reply)
	}, decode)
}

// openLeaseAnswer checks a signed reply's mac against replyMAC of the reply (v2's or
// v3's) before it reads anything else (ErrWitnessReplyForged), then decodes the answer
// with decode (decodeLeaseAnswer, or decodeWrittenLeaseAnswer for a written probe's).
func openLeaseAnswer(body []byte, replyMAC func(reply []byte) []byte,
	decode func(reply []byte) (leaseAnswer, error)) (leaseAnswer, error) {
	if len(body) < leaseReplyMACBytes {
		// Shorter than its mac: cut on the way (a witness always signs), so forged too.
		return leaseAnswer{}, fmt.Errorf("%w: %w: signed witness reply of %d bytes",
			ErrWitnessReplyForged, ErrFrame, len(body))
	}
	reply := body[leaseReplyMACBytes:]
	if !hmac.Equal(replyMAC(reply),
		body[:leaseReplyMACBytes]) {
		return leaseAnswer{}, ErrWitnessReplyForged
	}
	answer, err := decode(reply)
	answer.signed = err == nil
	return answer, err
}

// leaseRequest is a lease request's payload: what follows the mac, and what it covers.
type leaseRequest struct {
	kind  byte
	epoch uint64
	node  string
}

func (r leaseRequest) encode() []byte {
	b := make([]byte, leaseRequestFixedBytes, leaseRequestFixedBytes+len(r.node))
	b[0] = r.kind
	binary.LittleEndian.PutUint64(b[leaseEpochOffset:], r.epoch)
	binary.LittleEndian.PutUint16(b[leaseRequestNodeOffset:], uint16(len(r.node)))
	return append(b, r.node...)
}

// decodeLeaseRequest reads a request's payload. It refuses an unknown kind and reserved
// bytes that are not zero, as every decoder of the link does: a later version that
// gives them a meaning is refused by this witness, not misread.
func decodeLeaseRequest(payload []byte) (leaseRequest, error) {
	if len(payload) < leaseRequestFixedBytes || len(payload) != leaseRequestFixedBytes+
		int(binary.LittleEndian.Uint16(payload[leaseRequestNodeOffset:])) {
		return leaseRequest{}, fmt.Errorf("%w: lease request of %d bytes", ErrFrame,
			len(payload))
	}
	if kind := payload[0]; kind < leaseRenew || kind > leaseProbeWritten {
		return leaseRequest{}, fmt.Errorf("%w: lease request of unknown kind %d", ErrFrame, kind)
	}
	if !model.AllZero(payload[leaseReservedOffset:leaseReservedOffsetEnd]) {
		return leaseRequest{}, fmt.Errorf("%w: lease request with reserved bytes set", ErrFrame)
	}
	return leaseRequest{kind: payload[0],
		epoch: binary.LittleEndian.Uint64(payload[leaseEpochOffset:]),
		node:  string(payload[leaseRequestFixedBytes:])}, nil
}

// encode returns the reply carrying the answer. valid is never negative (decide clamps
// it): the field is unsigned.
func (a leaseAnswer) encode() []byte {
	b := make([]byte, leaseReplyFixedBytes, leaseReplyFixedBytes+len(a.holder))
	if a.granted {
		b[0] = 1
	}
	binary.LittleEndian.PutUint64(b[leaseEpochOffset:], a.epoch)
	binary.LittleEndian.PutUint64(b[leaseReplyValidOffset:], uint64(a.valid.Milliseconds()))
	binary.LittleEndian.PutUint16(b[leaseReplyHolderOffset:], uint16(len(a.holder)))
	return append(b, a.holder...)
}

// decodeLeaseAnswer reads a witness reply. It refuses a granted byte other than 0 or 1,
// reserved bytes that are not zero (see decodeLeaseRequest), and a valid time that does
// not fit a time.Duration (it would wrap, and a grant be counted on for a negative or
// arbitrary time), except a refusal's negative wait from an earlier witness, read as 0.
func decodeLeaseAnswer(body []byte) (leaseAnswer, error) {
	if len(body) < leaseReplyFixedBytes || len(body) != leaseReplyFixedBytes+
		int(binary.LittleEndian.Uint16(body[leaseReplyHolderOffset:])) {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply of %d bytes", ErrFrame, len(body))
	}
	if body[0] > 1 {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply granted byte %d", ErrFrame, body[0])
	}
	if !model.AllZero(body[leaseReservedOffset:leaseReservedOffsetEnd]) {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply with reserved bytes set", ErrFrame)
	}
	validMs := binary.LittleEndian.Uint64(body[leaseReplyValidOffset:])
	if body[0] == 0 && int64(validMs) < 0 {
		// A witness of an earlier build (before session 36) wrote the wait left on a lease
		// that had run out as is: negative, wrapped near 2^64. A refusal's valid time
		// decides nothing (it is only printed), and refusing the reply would turn "the
		// lease is given to another node" into "the witness is unreachable" during a
		// rolling upgrade: the primary would fence a lease later, giving the wrong reason.
		validMs = 0
	}
	if validMs > uint64(math.MaxInt64/int64(time.Millisecond)) {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply valid for %d ms", ErrFrame, validMs)
	}
	return leaseAnswer{granted: body[0] == 1, holder: string(body[leaseReplyFixedBytes:]),
		epoch: binary.LittleEndian.Uint64(body[leaseEpochOffset:]),
		valid: time.Duration(validMs) * time.Millisecond}, nil
}

// appendWritten appends the written extension (see Releases) of the answer to reply, the
// answer's encoding: a leaseProbeWritten's reply.
func (a leaseAnswer) appendWritten(reply []byte) []byte {
	written := make([]byte, leaseWrittenBytes)
	written[leaseWrittenVersionOffset] = leaseWrittenVersion
	if a.released {
		written[leaseWrittenReleasedOffset] = 1
	}
	binary.LittleEndian.PutUint64(written[leaseWrittenEpochOffset:], a.writtenEpoch)
	return append(reply, written...)
}

// decodeWrittenLeaseAnswer reads a leaseProbeWritten's reply: the answer as
// decodeLeaseAnswer reads it, then the written extension after the holder. It refuses a
// reply without the extension or longer than it, another version, a released byte other
// than 0 or 1, reserved bytes set, a written epoch above the holder epoch, and a grant (a
// probe is never granted).
func decodeWrittenLeaseAnswer(body []byte) (leaseAnswer, error) {
	if len(body) < leaseReplyFixedBytes {
		return leaseAnswer{}, fmt.Errorf("%w: witness reply of %d bytes", ErrFrame, len(body))
	}
	holderEnd := leaseReplyFixedBytes +
		int(binary.LittleEndian.Uint16(body[leaseReplyHolderOffset:]))
	if len(body) != holderEnd+leaseWrittenBytes {
		return leaseAnswer{}, fmt.Errorf("%w: written probe reply of %d bytes, its holder "+
			"ending at %d", ErrFrame, len(body), holderEnd)
	}
	answer, err := decodeLeaseAnswer(body[:holderEnd])
	if err != nil {
		return leaseAnswer{}, err
	}
	written := body[holderEnd:]
	if version := written[leaseWrittenVersionOffset]; version != leaseWrittenVersion {
		return leaseAnswer{}, fmt.Errorf("%w: written extension of version %d, want %d",
			ErrFrame, version, leaseWrittenVersion)
	}
	if released := written[leaseWrittenReleasedOffset]; released > 1 {
		return leaseAnswer{}, fmt.Errorf("%w: written extension released byte %d", ErrFrame,
			released)
	}
	if !model.AllZero(written[leaseWrittenReleasedOffset+1 : leaseWrittenReservedEnd]) {
		return leaseAnswer{}, fmt.Errorf("%w: written extension with reserved bytes set",
			ErrFrame)
	}
	answer.writtenKnown = true
	answer.released = written[leaseWrittenReleasedOffset] == 1
	answer.writtenEpoch = binary.LittleEndian.Uint64(written[leaseWrittenEpochOffset:])
	if answer.writtenEpoch > answer.epoch || answer.granted {
		return leaseAnswer{}, fmt.Errorf("%w: written probe reply granted %v, written epoch "+
			"%d above its epoch %d", ErrFrame, answer.granted, answer.writtenEpoch,
			answer.epoch)
	}
	return answer, nil
}
