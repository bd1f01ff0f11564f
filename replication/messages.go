package replication

import (
	"encoding/binary"
	"fmt"

	"sequent/core"
	"sequent/core/model"
	"sequent/wal"
)

// nonceSize is the size of the primary's challenge nonce.
const nonceSize = 32

// hello is a standby's opening message for one of its shards: which shard, of which map,
// and what that shard's log holds.
//
//	mac[32] | shard u16 | shards u16 | map checksum u32 | last op u64 | point count u32 |
//	reserved u32 | points: (op u64, chain[32])×n
type hello struct {
	shard       uint16 // The shard this link replicates.
	shards      uint16 // The standby's shard count and map checksum: its primary's must
	mapChecksum uint32 // be the same (shardmap.Map.Checksum).
	lastOp      uint64
	points      []wal.ChainPoint // Recent entry boundaries, newest first.
}

const helloHeaderSize = 24

func (h *hello) encodePayload() []byte {
	b := make([]byte, helloHeaderSize, helloHeaderSize+len(h.points)*40)
	binary.LittleEndian.PutUint16(b[0:], h.shard)
	binary.LittleEndian.PutUint16(b[2:], h.shards)
	binary.LittleEndian.PutUint32(b[4:], h.mapChecksum)
	binary.LittleEndian.PutUint64(b[8:], h.lastOp)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(h.points)))
	for _, point := range h.points {
		b = binary.LittleEndian.AppendUint64(b, point.LastOp)
		b = append(b, point.Chain[:]...)
	}
	return b
}

func decodeHello(payload []byte) (hello, error) {
	if len(payload) < helloHeaderSize {
		return hello{}, fmt.Errorf("%w: hello of %d bytes", ErrFrame, len(payload))
	}
	count := binary.LittleEndian.Uint32(payload[16:])
	if count > recentChainsMax || len(payload) != helloHeaderSize+int(count)*40 ||
		binary.LittleEndian.Uint32(payload[20:]) != 0 {
		return hello{}, fmt.Errorf("%w: hello with %d points in %d bytes", ErrFrame, count,
			len(payload))
	}
	h := hello{shard: binary.LittleEndian.Uint16(payload[0:]),
		shards:      binary.LittleEndian.Uint16(payload[2:]),
		mapChecksum: binary.LittleEndian.Uint32(payload[4:]),
		lastOp:      binary.LittleEndian.Uint64(payload[8:])}
	for i := 0; i < int(count); i++ {
		offset := helloHeaderSize + i*40
		var point wal.ChainPoint
		point.LastOp = binary.LittleEndian.Uint64(payload[offset:])
		copy(point.Chain[:], payload[offset+8:offset+40])
		h.points = append(h.points, point)
	}
	return h, nil
}

// plan is what the primary tells a standby to do before streaming.
type plan uint8

const (
	planStream   plan = 1 // Your log is a prefix of mine: entries after op follow.
	planTruncate plan = 2 // Discard your entries after op (never acknowledged), then stream.
	planSnapshot plan = 3 // Start over from my snapshot at op (chunks follow), then stream.
)

func (p plan) String() string {
	switch p {
	case planStream:
		return "stream"
	case planTruncate:
		return "truncate"
	case planSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("plan(%d)", uint8(p))
}

// welcome is the primary's answer to a hello.
//
//	plan u8 | rules u8 | reserved[6] | op u64 | chain[32] | address length u16 | address
//
// rules is the newest rules version the primary's build writes (core, "Rules version"):
// the primary may log upgrade_rules to it. A build that knows no rules versions reads the
// byte as reserved and refuses the welcome, and a standby refuses a version above its
// own, instead of following entries it would apply otherwise (an upgrade_rules it does
// not know is answered unknown_operation and skipped). 0 is a primary of a build before
// versions.
type welcome struct {
	plan    plan
	rules   uint8    // Newest rules version the primary writes.
	op      uint64   // Common op (stream, truncate) or snapshot op.
	chain   [32]byte // Chain hash at op.
	address string   // The primary's client address, for redirects.
}

func (w *welcome) encode() []byte {
	b := make([]byte, 50, 50+len(w.address))
	b[0] = byte(w.plan)
	b[1] = w.rules
	binary.LittleEndian.PutUint64(b[8:], w.op)
	copy(b[16:48], w.chain[:])
	binary.LittleEndian.PutUint16(b[48:], uint16(len(w.address)))
	return append(b, w.address...)
}

func decodeWelcome(body []byte) (welcome, error) {
	if len(body) < 50 || int(binary.LittleEndian.Uint16(body[48:])) != len(body)-50 {
		return welcome{}, fmt.Errorf("%w: welcome of %d bytes", ErrFrame, len(body))
	}
	w := welcome{plan: plan(body[0]), rules: body[1], op: binary.LittleEndian.Uint64(body[8:]),
		address: string(body[50:])}
	copy(w.chain[:], body[16:48])
	if w.plan < planStream || w.plan > planSnapshot {
		return welcome{}, fmt.Errorf("%w: unknown plan %d", ErrFrame, body[0])
	}
	if uint32(w.rules) > core.RulesVersionCurrent {
		return welcome{}, fmt.Errorf("%w: the primary writes rules version %d, this build "+
			"applies up to %d: upgrade this standby's build", ErrFrame, w.rules,
			core.RulesVersionCurrent)
	}
	// Reserved bytes must be zero, as the hello's reserved word: a future version that
	// gives them a meaning is refused by this one instead of misread.
	if !model.AllZero(body[2:8]) {
		return welcome{}, fmt.Errorf("%w: welcome with reserved bytes set", ErrFrame)
	}
	return w, nil
}

func encodeUint64s(values ...uint64) []byte {
	b := make([]byte, 0, 8*len(values))
	for _, value := range values {
		b = binary.LittleEndian.AppendUint64(b, value)
	}
	return b
}

func decodeUint64s(body []byte, count int) ([]uint64, error) {
	if len(body) != 8*count {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrFrame, len(body), 8*count)
	}
	values := make([]uint64, count)
	for i := range values {
		values[i] = binary.LittleEndian.Uint64(body[8*i:])
	}
	return values, nil
}
