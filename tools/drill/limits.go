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
)
