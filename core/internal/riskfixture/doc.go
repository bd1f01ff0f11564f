// Package riskfixture holds the risk rule set the benchmarks share (test code only): the
// ledger's BenchmarkCreateTransfersRisk and the engine's BenchmarkEvaluate measure the
// same five rules, so that the engine's share of the ledger's cost can be read off.
package riskfixture
