package api

import (
	"bytes"
	"runtime"
	"testing"

	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestHunt44aDeepBodyIsRefusedCheaply: any authenticated client (the read-only one
// too: bodies are decoded before the permission check) may send 4 MiB bodies, sixteen
// at once, and the server promises to hold at most 64 MiB of them. checkKeys, which runs
// on every body before encoding/json (whose depth limit comes later), kept one level
// per open '[' or '{': a body of 4 MiB of '[' allocated about 1 GB and held some 200 MB
// while checked. Checking such a body must cost at most a few times its size.
func TestHunt44aDeepBodyIsRefusedCheaply(t *testing.T) {
	for _, body := range [][]byte{bytes.Repeat([]byte("["), requestBodyBytesMax),
		bytes.Repeat([]byte(`{"a":`), requestBodyBytesMax/5)} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := checkKeys(body)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		if err == nil || allocated > 4*uint64(len(body)) {
			t.Fatalf("a body of %d bytes nested %q…: error %v, %d MB allocated to check it",
				len(body), body[:5], err, allocated>>20)
		}
	}
	// What the API takes still passes.
	for _, body := range []string{`[{"id":"1","ledger":1,"code":1}]`, `{"ids":["1","2"]}`} {
		if err := checkKeys([]byte(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
}

// TestHunt44aLongArrayIsRefusedCheaply: the same for breadth: a 4 MiB body of
// [{},{},…] decoded 1.4 million empty transfers (~190 MB held, ~1 GB allocated) before
// checkCount refused it too_many_events. An array of more elements than a request has
// events is refused while checking, with the same answer; one of exactly as many passes.
func TestHunt44aLongArrayIsRefusedCheaply(t *testing.T) {
	body := append([]byte("["), bytes.Repeat([]byte("{},"), requestBodyBytesMax/3-1)...)
	body[len(body)-1] = ']'
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := decodeOneOrMany[jsonview.Transfer](body)
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; err == nil ||
		allocated > 4*uint64(len(body)) {
		t.Fatalf("[{},{},…] of %d bytes: error %v, %d MB allocated to decode it", len(body),
			err, allocated>>20)
	}
	full := append([]byte("["), bytes.Repeat([]byte("{},"), model.EventsPerRequestMax)...)
	full[len(full)-1] = ']'
	if items, _, err := decodeOneOrMany[jsonview.Transfer](full); err != nil ||
		len(items) != model.EventsPerRequestMax {
		t.Fatalf("%d elements: %d decoded, %v", model.EventsPerRequestMax, len(items), err)
	}
	h := newHarness(t)
	h.expect(h.do(h.signer(readerClient), "POST", "/v1/transfers", string(body)), 400,
		"too_many_events")
}
