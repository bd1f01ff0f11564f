// Package deploy holds the operators' kit that ships with Sequent, and the code its tests
// share:
//
//	grafana/sequent.json              Grafana dashboard (Prometheus data source)
//	prometheus/sequent-alerts.yml     alerting rules, each with a runbook annotation
//	prometheus/sequent-alerts.cases.yml   their promtool unit tests, as written by hand
//	prometheus/sequent-alerts.test.yml    the same with the exact annotations (generated)
//	prometheus/prometheus.yml         an example scrape configuration
//	systemd/*.service, *.env, sequent.sysusers.conf   units for a primary, a standby
//	                                  and the witness, their settings, the service user
//
// Files embeds them all, so tests elsewhere (tools/e2e checks the dashboard's and the
// rules' metric names against a running server) read the very files that ship.
// MetricNames extracts metric names from PromQL well enough for that check: it is not a
// PromQL parser, and says so by failing on what it does not understand.
//
// The tests here run promtool (check and unit tests of the rules) and systemd-analyze
// (verify the units) when they are installed; with SEQUENT_REQUIRE_TOOLS=1 (set by
// .ci/run) a missing promtool or chromium fails instead of skipping. Regenerate the
// rules' test file after editing the cases with
//
//	go test ./tools/deploy -run TestAlertTests -update
package deploy
