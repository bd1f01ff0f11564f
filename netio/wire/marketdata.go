package wire

import (
	"encoding/binary"

	"sequent/core/model"
)

// Market-data frame sizes and bounds.
const (
	MarketDataSubscribeSize  = 16 // md_subscribe body.
	MarketDataSubscribedSize = 32 // md_subscribed body.
	MarketDataStaleSize      = 16 // md_stale body.
	// MarketDataUpdatesPerFrameMax bounds the update records of one md_update frame.
	MarketDataUpdatesPerFrameMax = 128
	// MarketDataBodyBytesMax bounds an md_update body (16 KiB).
	MarketDataBodyBytesMax = MarketDataUpdatesPerFrameMax * model.MarketDataUpdateSize
)

// Market-data channels: what a subscription delivers for its instrument(s).
const (
	// ChannelLevels: every price level change (absolute quantity; 0 removes the level).
	ChannelLevels uint32 = 1 << 0
	// ChannelTrades: every trade.
	ChannelTrades uint32 = 1 << 1
	// ChannelTop: the updates that change the top of book (best bid or ask, price or
	// quantity) as this subscriber last saw it; every update carries the top of book.
	ChannelTop uint32 = 1 << 2
	// ChannelsKnown is every defined channel; other bits are refused.
	ChannelsKnown = ChannelLevels | ChannelTrades | ChannelTop
	// ChannelShardOps (bit 3) is no channel but an opt-in: the connection keeps a resume
	// op per shard (PROTOCOL.md 18), so an instrument of a shard other than 0 is served
	// by its shard's feed. Without it such an instrument is served by shard 0's feed (no
	// update of it comes), as before market data covered every shard: a client written
	// to the older text keeps one op for every instrument.
	ChannelShardOps uint32 = 1 << 3
	// ChannelFromOpRead (bit 4) is no channel but an opt-in: the md_subscribe's from_op
	// is the op of an update the client read (PROTOCOL.md 8a, step 8), not a
	// live_from_op it was given. A server whose log ends before that op then lost it in
	// a failover, and answers market_data_resume_gap; without the bit it cannot tell
	// from_op = its newest op + 1 (a live_from_op it may have given) from that loss.
	// A server that predates the bit refuses it invalid_body.
	ChannelFromOpRead uint32 = 1 << 4
	// SubscribeBitsKnown is every bit an md_subscribe's channels may carry.
	SubscribeBitsKnown = ChannelsKnown | ChannelShardOps | ChannelFromOpRead
	// ChannelBook is what a client building a book needs: levels and trades, which
	// together are every update of the instrument, so its sequence has no gaps.
	ChannelBook = ChannelLevels | ChannelTrades
)

// MarketDataSubscribe is the body of an md_subscribe frame.
//
//	0 instrument u32 (0 = all)   4 channels u32 (0 = unsubscribe)   8 from_op u64
type MarketDataSubscribe struct {
	Instrument uint32 // 0: every instrument, present and future.
	Channels   uint32 // Channel* bits; 0 ends the subscription of this instrument (or all).
	// FromOp resumes: the server first replays the updates it retains with op >= FromOp
	// (the subscriber drops those with sequences it has); 0 = live updates only.
	FromOp uint64
}

// Encode writes the body into b[0:MarketDataSubscribeSize].
func (m *MarketDataSubscribe) Encode(b []byte) {
	_ = b[MarketDataSubscribeSize-1]
	binary.LittleEndian.PutUint32(b[0:], m.Instrument)
	binary.LittleEndian.PutUint32(b[4:], m.Channels)
	binary.LittleEndian.PutUint64(b[8:], m.FromOp)
}

// Decode reads the body from b[0:MarketDataSubscribeSize].
func (m *MarketDataSubscribe) Decode(b []byte) {
	_ = b[MarketDataSubscribeSize-1]
	m.Instrument = binary.LittleEndian.Uint32(b[0:])
	m.Channels = binary.LittleEndian.Uint32(b[4:])
	m.FromOp = binary.LittleEndian.Uint64(b[8:])
}

// MarketDataSubscribed is the body of the server's answer to md_subscribe; the header's
// status is 0, or market_data_resume_gap (230: the replay could not start at FromOp),
// busy, not_primary or permission_denied (nothing subscribed).
//
//	0 instrument u32   4 channels u32   8 from_op u64   16 oldest_op u64
//	24 replayed_through_op u64
type MarketDataSubscribed struct {
	Instrument uint32
	Channels   uint32
	FromOp     uint64 // As asked.
	// OldestOp is the oldest op from which the server holds every update, of every
	// instrument (resumes from an op at or after it are complete; one instrument's may
	// be complete from below it too: PROTOCOL.md 8a, Resuming).
	OldestOp uint64
	// ReplayedThroughOp is the op of the last update replayed (0 if none).
	ReplayedThroughOp uint64
}

// Encode writes the body into b[0:MarketDataSubscribedSize].
func (m *MarketDataSubscribed) Encode(b []byte) {
	_ = b[MarketDataSubscribedSize-1]
	binary.LittleEndian.PutUint32(b[0:], m.Instrument)
	binary.LittleEndian.PutUint32(b[4:], m.Channels)
	binary.LittleEndian.PutUint64(b[8:], m.FromOp)
	binary.LittleEndian.PutUint64(b[16:], m.OldestOp)
	binary.LittleEndian.PutUint64(b[24:], m.ReplayedThroughOp)
}

// Decode reads the body from b[0:MarketDataSubscribedSize].
func (m *MarketDataSubscribed) Decode(b []byte) {
	_ = b[MarketDataSubscribedSize-1]
	m.Instrument = binary.LittleEndian.Uint32(b[0:])
	m.Channels = binary.LittleEndian.Uint32(b[4:])
	m.FromOp = binary.LittleEndian.Uint64(b[8:])
	m.OldestOp = binary.LittleEndian.Uint64(b[16:])
	m.ReplayedThroughOp = binary.LittleEndian.Uint64(b[24:])
}

// MarketDataStale is the body of an md_stale frame (header status
// market_data_fell_behind, 231): updates of the subscriber's instruments with op >=
// DroppedFromOp were not sent to it. Live updates resume right after this frame.
//
//	0 instrument u32 (0 = every subscribed instrument of the shard)   4 shard u32
//	8 dropped_from_op u64
type MarketDataStale struct {
	Instrument uint32
	// Shard is the shard whose feed dropped the updates, and whose log DroppedFromOp is a
	// position in (PROTOCOL.md 18); 0 on a node of one shard.
	Shard         uint32
	DroppedFromOp uint64
}

// Encode writes the body into b[0:MarketDataStaleSize].
func (m *MarketDataStale) Encode(b []byte) {
	_ = b[MarketDataStaleSize-1]
	binary.LittleEndian.PutUint32(b[0:], m.Instrument)
	binary.LittleEndian.PutUint32(b[4:], m.Shard)
	binary.LittleEndian.PutUint64(b[8:], m.DroppedFromOp)
}

// Decode reads the body from b[0:MarketDataStaleSize].
func (m *MarketDataStale) Decode(b []byte) {
	_ = b[MarketDataStaleSize-1]
	m.Instrument = binary.LittleEndian.Uint32(b[0:])
	m.Shard = binary.LittleEndian.Uint32(b[4:])
	m.DroppedFromOp = binary.LittleEndian.Uint64(b[8:])
}
