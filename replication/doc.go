// Package replication will own the primary-to-standby log stream, acknowledgements,
// epochs, fencing, promotion and rejoin.
//
// Not built yet: this package is a placeholder until the hot-standby issue lands.
package replication
