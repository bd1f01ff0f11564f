package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Acknowledgements are read here from the bytes the NATS server sends back, not by the
// client's asynchronous publisher: it kept a future per message (two channels, a map
// entry under its lock, a reply subject) and decoded each answer with encoding/json, a
// cost paid on every event (bench/PERFORMANCE.md, session 52). Capture subscribes to one
// wildcard reply subject per session, names each message's reply by a counter (the
// message's place in the window, ackRoute), and parses the answer itself (parseAck).
//
// An answer is JetStream's JSON, one of
//
//	{"stream":"SEQUENT_0","seq":12}
//	{"stream":"SEQUENT_0","domain":"hub","seq":12,"duplicate": true}
//	{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 11"},"stream":"SEQUENT_0","seq":0}
//
// or, with no stream listening on the subject, an empty message with status 503 (no
// responders). The bytes come from the network: parseAck accepts only a JSON object (any
// key order, whitespace, unknown keys skipped; a key escaped, or a known one in another
// case, refused: plainKey), refuses anything else with an error
// rather than guessing, and never reads past the data. A refused answer ends the session
// (the next one starts from what the stream holds), as a publish error does.

// Bounds of an answer read by parseAck.
const (
	// ackBytesMax: JetStream's answers are well under 1 KiB (the longest, an error, holds
	// a short description); anything longer is refused unread.
	ackBytesMax = 4096
	// ackNestingMax bounds the depth of the values parseAck skips (unknown keys), so a
	// hostile answer cannot recurse without bound.
	ackNestingMax = 8
	// repliesMarginMessages: the reply channel holds the whole window (BatchMax) and
	// these few more; the client drops a reply that finds the channel full (a slow
	// consumer), which would then be waited for until publishAckTimeout.
	repliesMarginMessages = 16
)

// ackReply is an answer that says where the stream stored a message.
type ackReply struct {
	stream    []byte // The stream's name as sent (JSON-escaped when it holds a '\\').
	sequence  uint64
	duplicate bool
}

// streamIs reports whether the answer names stream (unescaping the rare name that needs
// it, with the allocation that takes).
func (a *ackReply) streamIs(stream string) bool {
	for _, b := range a.stream {
		if b == '\\' {
			var name string
			if json.Unmarshal(append(append([]byte{'"'}, a.stream...), '"'), &name) != nil {
				return false
			}
			return name == stream
		}
	}
	return string(a.stream) == stream // Compared without a copy.
}

// ackError is JetStream's refusal of a message (its "error" object).
type ackError struct {
	code        uint64
	errorCode   uint64
	description string
}

func (e *ackError) Error() string {
	return fmt.Sprintf("nats: API error: code=%d err_code=%d description=%s", e.code,
		e.errorCode, e.description)
}

var (
	errAckMalformed = errors.New("capture: acknowledgement is not JetStream's JSON")
	errAckTooLong   = fmt.Errorf("capture: acknowledgement longer than %d bytes", ackBytesMax)
	errAckNoStream  = errors.New("capture: acknowledgement names no stream")
)

// parseAck reads JetStream's answer to a publish: where the message was stored, or the
// stream's refusal as an *ackError.
func parseAck(data []byte) (ackReply, error) {
	if len(data) > ackBytesMax {
		return ackReply{}, errAckTooLong
	}
	s := ackScanner{data: data}
	var reply ackReply
	var refusal *ackError
	var haveStream, haveSequence bool
	s.space()
	if !s.take('{') {
		return ackReply{}, errAckMalformed
	}
	s.space()
	if !s.take('}') {
		for {
			key, ok := s.text()
			if !ok || !s.colon() {
				return ackReply{}, errAckMalformed
			}
			switch string(key) { // No allocation: the conversion is only compared.
			case "stream":
				if reply.stream, ok = s.text(); !ok {
					return ackReply{}, errAckMalformed
				}
				haveStream = true
			case "seq":
				if reply.sequence, ok = s.unsigned(); !ok {
					return ackReply{}, errAckMalformed
				}
				haveSequence = true
			case "duplicate":
				if reply.duplicate, ok = s.boolean(); !ok {
					return ackReply{}, errAckMalformed
				}
			case "error":
				if s.null() {
					refusal = nil
					break
				}
				if refusal, ok = s.refusal(); !ok {
					return ackReply{}, errAckMalformed
				}
			default:
				if !plainKey(key) || !s.skip(0) {
					return ackReply{}, errAckMalformed
				}
			}
			s.space()
			if s.take('}') {
				break
			}
			if !s.take(',') {
				return ackReply{}, errAckMalformed
			}
			s.space()
		}
	}
	s.space()
	if s.at != len(s.data) {
		return ackReply{}, errAckMalformed
	}
	if refusal != nil {
		return ackReply{}, refusal
	}
	if !haveStream || len(reply.stream) == 0 || !haveSequence {
		return ackReply{}, errAckNoStream
	}
	if !utf8.Valid(reply.stream) { // No stream's name, which JetStream keeps as UTF-8.
		return ackReply{}, errAckMalformed
	}
	return reply, nil
}

// plainKey reports whether an unknown key of an answer may be skipped: not one written
// with an escape, nor a known key in another case (Unicode folding), which encoding/json
// (the jetstream client's reading, FuzzParseAck's reference) reads as that key. JetStream
// writes neither; such an answer is refused rather than read otherwise than the client
// would (an escaped "error" accepted as stored, an escaped "seq" read from its first).
func plainKey(key []byte) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		return false
	}
	for _, known := range [...]string{"stream", "seq", "duplicate", "error"} {
		if bytes.EqualFold(key, []byte(known)) {
			return false
		}
	}
	return true
}

// ackScanner reads JSON from data at at; every method leaves at past what it read.
type ackScanner struct {
	data []byte
	at   int
}

func (s *ackScanner) space() {
	for s.at < len(s.data) {
		switch s.data[s.at] {
		case ' ', '\t', '\n', '\r':
			s.at++
		default:
			return
		}
	}
}

// take reads b if it is next.
func (s *ackScanner) take(b byte) bool {
	if s.at < len(s.data) && s.data[s.at] == b {
		s.at++
		return true
	}
	return false
}

// colon reads the ':' after a key, with the spaces around it.
func (s *ackScanner) colon() bool {
	s.space()
	ok := s.take(':')
	s.space()
	return ok
}

// literal reads word if it is next.
func (s *ackScanner) literal(word string) bool {
	if len(s.data)-s.at >= len(word) && string(s.data[s.at:s.at+len(word)]) == word {
		s.at += len(word)
		return true
	}
	return false
}

func (s *ackScanner) null() bool { return s.literal("null") }

func (s *ackScanner) boolean() (value, ok bool) {
	if s.literal("true") {
		return true, true
	}
	return false, s.literal("false")
}

// text reads a string and returns its contents as sent (escapes checked, not undone).
func (s *ackScanner) text() ([]byte, bool) {
	if !s.take('"') {
		return nil, false
	}
	start := s.at
	for s.at < len(s.data) {
		b := s.data[s.at]
		switch {
		case b == '"':
			s.at++
			return s.data[start : s.at-1], true
		case b < 0x20:
			return nil, false // JSON allows no control character in a string.
		case b == '\\':
			if s.at+1 >= len(s.data) {
				return nil, false
			}
			switch s.data[s.at+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.at += 2
			case 'u':
				if len(s.data)-s.at < 6 {
					return nil, false
				}
				for _, h := range s.data[s.at+2 : s.at+6] {
					if !isHexDigit(h) {
						return nil, false
					}
				}
				s.at += 6
			default:
				return nil, false
			}
		default:
			s.at++
		}
	}
	return nil, false
}

func isHexDigit(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// number reads a JSON number and returns its text.
func (s *ackScanner) number() ([]byte, bool) {
	start := s.at
	s.take('-')
	if s.take('0') {
		// No digit may follow a leading zero.
	} else if !s.digits() {
		return nil, false
	}
	if s.take('.') && !s.digits() {
		return nil, false
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if !s.digits() {
			return nil, false
		}
	}
	return s.data[start:s.at], true
}

// digits reads one digit or more.
func (s *ackScanner) digits() bool {
	start := s.at
	for s.at < len(s.data) && '0' <= s.data[s.at] && s.data[s.at] <= '9' {
		s.at++
	}
	return s.at > start
}

// unsigned reads a number that must be a whole one of uint64's range, written plainly.
func (s *ackScanner) unsigned() (uint64, bool) {
	text, ok := s.number()
	if !ok {
		return 0, false
	}
	value, err := strconv.ParseUint(string(text), 10, 64) // Plain digits only.
	return value, err == nil
}

// refusal reads the "error" object of an answer; its fields are reported as read
// (a code that is not a plain whole number reads 0).
func (s *ackScanner) refusal() (*ackError, bool) {
	if !s.take('{') {
		return nil, false
	}
	refusal := &ackError{}
	s.space()
	if s.take('}') {
		return refusal, true
	}
	for {
		key, ok := s.text()
		if !ok || !s.colon() {
			return nil, false
		}
		switch string(key) {
		case "code", "err_code":
			text, ok := s.number()
			if !ok {
				return nil, false
			}
			value, _ := strconv.ParseUint(string(text), 10, 64)
			if string(key) == "code" {
				refusal.code = value
			} else {
				refusal.errorCode = value
			}
		case "description":
			description, ok := s.text()
			if !ok {
				return nil, false
			}
			refusal.description = string(description) // As sent: for the log only.
		default:
			if !s.skip(1) {
				return nil, false
			}
		}
		s.space()
		if s.take('}') {
			return refusal, true
		}
		if !s.take(',') {
			return nil, false
		}
		s.space()
	}
}

// skip reads any JSON value, nested at most ackNestingMax deep.
func (s *ackScanner) skip(depth int) bool {
	if depth > ackNestingMax || s.at >= len(s.data) {
		return false
	}
	switch s.data[s.at] {
	case '"':
		_, ok := s.text()
		return ok
	case 't', 'f':
		_, ok := s.boolean()
		return ok
	case 'n':
		return s.null()
	case '{', '[':
		end := byte('}')
		if s.data[s.at] == '[' {
			end = ']'
		}
		s.at++
		s.space()
		if s.take(end) {
			return true
		}
		for {
			if end == '}' {
				if _, ok := s.text(); !ok || !s.colon() {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.space()
			if s.take(end) {
				return true
			}
			if !s.take(',') {
				return false
			}
			s.space()
		}
	default:
		_, ok := s.number()
		return ok
	}
}
