package model

// Outbound-stream statuses (230..239): answers about market-data subscriptions, carried
// in the header of md_subscribed and md_stale frames (see PROTOCOL.md).
const (
	// StatusMarketDataResumeGap: the server no longer holds every update of the
	// subscription's instrument (0: of every instrument) from the op it asked to resume
	// from (the server restarted or its feed fell behind since, or one of them was evicted
	// from its bounded history), or the replay would pass the connection's unsent-bytes
	// bound. Live updates follow; rebuild the book from a snapshot.
	StatusMarketDataResumeGap Status = 230
	// StatusMarketDataFellBehind: the subscriber read too slowly and updates were dropped
	// for it. Live updates follow; rebuild the book from a snapshot.
	StatusMarketDataFellBehind Status = 231
	streamStatusStart          Status = 230
	streamStatusEnd            Status = 232
)

var streamStatusNames = [streamStatusEnd - streamStatusStart]string{
	StatusMarketDataResumeGap - streamStatusStart:  "market_data_resume_gap",
	StatusMarketDataFellBehind - streamStatusStart: "market_data_fell_behind",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < streamStatusStart || s >= streamStatusEnd {
			return "", false
		}
		return streamStatusNames[s-streamStatusStart], true
	})
}
