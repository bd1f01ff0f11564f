package wire

import "strconv"

// ErrorCode is the status field of an error frame. Codes start at 1000 so that they never
// collide with a model.Status (0..999): a client may look up any status field in one
// table. Numbers are stable wire values; names are stable snake_case.
//
// After sending an error frame the server closes the connection. Request-level refusals
// that leave the connection open (busy, permission_denied, invalid_body, ...) are reply
// frames carrying a model.Status instead.
type ErrorCode uint32

// Error codes.
const (
	ErrorBadMagic          ErrorCode = 1001 // The frame does not start with "SQNT".
	ErrorBadVersion        ErrorCode = 1002 // The protocol version is not 1.
	ErrorBadChecksum       ErrorCode = 1003 // CRC32C over header and body does not match.
	ErrorFrameTooLarge     ErrorCode = 1004 // body_length above the kind's maximum.
	ErrorBadBodyLength     ErrorCode = 1005 // body_length wrong for a fixed-size kind.
	ErrorUnknownKind       ErrorCode = 1006 // The kind byte is not defined.
	ErrorReservedNotZero   ErrorCode = 1007 // The header's reserved field is not zero.
	ErrorTruncatedFrame    ErrorCode = 1008 // The stream ended inside a frame.
	ErrorUnexpectedFrame   ErrorCode = 1009 // A kind not allowed now (e.g. request before login).
	ErrorUnknownOperation  ErrorCode = 1010 // Operation undefined, or internal to the server.
	ErrorSessionMismatch   ErrorCode = 1011 // Frame's session differs from the logged-in one.
	ErrorBadRequestNumber  ErrorCode = 1012 // Request number 0 (numbers start at 1).
	ErrorLoginUnknownKey   ErrorCode = 1013 // Unknown client, unknown or revoked key id.
	ErrorLoginBadSignature ErrorCode = 1014 // The HMAC does not verify with that key.
	ErrorLoginNonceUsed    ErrorCode = 1015 // A second login on one connection (nonce spent).
	ErrorLoginBadOptions   ErrorCode = 1016 // Undefined login option bits, or session 0.
	ErrorLoginTimeout      ErrorCode = 1017 // No login within the login timeout.
	ErrorSilenceTimeout    ErrorCode = 1018 // Nothing received within the silence timeout.
	ErrorKeyRevoked        ErrorCode = 1019 // The session's key or client left the keys file.
	ErrorSessionTakenOver  ErrorCode = 1020 // Another connection logged in to this session.
	ErrorConnectionLimit   ErrorCode = 1021 // Too many connections (server or client).
	ErrorConnectionRefused ErrorCode = 1022 // The address or client is not admitted.
	ErrorShuttingDown      ErrorCode = 1023 // The server is stopping.
	ErrorSlowConsumer      ErrorCode = 1024 // Unsent replies exceeded the per-connection bound.
	ErrorInternal          ErrorCode = 1025 // A server fault.
	ErrorTooManyAttempts   ErrorCode = 1026 // Too many failed logins (or silent connections) this minute; aux: ms to wait.
	errorCodeStart         ErrorCode = 1001
	errorCodeEnd           ErrorCode = 1027
)

var errorCodeNames = [errorCodeEnd - errorCodeStart]string{
	ErrorBadMagic - errorCodeStart:          "bad_magic",
	ErrorBadVersion - errorCodeStart:        "bad_version",
	ErrorBadChecksum - errorCodeStart:       "bad_checksum",
	ErrorFrameTooLarge - errorCodeStart:     "frame_too_large",
	ErrorBadBodyLength - errorCodeStart:     "bad_body_length",
	ErrorUnknownKind - errorCodeStart:       "unknown_kind",
	ErrorReservedNotZero - errorCodeStart:   "reserved_not_zero",
	ErrorTruncatedFrame - errorCodeStart:    "truncated_frame",
	ErrorUnexpectedFrame - errorCodeStart:   "unexpected_frame",
	ErrorUnknownOperation - errorCodeStart:  "unknown_operation",
	ErrorSessionMismatch - errorCodeStart:   "session_mismatch",
	ErrorBadRequestNumber - errorCodeStart:  "bad_request_number",
	ErrorLoginUnknownKey - errorCodeStart:   "login_unknown_key",
	ErrorLoginBadSignature - errorCodeStart: "login_bad_signature",
	ErrorLoginNonceUsed - errorCodeStart:    "login_nonce_used",
	ErrorLoginBadOptions - errorCodeStart:   "login_bad_options",
	ErrorLoginTimeout - errorCodeStart:      "login_timeout",
	ErrorSilenceTimeout - errorCodeStart:    "silence_timeout",
	ErrorKeyRevoked - errorCodeStart:        "key_revoked",
	ErrorSessionTakenOver - errorCodeStart:  "session_taken_over",
	ErrorConnectionLimit - errorCodeStart:   "connection_limit",
	ErrorConnectionRefused - errorCodeStart: "connection_refused",
	ErrorShuttingDown - errorCodeStart:      "shutting_down",
	ErrorSlowConsumer - errorCodeStart:      "slow_consumer",
	ErrorInternal - errorCodeStart:          "internal",
	ErrorTooManyAttempts - errorCodeStart:   "too_many_attempts",
}

// Known reports whether c is a defined error code.
func (c ErrorCode) Known() bool { return c >= errorCodeStart && c < errorCodeEnd }

// String returns the code's stable name, or "error_<n>" for an unknown one.
func (c ErrorCode) String() string {
	if c.Known() {
		return errorCodeNames[c-errorCodeStart]
	}
	return "error_" + strconv.FormatUint(uint64(c), 10)
}

// ErrorCodes returns every defined error code in numeric order.
func ErrorCodes() []ErrorCode {
	codes := make([]ErrorCode, 0, errorCodeEnd-errorCodeStart)
	for c := errorCodeStart; c < errorCodeEnd; c++ {
		codes = append(codes, c)
	}
	return codes
}

// Login failures and closes caused by the peer's own behaviour are expected operating
// conditions; ErrorInternal alone signals a server bug.

// Retry is what a client should do after an error frame.
type Retry uint8

const (
	// RetryNo: reconnecting will fail the same way until the client, its credentials or
	// the server's configuration change.
	RetryNo Retry = iota
	// RetryNow: reconnect (with a back-off) and resume the session.
	RetryNow
	// RetryLater: reconnect and resume after the delay the error frame's aux gives, in
	// milliseconds (too_many_attempts: until the minute's window is over).
	RetryLater
)

// Retry says whether a client that received c may reconnect and resume its session:
// the fault was in the connection or a passing limit, not in its credentials or its
// frames.
func (c ErrorCode) Retry() Retry {
	switch c {
	case ErrorLoginTimeout, ErrorSilenceTimeout, ErrorSessionTakenOver,
		ErrorConnectionLimit, ErrorShuttingDown, ErrorSlowConsumer, ErrorInternal:
		return RetryNow
	case ErrorBadChecksum:
		// A frame damaged on the way (a link, a middlebox): a new connection cures it, and
		// the number the error names was read from the damaged frame, so no request can
		// be failed on its word. A client whose own checksums are wrong gets it again on
		// every connection, which the back-off spaces out.
		return RetryNow
	case ErrorTooManyAttempts:
		return RetryLater
	}
	return RetryNo
}

// Retryable reports whether a client that received c may reconnect and resume its
// session, at once or later (Retry).
func (c ErrorCode) Retryable() bool { return c.Retry() != RetryNo }
