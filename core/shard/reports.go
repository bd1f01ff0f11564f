package shard

var _ Backend = (*Shard)(nil)

// ReplayReports serves a reconnecting client's execution reports from a sequence on.
// Reports come from the matching engine; until it is wired in, no client has any, and
// the oldest retained sequence is 1 (nothing missed).
func (s *Shard) ReplayReports(client uint64, fromSequence uint64, fn func(reports []Report)) uint64 {
	return 1
}

// SessionClosed is told when a client session ends. Cancel-on-disconnect needs the
// matching engine (it cancels the client's open orders); until it is wired in, there is
// nothing to cancel.
func (s *Shard) SessionClosed(client uint64, session uint64, cancelOrders bool) {}
