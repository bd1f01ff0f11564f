package drill

import "time"

// Bounds of a drill: every wait has one, so a drill always ends.
const (
	// startTimeout bounds starting the pair and creating the accounts.
	startTimeout = 60 * time.Second
	// failoverTimeout bounds each failover step (promotion, first write, catch-up).
	failoverTimeout = 60 * time.Second
	// batchTimeout bounds one load batch, failover included.
	batchTimeout = 90 * time.Second
	// stopTimeout bounds a clean stop before SIGKILL.
	stopTimeout = 15 * time.Second
	// logTailLines is how many lines of each node's log a failed drill's error quotes.
	logTailLines = 25
	// startAttemptsMax bounds restarts of a node whose port was taken at start, and
	// startRetryDelay spaces them.
	startAttemptsMax = 5
	startRetryDelay  = 500 * time.Millisecond
	// lostIDsShownMax bounds the lost ids a report names (the count is always exact).
	lostIDsShownMax = 16
	// refusalsKeptMax bounds the refusals the load keeps with their status and time, to
	// describe refused transfers found stored (each refused id is a bit regardless).
	refusalsKeptMax = 4096
	// clientHeartbeatInterval, clientSilenceTimeout and clientDialTimeout tune the load's
	// client to notice a hung server fast: under the drill's load replies arrive every
	// few milliseconds, so a second of silence means the server is gone or hung.
	clientHeartbeatInterval = 250 * time.Millisecond
	clientSilenceTimeout    = time.Second
	clientDialTimeout       = 500 * time.Millisecond
	// statusPollInterval spaces the drill's /v1/status polls of one node: 20 a second, the
	// operators' port's per-address rate (more would be answered 429).
	statusPollInterval = 50 * time.Millisecond
	// LeaseDefault is the witness lease of automatic mode: short, so that a drill's
	// failovers are quick, on a machine that schedules the nodes promptly.
	LeaseDefault = 500 * time.Millisecond
	// RateDefault is the default load in transfers/s: enough to keep batches in flight at
	// every kill, small enough that a 100-cycle drill's state (both nodes hold every
	// transfer, and each rejoin reloads it) stays a few gigabytes.
	RateDefault = 20_000
)
