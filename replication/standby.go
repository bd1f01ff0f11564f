package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"sequent/wal"
)

// StandbyConfig configures the standby's end of replication.
type StandbyConfig struct {
	Address string      // The primary's replication address.
	Key     []byte      // Shared replication secret.
	TLS     *tls.Config // Dial over TLS with this configuration; nil = plain TCP.
	Log     *wal.Log    // The standby's own log (of shard Shard).
	// Shard is the shard this link replicates; Shards and MapChecksum describe the
	// standby's shard map, which must be the primary's (else ErrShardMapMismatch).
	Shard       uint16
	Shards      uint16
	MapChecksum uint32
	Logger      *slog.Logger
	// StateAfter, when the log is empty, is where the standby's state ends: the op and
	// chain of the one snapshot beside that log (a start over cut short before its new
	// log recorded its base). The hello then names it as the standby's last op and only point, so that
	// the primary streams after it if it holds that op of the same history, and plans a
	// start over or refuses (ErrDiverged) otherwise, as for a standby with a log; a hello
	// of op 0 would have it stream from op 1 whatever it holds, an empty primary too.
	StateAfter *wal.ChainPoint
}

// Link is one authenticated connection from a standby to its primary.
type Link struct {
	config       StandbyConfig
	conn         net.Conn
	reader       *frameReader
	writeMutex   sync.Mutex // Guards writer: the ack sender and the stream both write.
	writer       *bufio.Writer
	PrimaryEpoch uint64  // The primary's epoch at the handshake.
	Welcome      welcome // The primary's plan.
}

// ErrResyncNeeded reports that the primary asked this running standby to truncate or
// start over from a snapshot: its state must be rebuilt, which only a restart does.
var ErrResyncNeeded = errors.New("replication: the primary asks for a resync; restart the standby")

// Dial connects to the primary, proves the shared key, and learns the plan: how the
// standby's log continues the primary's. epoch is the standby's current epoch. It gives
// up as soon as ctx ends (a primary that hangs accepts the connection but never answers:
// without that, a promotion or a shutdown would wait for handshakeTimeout). A primary
// that refuses the key is ErrUnauthenticated: no retry can cure it.
func Dial(ctx context.Context, config StandbyConfig, epoch uint64) (*Link, error) {
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	conn, err := dialLink(ctx, config.Address, config.TLS, handshakeTimeout)
	if err != nil {
		return nil, err
	}
	link := &Link{config: config, conn: conn, reader: newFrameReader(conn),
		writer: bufio.NewWriterSize(conn, 1<<16)}
	release := closeWhenDone(ctx, conn)
	err = link.handshake(epoch)
	if !release() || ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return link, nil
}

func (l *Link) handshake(epoch uint64) error {
	l.conn.SetDeadline(time.Now().Add(handshakeTimeout))
	challenge, err := l.reader.read()
	if err != nil {
		if tlsRefused(err) {
			// With TLS 1.3 the server judges our certificate after our side of the
			// handshake is done: its refusal arrives here, at the first read.
			return fmt.Errorf("%w: TLS: %v", ErrUnauthenticated, err)
		}
		return err
	}
	if challenge.kind != frameChallenge || len(challenge.body) != nonceSize+8 {
		return fmt.Errorf("%w: expected a challenge", ErrFrame)
	}
	nonce := append([]byte(nil), challenge.body[:nonceSize]...)
	h := hello{shard: l.config.Shard, shards: max(l.config.Shards, 1),
		mapChecksum: l.config.MapChecksum, lastOp: l.config.Log.LastOp(),
		points: l.config.Log.RecentChains(recentChainsMax)}
	if after := l.config.StateAfter; after != nil && h.lastOp == 0 {
		h.lastOp, h.points = after.LastOp, []wal.ChainPoint{*after}
	}
	payload := h.encodePayload()
	body := append(mac(l.config.Key, frameHello, nonce, epoch, payload), payload...)
	if err := writeFrame(l.writer, frameHello, epoch, body); err != nil {
		return err
	}
	if err := l.writer.Flush(); err != nil {
		return err
	}
	answer, err := l.reader.read()
	if err != nil {
		return err
	}
	switch answer.kind {
	case frameWelcome:
	case frameRefused:
		return decodeRefusal(answer.body)
	case frameError:
		return fmt.Errorf("replication: primary refused: %s", answer.body)
	default:
		return fmt.Errorf("%w: expected a welcome, got type %d", ErrFrame, answer.kind)
	}
	w, err := decodeWelcome(answer.body)
	if err != nil {
		return err
	}
	l.PrimaryEpoch, l.Welcome = answer.epoch, w
	l.conn.SetDeadline(time.Time{})
	return nil
}

// Close ends the link.
func (l *Link) Close() error { return l.conn.Close() }

// ReceiveSnapshot reads the snapshot the primary sends after a snapshot plan into dir,
// atomically (temporary file, fsync, rename, directory fsync), and returns its path. The
// directories it makes (the snapshot directory too, on a new standby) have their parents
// synced: the snapshot is renamed from dir into the snapshot directory, and the log that
// starts after it is no state without it.
func (l *Link) ReceiveSnapshot(dir string) (string, error) {
	if err := wal.MakeDirectoryDurably(dir); err != nil {
		return "", err
	}
	final := filepath.Join(dir, fmt.Sprintf("snapshot-%020d.snap", l.Welcome.op))
	if err := wal.WriteFileDurably(final, wal.FileMode, l.copySnapshot); err != nil {
		return "", err
	}
	return final, nil
}

func (l *Link) copySnapshot(file *os.File) error {
	for expected := uint64(0); ; {
		l.conn.SetReadDeadline(time.Now().Add(silenceTimeout))
		f, err := l.reader.read()
		if err != nil {
			return err
		}
		if f.kind != frameSnapshotChunk || len(f.body) < 16 {
			return fmt.Errorf("%w: expected a snapshot chunk, got type %d", ErrFrame, f.kind)
		}
		offsets, _ := decodeUint64s(f.body[:8], 1)
		if offsets[0] != expected {
			return fmt.Errorf("%w: snapshot chunk at %d, expected %d", ErrFrame, offsets[0], expected)
		}
		if _, err := file.Write(f.body[16:]); err != nil {
			return err
		}
		expected += uint64(len(f.body) - 16)
		if f.body[8] == 1 {
			return nil
		}
	}
}

// Stream applies the primary's entries (apply appends and applies one stored entry) and
// acknowledges what the standby's log makes durable, until the link fails or stop is
// closed. digests receives the primary's snapshot digests for comparison.
func (l *Link) Stream(apply func(stored []byte) error, book *digestBook, stop <-chan struct{},
	stats *StandbyStats) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			l.conn.Close()
		case <-done:
		}
	}()
	ackErrors := make(chan error, 1)
	go func() { ackErrors <- l.acknowledge(done, stats) }()
	for {
		l.conn.SetReadDeadline(time.Now().Add(silenceTimeout))
		f, err := l.reader.read()
		if err != nil {
			select {
			case ackErr := <-ackErrors:
				return errors.Join(err, ackErr)
			default:
				return err
			}
		}
		stats.lastHeard.Store(time.Now().UnixNano())
		if err := l.handle(f, apply, book, stats); err != nil {
			l.sendError(err)
			return err
		}
	}
}

func (l *Link) handle(f frame, apply func(stored []byte) error, book *digestBook,
	stats *StandbyStats) error {
	switch f.kind {
	case frameEntry:
		if err := apply(f.body); err != nil {
			return err
		}
		stats.entries.Add(1)
		stats.bytes.Add(uint64(len(f.body)))
	case frameHeartbeat:
		values, err := decodeUint64s(f.body, 2)
		if err != nil {
			return err
		}
		stats.primaryLastOp.Store(values[0])
	case frameDigest:
		if len(f.body) != 40 {
			return fmt.Errorf("%w: digest of %d bytes", ErrFrame, len(f.body))
		}
		values, _ := decodeUint64s(f.body[:8], 1)
		var digest [32]byte
		copy(digest[:], f.body[8:])
		return book.primary(values[0], digest)
	case frameError:
		return fmt.Errorf("replication: primary reported: %s", f.body)
	default:
		return fmt.Errorf("%w: unexpected frame type %d while streaming", ErrFrame, f.kind)
	}
	return nil
}

// acknowledge sends the standby log's durable op whenever it advances, and heartbeats.
func (l *Link) acknowledge(done <-chan struct{}, stats *StandbyStats) error {
	durable := l.config.Log.SubscribeDurable()
	defer l.config.Log.UnsubscribeDurable(durable)
	heartbeat := time.NewTicker(standbyHeartbeatInterval)
	defer heartbeat.Stop()
	acknowledged := uint64(0)
	for {
		// First at once (the primary infers nothing from the hello), then whenever the
		// log's durable position moves.
		if op := l.config.Log.Durable(); op > acknowledged {
			if err := l.send(frameAck, encodeUint64s(op)); err != nil {
				return err
			}
			acknowledged = op
			stats.acknowledged.Store(op)
		}
		select {
		case <-done:
			return nil
		case <-durable:
		case <-heartbeat.C:
			if err := l.send(frameHeartbeat, encodeUint64s(l.config.Log.LastOp(),
				l.config.Log.Durable())); err != nil {
				return err
			}
		}
	}
}

func (l *Link) send(kind frameType, body []byte) error {
	l.writeMutex.Lock()
	defer l.writeMutex.Unlock()
	if err := writeFrame(l.writer, kind, l.PrimaryEpoch, body); err != nil {
		return err
	}
	return l.writer.Flush()
}

func (l *Link) sendError(err error) {
	l.send(frameError, []byte(err.Error()))
}

// StandbyStats describes replication from the standby's side.
type StandbyStats struct {
	entries       atomic.Uint64
	bytes         atomic.Uint64
	acknowledged  atomic.Uint64
	primaryLastOp atomic.Uint64
	lastHeard     atomic.Int64
	connected     atomic.Bool
}

// digestBook pairs the primary's snapshot digests with the standby's own, by op.
type digestBook struct {
	mutex    sync.Mutex
	own      map[uint64][32]byte
	primarys map[uint64][32]byte
	order    []uint64
	failed   func(err error)
}

func newDigestBook(failed func(err error)) *digestBook {
	return &digestBook{own: map[uint64][32]byte{}, primarys: map[uint64][32]byte{},
		failed: failed}
}

// primary records the primary's digest at op and compares when the standby's is known.
func (b *digestBook) primary(op uint64, digest [32]byte) error {
	return b.record(op, digest, b.primarys, b.own)
}

// standby records the standby's digest at op.
func (b *digestBook) standby(op uint64, digest [32]byte) {
	if err := b.record(op, digest, b.own, b.primarys); err != nil && b.failed != nil {
		b.failed(err)
	}
}

func (b *digestBook) record(op uint64, digest [32]byte, into, other map[uint64][32]byte) error {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	if theirs, ok := other[op]; ok {
		delete(other, op)
		if theirs != digest {
			return fmt.Errorf("%w at op %d: %x vs %x", ErrDigestMismatch, op, digest, theirs)
		}
		return nil
	}
	into[op] = digest
	b.order = append(b.order, op)
	if len(b.order) > digestsRememberedMax {
		oldest := b.order[0]
		b.order = b.order[1:]
		delete(b.own, oldest)
		delete(b.primarys, oldest)
	}
	return nil
}
