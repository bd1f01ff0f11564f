package netio

// ReportReplaysConcurrentMax exposes the replay-slot bound to the external tests.
const ReportReplaysConcurrentMax = reportReplaysConcurrentMax
