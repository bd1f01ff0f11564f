package bench

import (
	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
)

// sample is what a connection measured over some interval: counts and latency
// histograms. A connection records into its interval sample under its mutex; the
// collector swaps it out each second and merges it into the run's totals.
//
// Only measured requests (sent after the warm-up) count here, except warmRequests and
// warmEvents; a request belongs to the interval in which it was sent (requestsSent) and
// to the one in which it completed (the rest), so only the run's total adds up exactly:
// requestsSent = requestsCompleted + requestsFailed. A call of the callers mode is
// counted as sent when it settles, in that interval (worker.settleCall).
type sample struct {
	requestLatency *hdrhistogram.Histogram // Per completed request, ns.
	eventLatency   *hdrhistogram.Histogram // The same, weighted by the request's events.
	// oneEventLatency holds, in a recorder's sample, the latencies of completed requests
	// of one event, which count the same in both histograms above: recorded once here
	// rather than twice there, and added to both by merge, so that every merged sample
	// (the collector's) holds them in both and none here. One record per call less for
	// the callers mode's one-transfer calls: with 512 callers each comes back to the
	// histograms' lines cold (bench/PERFORMANCE.md, issue 15, session 53).
	oneEventLatency *hdrhistogram.Histogram

	// What every completed request counts comes first, next to the first of the per-event
	// result counts (ok): the lines a recorder's callers write per call, fewer of them
	// (bench/PERFORMANCE.md, issue 15, session 53).
	requestsSent      uint64
	requestsCompleted uint64 // A reply with status ok (its events have results).
	requestsFailed    uint64 // A request-level status other than ok, or no reply.
	eventsSent        uint64
	eventsCompleted   uint64            // Events of completed requests.
	kinds             [kindCount]uint64 // Completed requests per workload.
	warmRequests      uint64            // Requests sent during the warm-up (not measured).
	warmEvents        uint64
	lastCompletionNs  int64 // Run time of the latest completion recorded (measured).

	results         [statusSlots]uint64 // Per-event result codes.
	requestStatuses [statusSlots]uint64 // Request-level statuses of replies.
	unknownOutcomes [statusSlots]uint64 // Calls ended with an unknown outcome, by the status that ended them (client.OutcomeUnknownError).
	noReply         uint64              // Requests that failed without a reply.
	malformed       uint64              // Replies whose body did not match the request.
	commands        [commandCount]uint64
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(latencyNsMin, latencyNsMax, latencySignificantDigits)
}

func newSample() *sample {
	return &sample{requestLatency: newHistogram(), eventLatency: newHistogram(),
		oneEventLatency: newHistogram()}
}

// slot returns the counter index of a status.
func statusSlot(status model.Status) int {
	return int(min(uint32(status), statusSlots-1))
}

// recordLatency records one completed request of events events.
func (s *sample) recordLatency(latencyNs int64, events int) {
	latencyNs = min(max(latencyNs, 0), latencyNsMax)
	// Values are within the histogram's range, so recording cannot fail.
	if events == 1 {
		_ = s.oneEventLatency.RecordValue(latencyNs)
		return
	}
	_ = s.requestLatency.RecordValue(latencyNs)
	_ = s.eventLatency.RecordValues(latencyNs, int64(events))
}

// merge adds other into s; other's one-event requests (oneEventLatency) go into both of
// s's histograms.
func (s *sample) merge(other *sample) {
	s.requestLatency.Merge(other.requestLatency)
	s.eventLatency.Merge(other.eventLatency)
	if other.oneEventLatency.TotalCount() != 0 {
		s.requestLatency.Merge(other.oneEventLatency)
		s.eventLatency.Merge(other.oneEventLatency)
	}
	s.requestsSent += other.requestsSent
	s.requestsCompleted += other.requestsCompleted
	s.requestsFailed += other.requestsFailed
	s.eventsSent += other.eventsSent
	s.eventsCompleted += other.eventsCompleted
	for i := range s.results {
		s.results[i] += other.results[i]
		s.requestStatuses[i] += other.requestStatuses[i]
		s.unknownOutcomes[i] += other.unknownOutcomes[i]
	}
	s.noReply += other.noReply
	s.malformed += other.malformed
	for i := range s.kinds {
		s.kinds[i] += other.kinds[i]
	}
	for i := range s.commands {
		s.commands[i] += other.commands[i]
	}
	s.warmRequests += other.warmRequests
	s.warmEvents += other.warmEvents
	s.lastCompletionNs = max(s.lastCompletionNs, other.lastCompletionNs)
}

// reset clears s for reuse, keeping its histograms' memory.
func (s *sample) reset() {
	requestLatency, eventLatency, oneEvent := s.requestLatency, s.eventLatency,
		s.oneEventLatency
	requestLatency.Reset()
	eventLatency.Reset()
	oneEvent.Reset()
	*s = sample{requestLatency: requestLatency, eventLatency: eventLatency,
		oneEventLatency: oneEvent}
}
