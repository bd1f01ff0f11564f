package core

import (
	"encoding/binary"
	"errors"
	"fmt"

	"sequent/core/model"
)

// An entry body (what the log stores for one sequencer batch) is a run of requests, each a
// fixed 32-byte header followed by its body (wire format: never change):
//
//	 0 client u64   8 session u64   16 number u64   24 operation u8   25 flags u8
//	26 reserved u16 (zero)          28 body length u32                 32 body ...
//
// Client 0 marks the server's own internal requests (pulse, snapshot, audit).
const (
	RequestHeaderSize = 32

	requestOffsetClient    = 0
	requestOffsetSession   = 8
	requestOffsetNumber    = 16
	requestOffsetOperation = 24
	requestOffsetFlags     = 25
	requestOffsetReserved  = 26
	requestOffsetLength    = 28
)

// ErrMalformedEntry reports an entry body that does not parse. The sequencer never writes
// one, so seeing it means the log was damaged or forged past its checksums.
var ErrMalformedEntry = errors.New("core: malformed entry body")

// Request is one request as it appears in an entry body.
type Request struct {
	Client    uint64          // Authenticated client id; 0 for internal requests.
	Session   uint64          // Client-chosen session id.
	Number    uint64          // Per-session request number (from 1); 0 for internal ones.
	Operation model.Operation // What to do.
	Flags     uint8           // RequestFlag* bits.
	Body      []byte          // Events; aliases the entry body.
}

// Request flags (the wire values are shared with the protocol).
const (
	// RequestFlagReplyBalances asks create_transfers for results with balances.
	RequestFlagReplyBalances uint8 = 1 << 0
	// requestFlagsKnown is every defined request flag.
	requestFlagsKnown = RequestFlagReplyBalances
)

// AppendRequest appends the request's encoding to entry and returns the result.
func AppendRequest(entry []byte, r *Request) []byte {
	var header [RequestHeaderSize]byte
	binary.LittleEndian.PutUint64(header[requestOffsetClient:], r.Client)
	binary.LittleEndian.PutUint64(header[requestOffsetSession:], r.Session)
	binary.LittleEndian.PutUint64(header[requestOffsetNumber:], r.Number)
	header[requestOffsetOperation] = byte(r.Operation)
	header[requestOffsetFlags] = r.Flags
	binary.LittleEndian.PutUint32(header[requestOffsetLength:], uint32(len(r.Body)))
	entry = append(entry, header[:]...)
	return append(entry, r.Body...)
}

// EncodedRequestSize returns the bytes AppendRequest adds for a body of bodyLength.
func EncodedRequestSize(bodyLength int) int { return RequestHeaderSize + bodyLength }

// nextRequest decodes the request at the start of body and returns the rest.
func nextRequest(body []byte, r *Request) ([]byte, error) {
	end, err := requestEnd(body)
	if err != nil {
		return nil, err
	}
	r.Client = binary.LittleEndian.Uint64(body[requestOffsetClient:])
	r.Session = binary.LittleEndian.Uint64(body[requestOffsetSession:])
	r.Number = binary.LittleEndian.Uint64(body[requestOffsetNumber:])
	r.Operation = model.Operation(body[requestOffsetOperation])
	r.Flags = body[requestOffsetFlags]
	r.Body = body[RequestHeaderSize:end:end]
	return body[end:], nil
}

// requestEnd checks the header of the request at the start of body and returns where
// the request ends (header and body).
func requestEnd(body []byte) (int, error) {
	if len(body) < RequestHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes left, less than a request header", ErrMalformedEntry,
			len(body))
	}
	length := binary.LittleEndian.Uint32(body[requestOffsetLength:])
	if binary.LittleEndian.Uint16(body[requestOffsetReserved:]) != 0 {
		return 0, fmt.Errorf("%w: reserved request header bytes", ErrMalformedEntry)
	}
	if uint64(length) > uint64(len(body)-RequestHeaderSize) {
		return 0, fmt.Errorf("%w: request body of %d bytes, %d left", ErrMalformedEntry, length,
			len(body)-RequestHeaderSize)
	}
	return RequestHeaderSize + int(length), nil
}

// DecodeRequest decodes an encoded single request (as AppendRequest wrote it). The body
// aliases encoded.
func DecodeRequest(encoded []byte, r *Request) error {
	rest, err := nextRequest(encoded, r)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%w: %d bytes after the request", ErrMalformedEntry, len(rest))
	}
	return err
}

// CountRequests returns how many requests an entry body holds, or an error if it does
// not parse. It checks the headers only (requestEnd): Apply runs it before applying
// anything, and the requests' fields are decoded once, by the lookahead's window.
func CountRequests(body []byte) (int, error) {
	count := 0
	for len(body) > 0 {
		end, err := requestEnd(body)
		if err != nil {
			return count, err
		}
		body = body[end:]
		count++
	}
	return count, nil
}

// CheckShape validates a request's operation and body shape without state: the network
// layer calls it before queueing (so a bad request never reaches the log), and Apply
// calls it again (so a forged log cannot smuggle one in). internal says whether the
// request comes from the server itself.
func CheckShape(operation model.Operation, flags uint8, body []byte, internal bool) model.Status {
	info := &operationShapes[operation]
	switch {
	case !info.defined, info.internal != internal:
		return model.StatusUnknownOperation
	case flags&^requestFlagsKnown != 0:
		return model.StatusInvalidBody
	case flags&RequestFlagReplyBalances != 0 && !info.balancesResult:
		return model.StatusInvalidBody // The flag means something for create_transfers only.
	case info.eventSize == 0 && len(body) != 0:
		return model.StatusInvalidBody
	case info.eventSize == 0:
		return model.StatusOK
	case len(body)%int(info.eventSize) != 0:
		return model.StatusInvalidBody
	case len(body) == 0:
		return model.StatusEmptyRequest
	case len(body)/int(info.eventSize) > int(info.eventsMax):
		return model.StatusTooManyEvents
	}
	return model.StatusOK
}

// OperationWrites reports whether operation goes through the log (model.OperationInfo's
// Write; false for an undefined one). It reads operationShapes, not Info's map: the
// shard asks it at every submission.
func OperationWrites(operation model.Operation) bool { return operationShapes[operation].write }

// operationShape is what CheckShape and OperationWrites read of an operation's
// model.OperationInfo.
type operationShape struct {
	eventSize      uint32
	eventsMax      uint32
	defined        bool
	internal       bool
	balancesResult bool
	write          bool
}

// operationShapes is model.Operation.Info as an array indexed by operation, for
// CheckShape, which runs at every request: the map lookup behind Info (hashing the
// one-byte key, copying the whole description) took about 100 instructions of a
// one-transfer request's apply (callgrind, BenchmarkApplySmallRequests).
var operationShapes = func() (shapes [1 << 8]operationShape) {
	for _, operation := range model.Operations() {
		info, _ := operation.Info()
		shapes[operation] = operationShape{eventSize: uint32(info.EventSize),
			eventsMax: uint32(info.EventsMax), defined: true, internal: info.Internal,
			balancesResult: info.BalancesResult, write: info.Write}
	}
	return shapes
}()
