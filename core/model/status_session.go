package model

// Session and protocol statuses (200..299). They answer a whole request rather than one
// event, and most of them are decided before a request reaches the log.
const (
	StatusBusy             Status = 200 // The shard's input ring is full; retry later.
	StatusNotPrimary       Status = 201 // This node does not accept writes; see redirect.
	StatusRateLimited      Status = 202 // The client exceeded its configured rate.
	StatusUnauthenticated  Status = 203 // Unknown client, bad key or bad signature.
	StatusPermissionDenied Status = 204 // The client's permissions forbid the operation.
	StatusUnknownOperation Status = 205 // The operation number is not defined.
	StatusInvalidBody      Status = 206 // Body length is not a whole number of records.
	StatusTooManyEvents    Status = 207 // More events than the operation allows.
	StatusRequestTooOld    Status = 208 // Request number below the session's window.
	StatusShuttingDown     Status = 209 // The server is stopping; retry elsewhere.
	StatusSessionLimit     Status = 210 // Too many sessions or connections.
	StatusEmptyRequest     Status = 211 // A request with no events.
	StatusInternalError    Status = 212 // A server fault; the request was not applied.
	// StatusRequestNumberReused: a request number already applied in this session came
	// again with another operation, other flags or another body. It is not applied and
	// the original's reply is not sent: the client reused a number by mistake.
	StatusRequestNumberReused Status = 213
	sessionStatusStart        Status = 200
	sessionStatusEnd          Status = 214
)

var sessionStatusNames = [sessionStatusEnd - sessionStatusStart]string{
	StatusBusy - sessionStatusStart:                "busy",
	StatusNotPrimary - sessionStatusStart:          "not_primary",
	StatusRateLimited - sessionStatusStart:         "rate_limited",
	StatusUnauthenticated - sessionStatusStart:     "unauthenticated",
	StatusPermissionDenied - sessionStatusStart:    "permission_denied",
	StatusUnknownOperation - sessionStatusStart:    "unknown_operation",
	StatusInvalidBody - sessionStatusStart:         "invalid_body",
	StatusTooManyEvents - sessionStatusStart:       "too_many_events",
	StatusRequestTooOld - sessionStatusStart:       "request_too_old",
	StatusShuttingDown - sessionStatusStart:        "shutting_down",
	StatusSessionLimit - sessionStatusStart:        "session_limit",
	StatusEmptyRequest - sessionStatusStart:        "empty_request",
	StatusInternalError - sessionStatusStart:       "internal_error",
	StatusRequestNumberReused - sessionStatusStart: "request_number_reused",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < sessionStatusStart || s >= sessionStatusEnd {
			return "", false
		}
		name := sessionStatusNames[s-sessionStatusStart]
		return name, name != ""
	})
}
