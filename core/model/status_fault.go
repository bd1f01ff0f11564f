package model

// Fault statuses (220..224 of the request-level range): a node's log cannot take writes,
// or it lost the ability to tell a request's outcome. They answer a whole request, in the
// reply header, with an empty body. Their own file and range keep them apart from the
// session statuses (200..219).
const (
	// StatusOutcomeUnknown: the request was sequenced, but the node's log failed before
	// its entry was confirmed durable (and acknowledged by the standby in sync mode), so
	// it may or may not be applied, now or after a restart or failover. Resend it with
	// the same session and number (the server answers from its exactly-once cache if it
	// was applied, and applies it once otherwise); ledger ids make resends safe as well.
	StatusOutcomeUnknown Status = 220
	// StatusLogUnavailable: the node cannot write its log now (its disk is full, or the
	// log failed and the node waits for an operator and a restart); the request was not
	// applied. Resend it later or to the next primary.
	StatusLogUnavailable Status = 221
	faultStatusStart     Status = 220
	faultStatusEnd       Status = 222
)

var faultStatusNames = [faultStatusEnd - faultStatusStart]string{
	StatusOutcomeUnknown - faultStatusStart: "outcome_unknown",
	StatusLogUnavailable - faultStatusStart: "log_unavailable",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < faultStatusStart || s >= faultStatusEnd {
			return "", false
		}
		return faultStatusNames[s-faultStatusStart], true
	})
}
