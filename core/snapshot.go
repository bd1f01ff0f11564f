package core

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"sequent/core/ledger"
	"sequent/core/match"
	"sequent/core/model"
	"sequent/core/risk"
	"sequent/core/saga"
)

// Machine snapshot format (little-endian), followed by the ledger section
// (core/ledger/snapshot.go), the matching section (core/match/snapshot.go) and the risk
// section (core/risk/snapshot.go; version 5 on):
//
//	header   magic "SQMACHIN" (8) | version u32 | sessions u32 | clock u64 | op u64 = 32
//	rules    rules version u32 | client limits u32 (count)    (version 6 only) = 8
//	  limit  count × 16-byte model.ClientLimit records, by client (version 6 only)
//	session  client u64 | session u64 | highest u64 | last op u64 | applied 4×u64 |
//	         replies u32 | reserved u32 (zero)                              = 72 bytes
//	  reply  number u64 | op u64 | status u32 | length u32 | request digest u64 |
//	         body (length bytes)
//	reports  count u64 | (client u64, last report sequence u64) × count, by client id
//	sagas    the saga table's section (core/saga/snapshot.go; version 4 on)
//
// Sessions appear in table order, replies oldest first. Version 3 added the request
// digest of cached replies (older versions are refused); version 4 the saga section
// (issue 13); version 5 the risk section (issue 16); version 6 the rules version (rules.go).
// The client limits (set_grants, rules version 3 on) took version 6's reserved word: it
// was zero in every file written before them, which reads as no limit, and a machine
// with limits is at rules version 3 or later, so always written as version 6. They are
// in this header, not in the ledger section whose header has no room, so that the
// ledger's format did not change; the per-client counts they bound are derived from the
// accounts' owners, which the ledger section has.
// Version 5 is still written, and read as rules version 1, for a machine at rules version
// 1: the state of a log that was never upgraded then encodes, and digests, exactly as it
// did before versions existed, so that snapshots and digests of existing data directories
// (sequent verify, the standby's digest comparison) still match. Version 4 is read with
// no risk rules, version 3 as an unsharded machine with no sagas and no risk rules (both
// at rules version 1).
const (
	machineSnapshotMagic          = "SQMACHIN"
	machineSnapshotVersion        = 6
	machineSnapshotVersionNoRules = 5
	machineSnapshotVersionNoRisk  = 4
	machineSnapshotVersionNoSagas = 3
	machineHeaderSize             = 32
	machineRulesSize              = 8
	sessionHeaderSize             = 72
	cachedReplyHeaderSize         = 32
)

// ErrSnapshotInvalid reports a machine snapshot that cannot be loaded.
var ErrSnapshotInvalid = errors.New("core: invalid snapshot")

// Snapshot is the machine's state at one op, ready to be written from another goroutine.
type Snapshot struct {
	Op        uint64 // Last op applied.
	Timestamp uint64 // The machine's clock.
	header    []byte // Machine header, sessions and report sequences, encoded on the sequencer.
	ledger    *ledger.SnapshotView
	match     *match.SnapshotView
	risk      *risk.SnapshotView
}

// Snapshot captures the state between entries. Its cost on the sequencer is encoding the
// session table and copying the accounts (see ledger.Snapshot).
func (m *Machine) Snapshot() *Snapshot {
	header := make([]byte, machineHeaderSize, machineHeaderSize+len(m.sessions.sessions)*
		sessionHeaderSize)
	copy(header, machineSnapshotMagic)
	binary.LittleEndian.PutUint32(header[8:], machineSnapshotVersionNoRules)
	binary.LittleEndian.PutUint32(header[12:], uint32(len(m.sessions.sessions)))
	binary.LittleEndian.PutUint64(header[16:], m.clock)
	binary.LittleEndian.PutUint64(header[24:], m.opLast)
	if m.rules != RulesVersionFirst {
		binary.LittleEndian.PutUint32(header[8:], machineSnapshotVersion)
		limits := m.ledger.AccountLimits() // Encoded here, on the owning goroutine.
		header = binary.LittleEndian.AppendUint32(header, m.rules)
		header = binary.LittleEndian.AppendUint32(header, uint32(len(limits)))
		var record [model.ClientLimitSize]byte
		for i := range limits {
			limits[i].Encode(record[:])
			header = append(header, record[:]...)
		}
	}
	for _, s := range m.sessions.sessions {
		header = appendSession(header, s)
	}
	clients := make([]uint64, 0, len(m.reportSequences))
	for client := range m.reportSequences {
		clients = append(clients, client)
	}
	slices.Sort(clients) // The map's order must not show.
	header = binary.LittleEndian.AppendUint64(header, uint64(len(clients)))
	for _, client := range clients {
		header = binary.LittleEndian.AppendUint64(header, client)
		header = binary.LittleEndian.AppendUint64(header, m.reportSequences[client])
	}
	header = m.sagas.AppendSnapshot(header)
	return &Snapshot{Op: m.opLast, Timestamp: m.clock, header: header,
		ledger: m.ledger.Snapshot(), match: m.match.Snapshot(), risk: m.ledger.Risk().Snapshot()}
}

func appendSession(b []byte, s *session) []byte {
	var fixed [sessionHeaderSize]byte
	binary.LittleEndian.PutUint64(fixed[0:], s.key.client)
	binary.LittleEndian.PutUint64(fixed[8:], s.key.session)
	binary.LittleEndian.PutUint64(fixed[16:], s.highest)
	binary.LittleEndian.PutUint64(fixed[24:], s.lastOp)
	for i, word := range s.applied {
		binary.LittleEndian.PutUint64(fixed[32+8*i:], word)
	}
	binary.LittleEndian.PutUint32(fixed[64:], uint32(s.count))
	b = append(b, fixed[:]...)
	for i := 0; i < s.count; i++ {
		reply := &s.replies[(s.first+i)%sessionWindow]
		var replyHeader [cachedReplyHeaderSize]byte
		binary.LittleEndian.PutUint64(replyHeader[0:], reply.number)
		binary.LittleEndian.PutUint64(replyHeader[8:], reply.op)
		binary.LittleEndian.PutUint32(replyHeader[16:], uint32(reply.status))
		binary.LittleEndian.PutUint32(replyHeader[20:], uint32(reply.length))
		binary.LittleEndian.PutUint64(replyHeader[24:], reply.digest)
		b = append(b, replyHeader[:]...)
		b = append(b, s.body(reply)...)
	}
	return b
}

// WriteTo writes the snapshot. Safe from any goroutine.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	written, err := w.Write(s.header)
	if err != nil {
		return int64(written), err
	}
	ledgerWritten, err := s.ledger.WriteTo(w)
	if err != nil {
		return int64(written) + ledgerWritten, err
	}
	matchWritten, err := s.match.WriteTo(w)
	if err != nil {
		return int64(written) + ledgerWritten + matchWritten, err
	}
	riskWritten, err := s.risk.WriteTo(w)
	return int64(written) + ledgerWritten + matchWritten + riskWritten, err
}

// Release hands the snapshot's copy buffers back to the machine's ledger for the next
// snapshot (it must not be used afterwards). Safe from any goroutine.
func (s *Snapshot) Release() { s.ledger.Release() }

// Digest returns the SHA-256 of the snapshot encoding: equal digests mean equal state.
func (s *Snapshot) Digest() [32]byte {
	hash := sha256.New()
	if _, err := s.WriteTo(hash); err != nil {
		panic(fmt.Sprintf("core: digest: %v", err)) // A hash never fails to write.
	}
	var digest [32]byte
	copy(digest[:], hash.Sum(nil))
	return digest
}

// Digest returns the digest of the machine's current state (O(state)).
func (m *Machine) Digest() [32]byte { return m.Snapshot().Digest() }

// Restore builds a machine from a snapshot. The input is untrusted: anything malformed is
// an error wrapping ErrSnapshotInvalid (or ledger.ErrSnapshotInvalid), never a panic.
func Restore(config Config, r io.Reader) (*Machine, error) {
	c := config.withDefaults()
	reader := bufio.NewReaderSize(r, 1<<16)
	var header [machineHeaderSize]byte
	if _, err := io.ReadFull(reader, header[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshotInvalid, err)
	}
	if string(header[:8]) != machineSnapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrSnapshotInvalid)
	}
	version := binary.LittleEndian.Uint32(header[8:])
	if version < machineSnapshotVersionNoSagas || version > machineSnapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrSnapshotInvalid, version,
			machineSnapshotVersion)
	}
	rules, limits, err := readRules(reader, version)
	if err != nil {
		return nil, err
	}
	sessionCount := binary.LittleEndian.Uint32(header[12:])
	if int64(sessionCount) > int64(c.SessionsMax) {
		return nil, fmt.Errorf("%w: %d sessions, limit %d", ErrSnapshotInvalid, sessionCount,
			c.SessionsMax)
	}
	sessions := newSessionTable(c.SessionsMax)
	for i := uint32(0); i < sessionCount; i++ {
		s, err := readSession(reader, c.SessionReplyBytesMax)
		if err != nil {
			return nil, fmt.Errorf("%w: session %d: %v", ErrSnapshotInvalid, i, err)
		}
		if _, duplicate := sessions.index.find(s.key); duplicate {
			return nil, fmt.Errorf("%w: session %d appears twice", ErrSnapshotInvalid, i)
		}
		sessions.add(s)
	}
	reportSequences, err := readReportSequences(reader)
	if err != nil {
		return nil, fmt.Errorf("%w: report sequences: %v", ErrSnapshotInvalid, err)
	}
	sagas, err := readSagas(reader, version, &c)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Restore(c.Ledger, reader)
	if err != nil {
		return nil, err
	}
	if err := l.SetAccountLimits(limits); err != nil { // Validated by readRules.
		return nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	engine, err := match.Restore(l, c.Match, reader)
	if err != nil {
		return nil, err
	}
	if rules < rulesVersionOrderFlags && engine.IncreasingAccountCount() != 0 {
		// Only a flagged place opts in, from that version on: no log reaches this state.
		return nil, fmt.Errorf("%w: %d accounts with increasing client order ids at rules "+
			"version %d", ErrSnapshotInvalid, engine.IncreasingAccountCount(), rules)
	}
	if err := sagas.Index(l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshotInvalid, err)
	}
	if version >= machineSnapshotVersionNoRules { // Versions 5 and 6 carry the risk section.
		riskRules, err := risk.Restore(reader, l.ResolveAccount, l.AccountCount())
		if err != nil {
			return nil, err
		}
		l.SetRisk(riskRules)
	}
	// The stream must end here. Reading to its end also surfaces a checksum failure that a
	// verifying reader (wal.OpenSnapshot) reports only at EOF.
	if _, err := reader.ReadByte(); err != io.EOF {
		if err == nil {
			err = errors.New("bytes after the state")
		}
		return nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	m := newMachine(c, l, engine, sagas)
	m.sessions, m.reportSequences = sessions, reportSequences
	m.clock = binary.LittleEndian.Uint64(header[16:])
	m.opLast = binary.LittleEndian.Uint64(header[24:])
	m.setRules(rules)
	return m, nil
}

// readRules reads the rules version of a version 6 snapshot and the client limits in
// force; older ones are at rules version 1, without limits. Version 6 is written only
// above rules version 1 (one encoding per state), and limits only from rules version 3.
func readRules(r io.Reader, version uint32) (uint32, []model.ClientLimit, error) {
	if version < machineSnapshotVersion {
		return RulesVersionFirst, nil, nil
	}
	var field [machineRulesSize]byte
	if _, err := io.ReadFull(r, field[:]); err != nil {
		return 0, nil, fmt.Errorf("%w: rules version: %v", ErrSnapshotInvalid, err)
	}
	rules := binary.LittleEndian.Uint32(field[:])
	if rules <= RulesVersionFirst || rules > RulesVersionCurrent {
		return 0, nil, fmt.Errorf("%w: rules version %d (this build applies %d to %d)",
			ErrSnapshotInvalid, rules, RulesVersionFirst+1, RulesVersionCurrent)
	}
	count := binary.LittleEndian.Uint32(field[4:])
	if count == 0 {
		return rules, nil, nil
	}
	if rules < rulesVersionClientLimits || count > model.ClientLimitsMax {
		return 0, nil, fmt.Errorf("%w: %d client limits at rules version %d",
			ErrSnapshotInvalid, count, rules)
	}
	limits := make([]model.ClientLimit, count)
	var record [model.ClientLimitSize]byte
	for i := range limits {
		if _, err := io.ReadFull(r, record[:]); err != nil {
			return 0, nil, fmt.Errorf("%w: client limit %d: %v", ErrSnapshotInvalid, i, err)
		}
		if !limits[i].Decode(record[:]) {
			return 0, nil, fmt.Errorf("%w: client limit %d: reserved bytes", ErrSnapshotInvalid, i)
		}
	}
	if err := model.ValidateClientLimits(limits); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	return rules, limits, nil
}

// readSagas reads the saga section (version 3), or starts an empty saga table for a
// version 2 snapshot, which only an unsharded machine may load.
func readSagas(r io.Reader, version uint32, c *Config) (*saga.Book, error) {
	if version >= machineSnapshotVersionNoRisk { // Versions 4 to 6 carry the saga section.
		book, err := saga.ReadSnapshot(r, c.Shard.Map, c.Shard.Index)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSnapshotInvalid, err)
		}
		return book, nil
	}
	if c.Shard.Map.Shards != 1 {
		return nil, fmt.Errorf("%w: a version %d snapshot predates shards; this machine is "+
			"shard %d of %s", ErrSnapshotInvalid, version, c.Shard.Index, c.Shard.Map)
	}
	return saga.New(c.Shard.Map, c.Shard.Index), nil
}

// readReportSequences reads the per-client report sequence numbers (sorted, unique).
func readReportSequences(r io.Reader) (map[uint64]uint64, error) {
	var count [8]byte
	if _, err := io.ReadFull(r, count[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(count[:])
	if n > reportClientsMax {
		return nil, fmt.Errorf("%d clients", n)
	}
	sequences := make(map[uint64]uint64, n)
	previous := uint64(0)
	for i := uint64(0); i < n; i++ {
		var pair [16]byte
		if _, err := io.ReadFull(r, pair[:]); err != nil {
			return nil, err
		}
		client := binary.LittleEndian.Uint64(pair[0:])
		if client <= previous {
			return nil, fmt.Errorf("client %d out of order", client)
		}
		previous = client
		sequences[client] = binary.LittleEndian.Uint64(pair[8:])
	}
	return sequences, nil
}

func readSession(r io.Reader, bytesMax int) (*session, error) {
	var fixed [sessionHeaderSize]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, err
	}
	s := &session{key: sessionKey{binary.LittleEndian.Uint64(fixed[0:]),
		binary.LittleEndian.Uint64(fixed[8:])}}
	s.highest = binary.LittleEndian.Uint64(fixed[16:])
	s.lastOp = binary.LittleEndian.Uint64(fixed[24:])
	for i := range s.applied {
		s.applied[i] = binary.LittleEndian.Uint64(fixed[32+8*i:])
	}
	count := binary.LittleEndian.Uint32(fixed[64:])
	if count > sessionWindow || binary.LittleEndian.Uint32(fixed[68:]) != 0 || s.key.client == 0 {
		return nil, fmt.Errorf("%d cached replies or bad header", count)
	}
	for i := uint32(0); i < count; i++ {
		var replyHeader [cachedReplyHeaderSize]byte
		if _, err := io.ReadFull(r, replyHeader[:]); err != nil {
			return nil, err
		}
		length := binary.LittleEndian.Uint32(replyHeader[20:])
		if int64(length) > int64(replyBytesMax) {
			return nil, fmt.Errorf("cached reply of %d bytes", length)
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		number := binary.LittleEndian.Uint64(replyHeader[0:])
		// A cached reply's number may have left the window: numbers may have gaps, and the
		// cache evicts by count and bytes, not by number (a client that jumps a window
		// ahead leaves its earlier replies cached; classify answers request_too_old to
		// them before the cache is read). Only a number inside the window that was never
		// applied is inconsistent.
		if applied, tooOld := s.classify(number); !applied && !tooOld {
			return nil, fmt.Errorf("cached reply %d is not an applied request", number)
		}
		s.cache(number, binary.LittleEndian.Uint64(replyHeader[8:]),
			model.Status(binary.LittleEndian.Uint32(replyHeader[16:])),
			binary.LittleEndian.Uint64(replyHeader[24:]), body, bytesMax)
	}
	if uint32(s.count) != count {
		return nil, fmt.Errorf("%d cached replies do not fit %d bytes: configuration differs",
			count, bytesMax)
	}
	return s, nil
}
