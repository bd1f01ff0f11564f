package ops

// StreamStats is one outbound stream fed from a shard's release (market data, change
// capture): how far it has got and how much it holds. Name and Shard together name it: a
// node of several shards has a market-data and a capture stream per shard.
type StreamStats struct {
	Name       string `json:"name"`
	Shard      uint32 `json:"shard"`       // The shard whose release it follows.
	HandledOp  uint64 `json:"handled_op"`  // Last op fully handled (sent, published).
	LagOps     uint64 `json:"lag_ops"`     // The shard's released op minus HandledOp.
	Buffered   int    `json:"buffered"`    // Items waiting in its bounded buffer.
	BufferMax  int    `json:"buffer_max"`  // Its bound.
	FellBehind uint64 `json:"fell_behind"` // Times the buffer overflowed.
}

// CaptureStats is change capture into JetStream (`serve --cdc-nats`) of one shard.
type CaptureStats struct {
	Shard          uint32  `json:"shard"` // The shard captured (its stream is <base>_<shard>).
	Stream         string  `json:"stream"`
	Connected      bool    `json:"connected"`
	Publishing     bool    `json:"publishing"` // Only the primary publishes.
	PublishedOp    uint64  `json:"published_op"`
	StreamSequence uint64  `json:"stream_sequence"`
	LagOps         uint64  `json:"lag_ops"`
	LagSeconds     float64 `json:"lag_seconds"`
	Lagging        bool    `json:"lagging"` // Past --cdc-lag-warning: a /healthz problem.
	Published      uint64  `json:"published"`
	Rebuilds       uint64  `json:"rebuilds"`
	Gaps           uint64  `json:"gaps"`
	Superseded     uint64  `json:"superseded"` // capture_superseded messages published.
	LastError      string  `json:"last_error,omitempty"`
}

// ProblemCaptureLagging: change capture has not published everything released for
// longer than its warning threshold (JetStream down or slow); Sequent keeps serving and
// capture catches up from the log when it can. One problem per lagging shard; on a node
// of several shards its detail starts with "shard N: ".
const ProblemCaptureLagging = "capture_lagging"

func streamDefinitions() []metricDefinition[StreamStats] {
	type s = StreamStats
	labels := []string{"stream", "shard"}
	return []metricDefinition[StreamStats]{
		gauge("sequent_stream_lag_ops", "Ops released but not yet handled by the outbound stream.",
			labels, func(x *s) float64 { return float64(x.LagOps) }),
		gauge("sequent_stream_buffered", "Items waiting in the outbound stream's bounded buffer.",
			labels, func(x *s) float64 { return float64(x.Buffered) }),
		counter("sequent_stream_fell_behind_total",
			"Times the outbound stream's buffer overflowed (market data: subscribers told to resnapshot; capture: rebuilt from the log).",
			labels, func(x *s) float64 { return float64(x.FellBehind) }),
	}
}

func captureDefinitions() []metricDefinition[CaptureStats] {
	type c = CaptureStats
	l := shardLabels // Every capture series names its shard, as per-shard metrics do.
	return []metricDefinition[CaptureStats]{
		gauge("sequent_capture_connected", "1 when change capture is connected to NATS.",
			l, func(x *c) float64 { return boolean(x.Connected) }),
		gauge("sequent_capture_lag_seconds", "Age of the oldest released event not yet in the capture stream (at most; 0 when current; the primary only).",
			l, func(x *c) float64 { return x.LagSeconds }),
		gauge("sequent_capture_lag_ops", "Ops released but not yet in the capture stream.",
			l, func(x *c) float64 { return float64(x.LagOps) }),
		counter("sequent_capture_published_total", "Events published to the capture stream.",
			l, func(x *c) float64 { return float64(x.Published) }),
		counter("sequent_capture_rebuilds_total", "Times capture rebuilt missed events from the log.",
			l, func(x *c) float64 { return float64(x.Rebuilds) }),
		counter("sequent_capture_gaps_total", "capture_gap messages: events lost because their log was retired or the stream lost its last message.",
			l, func(x *c) float64 { return float64(x.Gaps) }),
		counter("sequent_capture_superseded_total", "capture_superseded messages: published events of a history a failover discarded (async mode), replaced by this node's.",
			l, func(x *c) float64 { return float64(x.Superseded) }),
	}
}
