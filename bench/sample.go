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

	requestsSent      uint64
	requestsCompleted uint64 // A reply with status ok (its events have results).
	requestsFailed    uint64 // A request-level status other than ok, or no reply.
	eventsSent        uint64
	eventsCompleted   uint64 // Events of completed requests.

	results         [statusSlots]uint64 // Per-event result codes.
	requestStatuses [statusSlots]uint64 // Request-level statuses of replies.
	unknownOutcomes [statusSlots]uint64 // Calls ended with an unknown outcome, by the status that ended them (client.OutcomeUnknownError).
	noReply         uint64              // Requests that failed without a reply.
	malformed       uint64              // Replies whose body did not match the request.
	kinds           [kindCount]uint64   // Completed requests per workload.
	commands        [commandCount]uint64

	warmRequests uint64 // Requests sent during the warm-up (not measured).
	warmEvents   uint64

	lastCompletionNs int64 // Run time of the latest completion recorded (measured).
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(latencyNsMin, latencyNsMax, latencySignificantDigits)
}

func newSample() *sample {
	return &sample{requestLatency: newHistogram(), eventLatency: newHistogram()}
}

// slot returns the counter index of a status.
func statusSlot(status model.Status) int {
	return int(min(uint32(status), statusSlots-1))
}

// recordLatency records one completed request of events events.
func (s *sample) recordLatency(latencyNs int64, events int) {
	latencyNs = min(max(latencyNs, 0), latencyNsMax)
	// Values are within the histogram's range, so recording cannot fail.
	_ = s.requestLatency.RecordValue(latencyNs)
	_ = s.eventLatency.RecordValues(latencyNs, int64(events))
}

// merge adds other into s.
func (s *sample) merge(other *sample) {
	s.requestLatency.Merge(other.requestLatency)
	s.eventLatency.Merge(other.eventLatency)
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
	requestLatency, eventLatency := s.requestLatency, s.eventLatency
	requestLatency.Reset()
	eventLatency.Reset()
	*s = sample{requestLatency: requestLatency, eventLatency: eventLatency}
}
