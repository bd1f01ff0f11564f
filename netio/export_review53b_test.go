package netio

// MarketDataOrdersWaiting returns how many md_subscribe frames wait on shard 0's feed
// (review53b: the bound of the queue, limits.go marketDataCommandsPerConnectionReserved).
func MarketDataOrdersWaiting(s *Server) int {
	m := s.marketData
	m.ordersMutex.Lock()
	defer m.ordersMutex.Unlock()
	return len(m.orders) - m.ordersHead
}
