package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ServerStatusPath is the server's status document on its HTTP endpoint.
const ServerStatusPath = "/v1/status"

// ServerStatus is the server's own status document, read before and after the load
// (best effort: absent when the endpoint does not answer). Its schema belongs to the
// server; the bench only lists the numeric fields that changed.
type ServerStatus struct {
	URL     string         `json:"url"`
	Before  map[string]any `json:"before"`
	After   map[string]any `json:"after"`
	Changed []StatusChange `json:"changed"` // Numeric fields that differ, by name.
}

// StatusChange is one numeric field of the status document that changed during the run
// (nested objects and arrays flattened with dots: shards.0.requests); a field absent
// before counts from 0.
type StatusChange struct {
	Field  string  `json:"field"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
}

// statusURL turns an address (host:port or a URL) into the status document's URL.
func statusURL(address string) string {
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	return strings.TrimSuffix(address, "/") + ServerStatusPath
}

// fetchStatus reads the status document, or returns nil if the address is empty or does
// not answer with a JSON object.
func fetchStatus(ctx context.Context, address string) map[string]any {
	if address == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL(address), nil)
	if err != nil {
		return nil
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return nil
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return nil
	}
	var document map[string]any
	decoder := json.NewDecoder(io.LimitReader(response.Body, statusBodyBytesMax))
	decoder.UseNumber()
	if err := decoder.Decode(&document); err != nil {
		return nil
	}
	return document
}

// serverStatus pairs the two documents (nil if the server never answered).
func serverStatus(address string, before, after map[string]any) *ServerStatus {
	if before == nil && after == nil {
		return nil
	}
	status := &ServerStatus{URL: statusURL(address), Before: before, After: after,
		Changed: []StatusChange{}}
	old, current := map[string]float64{}, map[string]float64{}
	flatten("", before, old)
	flatten("", after, current)
	for field, value := range current {
		if previous := old[field]; previous != value { // A new field counts from 0.
			status.Changed = append(status.Changed,
				StatusChange{Field: field, Before: previous, After: value})
		}
	}
	sort.Slice(status.Changed, func(i, j int) bool {
		return status.Changed[i].Field < status.Changed[j].Field
	})
	return status
}

// flatten collects the numeric leaves of a JSON document under dotted names.
func flatten(prefix string, value any, into map[string]float64) {
	switch v := value.(type) {
	case map[string]any:
		for key, child := range v {
			name := key
			if prefix != "" {
				name = prefix + "." + key
			}
			flatten(name, child, into)
		}
	case []any:
		for index, child := range v {
			flatten(prefix+"."+strconv.Itoa(index), child, into)
		}
	case json.Number:
		if number, err := strconv.ParseFloat(string(v), 64); err == nil {
			into[prefix] = number
		}
	case float64:
		into[prefix] = v
	}
}

// writeServerStatus prints the numeric fields that changed.
func writeServerStatus(w io.Writer, status *ServerStatus) {
	if status == nil {
		return
	}
	fmt.Fprintf(w, "server status (%s): %d numeric fields changed during the run\n",
		status.URL, len(status.Changed))
	for i, change := range status.Changed {
		if i == statusLinesMax {
			fmt.Fprintf(w, "  ... and %d more (see --json)\n", len(status.Changed)-i)
			break
		}
		fmt.Fprintf(w, "  %s: %s -> %s\n", change.Field,
			strconv.FormatFloat(change.Before, 'f', -1, 64),
			strconv.FormatFloat(change.After, 'f', -1, 64))
	}
}

// LoadAverage is the machine's load average (1, 5 and 15 minutes) when the load started
// and when it ended, from /proc/loadavg (absent where that does not exist).
type LoadAverage struct {
	Start [3]float64 `json:"start"`
	End   [3]float64 `json:"end"`
}

func readLoadAverage() *[3]float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return nil
	}
	var load [3]float64
	for i := range load {
		if load[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
			return nil
		}
	}
	return &load
}

func loadAverages(start, end *[3]float64) *LoadAverage {
	if start == nil || end == nil {
		return nil
	}
	return &LoadAverage{Start: *start, End: *end}
}

// ShardFigure is what one shard of the server did during the run: requests sequenced
// (writes, the parts of split requests and saga steps included), log entries, ops
// applied, busy refusals, from the server's status before and after; RequestsPerS over
// the whole load (warm-up included).
type ShardFigure struct {
	Shard        int     `json:"shard"`
	Requests     float64 `json:"requests"`
	Entries      float64 `json:"entries"`
	OpsApplied   float64 `json:"ops_applied"`
	BusyReplies  float64 `json:"busy_replies"`
	RequestsPerS float64 `json:"requests_per_s"`
}

// shardFigures reads every shard's counters from the two status documents (nil when the
// server did not answer both times).
func shardFigures(before, after map[string]any, seconds float64) []ShardFigure {
	if before == nil || after == nil {
		return nil
	}
	old, current := map[string]float64{}, map[string]float64{}
	flatten("", before, old)
	flatten("", after, current)
	var figures []ShardFigure
	for shard := 0; ; shard++ {
		prefix := "shards." + strconv.Itoa(shard) + "."
		if _, ok := current[prefix+"requests"]; !ok {
			return figures
		}
		delta := func(field string) float64 { return current[prefix+field] - old[prefix+field] }
		figure := ShardFigure{Shard: shard, Requests: delta("requests"),
			Entries: delta("entries"), OpsApplied: delta("ops_applied"),
			BusyReplies: delta("busy_replies")}
		if seconds > 0 {
			figure.RequestsPerS = figure.Requests / seconds
		}
		figures = append(figures, figure)
	}
}
