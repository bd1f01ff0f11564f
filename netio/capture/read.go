package capture

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// messageRequest is JetStream's request for one stored message: at a sequence, or the
// first at or after it on subjects (NextFor), or the last on subjects (LastFor).
type messageRequest struct {
	Sequence uint64 `json:"seq,omitempty"`
	LastFor  string `json:"last_by_subj,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
}

// storedMessage is what capture reads of a stored message: where it is and its headers
// (the id names the event).
type storedMessage struct {
	Subject  string `json:"subject"`
	Sequence uint64 `json:"seq"`
	Header   []byte `json:"hdrs,omitempty"`
}

// getMessage asks the stream itself (its leader) for the message request names (nil:
// none). Not through the client's Stream.GetMsg: on a stream that allows direct gets
// (an operator's, not one capture made) it sends a direct get, which any replica, or any
// mirror of the stream, answers from what it holds so far; one that has not received the
// newest message answers "not found", and capture would take the stream for one that
// lost its last message (a false capture_gap, skipping the events released after it).
func (c *Capture) getMessage(request messageRequest) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	reply, err := c.connection.Request(jetstream.DefaultAPIPrefix+"STREAM.MSG.GET."+c.stream,
		body, natsTimeout)
	if err != nil {
		return nil, fmt.Errorf("capture: read a message of %s: %w", c.stream, err)
	}
	var response struct {
		Message *storedMessage      `json:"message"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &response); err != nil {
		return nil, fmt.Errorf("capture: read a message of %s: %w", c.stream, err)
	}
	switch {
	case response.Error != nil && response.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, nil
	case response.Error != nil:
		return nil, fmt.Errorf("capture: read a message of %s: %w", c.stream, response.Error)
	case response.Message == nil:
		return nil, fmt.Errorf("capture: read a message of %s: %w", c.stream,
			errors.New("empty answer"))
	}
	message := &jetstream.RawStreamMsg{Subject: response.Message.Subject,
		Sequence: response.Message.Sequence}
	if len(response.Message.Header) > 0 {
		if message.Header, err = nats.DecodeHeadersMsg(response.Message.Header); err != nil {
			return nil, fmt.Errorf("capture: message %d of %s: %w", message.Sequence,
				c.stream, err)
		}
	}
	return message, nil
}
