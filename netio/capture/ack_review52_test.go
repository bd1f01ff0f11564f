package capture

import (
	"encoding/json"
	"testing"
)

// TestParseAckKeysAsTheClientReadsThem (review52, claim: parseAck compares a key's bytes
// as sent, so an answer whose "seq" or "error" key is written with an escape, or in
// another case, is read otherwise than by encoding/json, which capture's acknowledgements
// went through before (the jetstream client decodes an answer into its pubAckResponse
// struct: escapes undone, keys matched without regard to case) and which FuzzParseAck
// takes as its reference: parseAck accepted `..."\u0065rror":{...}` as stored where the
// client read a refusal, and read seq 1 from `"seq":1,"\u0073eq":2` where encoding/json
// reads 2). JetStream writes neither; parseAck must read such an answer as encoding/json
// does or refuse it (refusing ends the session, which is always safe).
func TestParseAckKeysAsTheClientReadsThem(t *testing.T) {
	// The client's reading (jetstream.pubAckResponse: apiResponse and *PubAck, embedded).
	type clientReading struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error,omitempty"`
		Stream    string `json:"stream"`
		Sequence  uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate,omitempty"`
	}
	for _, data := range []string{
		`{"stream":"S","seq":1,"\u0073eq":2}`,
		`{"stream":"S","seq":1,"\u0065rror":{"code":503}}`,
		`{"stream":"S","seq":1,"Error":{"code":503}}`,
		`{"stream":"S","seq":1,"SEQ":2}`,
		`{"stream":"S","seq":1,"\u0064uplicate":true}`,
		`{"stream":"S","seq":1,"Duplicate":true}`,
		`{"stream":"S","seq":1,"Stream":"T"}`,
		"{\"stream\":\"S\",\"seq\":1,\"\u017feq\":2}", // ſ folds to s.
	} {
		answer, err := parseAck([]byte(data))
		if err != nil {
			continue // Refused: safe.
		}
		var client clientReading
		if err := json.Unmarshal([]byte(data), &client); err != nil {
			t.Fatalf("%s: encoding/json: %v", data, err)
		}
		if client.Error != nil || !answer.streamIs(client.Stream) ||
			answer.sequence != client.Sequence || answer.duplicate != client.Duplicate {
			t.Errorf("%s: parseAck read stream %q seq %d duplicate %v; the client read "+
				"%+v (error %v)", data, answer.stream, answer.sequence, answer.duplicate,
				client, client.Error != nil)
		}
	}
}
