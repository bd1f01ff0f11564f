package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prometheusmodel "github.com/prometheus/common/model"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/tools/deploy"
)

// kitNode is a server for the operators' kit tests: one client key with every
// permission, an admin token, the operators' HTTP on its own port.
type kitNode struct {
	server *server
	http   string // host:port of the operators' HTTP.
	token  string // Admin bearer token.
	client *client.Client
}

func startKitNode(t *testing.T, flags ...string) *kitNode {
	t.Helper()
	data := t.TempDir()
	keys := filepath.Join(data, "keys.json")
	secret := strings.Repeat("5a", 32)
	token := writeKeys(t, keys, operatorKeyClient(1, secret, "read", "transfer", "trade", "admin"))
	node := &kitNode{http: freePort(t), token: token}
	node.server = startServer(t, data, freePort(t),
		append([]string{"--keys", keys, "--http", node.http}, flags...)...)
	c, err := dialWith(t, node.server.address, 1, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	node.client = c
	return node
}

// transfers creates count transfers of one unit from account 1 to 2 (created first if
// need be), ids from firstID, in requests of 100.
func (n *kitNode) transfers(t *testing.T, firstID uint64, count int) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	if _, err := n.client.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < count; start += 100 {
		batch := make([]model.Transfer, 0, 100)
		for i := start; i < min(start+100, count); i++ {
			batch = append(batch, transfer(firstID+uint64(i), 1, 2, 1))
		}
		results, err := n.client.CreateTransfers(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, result := range results {
			if result.Status != model.StatusOK {
				t.Fatalf("transfer: %s", result.Status)
			}
		}
	}
}

// Book of the kit tests: instrument 1 trades ledger 11 (base) against ledger 12 (quote);
// account 110/120 are the issuers, 111/121 the trader's accounts.
const (
	kitInstrument  = 1
	kitBaseLedger  = 11
	kitQuoteLedger = 12
)

// openBook creates the instrument, funds the trader, and rests these orders (none
// crosses another).
func (n *kitNode) openBook(t *testing.T) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	accounts := []model.Account{
		{ID: model.U128(110), Ledger: kitBaseLedger, Code: 1},
		{ID: model.U128(120), Ledger: kitQuoteLedger, Code: 1},
		{ID: model.U128(111), Ledger: kitBaseLedger, Code: 1},
		{ID: model.U128(121), Ledger: kitQuoteLedger, Code: 1},
	}
	if _, err := n.client.CreateAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	funding := []model.Transfer{
		{ID: model.U128(9001), DebitAccountID: model.U128(110), CreditAccountID: model.U128(111),
			Amount: model.U128(1_000), Ledger: kitBaseLedger, Code: 1},
		{ID: model.U128(9002), DebitAccountID: model.U128(120), CreditAccountID: model.U128(121),
			Amount: model.U128(1_000_000), Ledger: kitQuoteLedger, Code: 1},
	}
	if results, err := n.client.CreateTransfers(ctx, funding); err != nil ||
		results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
		t.Fatalf("funding: %v %v", results, err)
	}
	instrument := model.Instrument{ID: kitInstrument, BaseLedger: kitBaseLedger,
		QuoteLedger: kitQuoteLedger, TickSize: 1, LotSize: 1, QuantityMin: 1, QuantityMax: 1000}
	if results, err := n.client.CreateInstruments(ctx, []model.Instrument{instrument}); err != nil ||
		results[0].Status != model.StatusOK {
		t.Fatalf("instrument: %v %v", results, err)
	}
	n.placeOrders(t, 1, [][3]uint64{{uint64(model.SideBuy), 100, 7}, {uint64(model.SideBuy), 99, 3},
		{uint64(model.SideSell), 105, 10}, {uint64(model.SideSell), 106, 5}})
}

// placeOrders rests limit orders (side, price, quantity), client order ids from first.
func (n *kitNode) placeOrders(t *testing.T, first uint64, orders [][3]uint64) {
	t.Helper()
	ctx, cancel := context30s()
	defer cancel()
	batch := make([]model.Order, len(orders))
	for i, o := range orders {
		batch[i] = model.Order{ClientOrderID: first + uint64(i), Account: 1,
			BaseAccountID: model.U128(111), QuoteAccountID: model.U128(121), Price: o[1],
			Quantity: o[2], Instrument: kitInstrument, Side: model.Side(o[0]),
			Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
	}
	results, err := n.client.PlaceOrders(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("order %d: %s", i, result.Status)
		}
	}
}

// status reads /v1/status.
func (n *kitNode) status(t *testing.T) map[string]any {
	t.Helper()
	var status map[string]any
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+n.http+"/v1/status")), &status); err != nil {
		t.Fatal(err)
	}
	return status
}

func shardField(status map[string]any, field string) uint64 {
	return uint64(status["shards"].([]any)[0].(map[string]any)[field].(float64))
}

// adminRequests makes one refused and one accepted admin request, so that the server's
// own counters (refusals, admin actions) have series.
func (n *kitNode) adminRequests(t *testing.T) {
	t.Helper()
	for _, token := range []string{"wrong", n.token} {
		request, _ := http.NewRequest(http.MethodPost, "http://"+n.http+"/v1/admin/snapshot", nil)
		request.Header.Set("Authorization", "Bearer "+token)
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
	}
}

// exposedNames returns every series name /metrics exposes: each family's name, plus
// _sum and _count for summaries and histograms and _bucket for histograms.
func exposedNames(t *testing.T, metrics string) (map[string]bool, map[string]*dto.MetricFamily) {
	t.Helper()
	parser := expfmt.NewTextParser(prometheusmodel.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, family := range families {
		names[name] = true
		switch family.GetType() {
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		case dto.MetricType_HISTOGRAM:
			names[name+"_sum"], names[name+"_count"], names[name+"_bucket"] = true, true, true
		}
	}
	return names, families
}

// missingMetrics returns, for each expression, the metric names it uses that are not
// exposed ("where: name"). allowed are names Prometheus makes itself (up).
func missingMetrics(t *testing.T, exposed map[string]bool, allowed []string,
	expressions map[string]string) []string {
	t.Helper()
	var missing []string
	for where, expr := range expressions {
		names, err := deploy.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, name := range names {
			if !exposed[name] && !slices.Contains(allowed, name) {
				missing = append(missing, where+": "+name)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// TestKitMetricsExist runs a real server, gives every metric family a series (ledger
// and order traffic, a snapshot through the admin API, a refused admin request), and
// checks that every metric name the shipped Grafana dashboard and alert rules query is
// in its /metrics: a renamed or removed metric fails here rather than in production.
// Change capture runs (into an embedded nats-server), and the JSON API, so their metrics
// are there too.
// It also checks what the kit relies on beyond names: summaries carry a sum (windowed
// means are rate(sum)/rate(count)) and every quantile, and the disk space gauges.
func TestKitMetricsExist(t *testing.T) {
	// With change capture on (into an embedded nats-server): its metrics exist only then.
	nats := startNATS(t, t.TempDir(), "127.0.0.1:0")
	// With the JSON API on too: its sequent_api_* metrics exist only then.
	node := startKitNode(t, "--cdc-nats", nats.ClientURL(), "--api", freePort(t))
	node.transfers(t, 1000, 300)
	node.openBook(t)
	node.adminRequests(t)
	metrics := httpGet(t, "http://"+node.http+"/metrics")
	exposed, families := exposedNames(t, metrics)

	expressions := map[string]string{}
	queries, err := deploy.DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range queries {
		expressions["dashboard "+query.Where] = query.Expr
	}
	rules, err := deploy.Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range rules {
		expressions["alert "+rule.Alert] = rule.Expr
	}
	if len(queries) < 60 || len(rules) < 15 {
		t.Fatalf("only %d dashboard queries and %d rules", len(queries), len(rules))
	}
	if missing := missingMetrics(t, exposed, []string{"up"}, expressions); len(missing) > 0 {
		t.Errorf("metrics queried but not in /metrics:\n  %s", strings.Join(missing, "\n  "))
	}
	// The check can fail: a renamed metric is reported.
	renamed := map[string]string{"test": `rate(sequent_shard_requests_total[5m]) + sequent_shard_request_total`}
	if missing := missingMetrics(t, exposed, nil, renamed); !slices.Equal(missing,
		[]string{"test: sequent_shard_request_total"}) {
		t.Errorf("a misspelled metric was reported as %v", missing)
	}

	positive := func(name string, labels map[string]string) {
		t.Helper()
		family := families[strings.TrimSuffix(name, "_sum")]
		for _, metric := range family.GetMetric() {
			if !hasLabels(metric, labels) {
				continue
			}
			value := metric.GetGauge().GetValue()
			if summary := metric.GetSummary(); summary != nil {
				value = summary.GetSampleSum()
				if quantile, ok := labels["quantile"]; ok {
					for _, q := range summary.GetQuantile() {
						if fmt.Sprint(q.GetQuantile()) == quantile {
							value = q.GetValue()
						}
					}
				}
			}
			if value <= 0 {
				t.Errorf("%s%v = %v, want > 0", name, labels, value)
			}
			return
		}
		t.Errorf("no series %s%v", name, labels)
	}
	positive("sequent_request_latency_seconds_sum", map[string]string{"operation": "create_transfers"})
	positive("sequent_wal_sync_latency_seconds_sum", map[string]string{"shard": "0"})
	positive("sequent_wal_write_latency_seconds_sum", map[string]string{"shard": "0"})
	positive("sequent_wal_sync_latency_seconds", map[string]string{"shard": "0", "quantile": "0.9"})
	positive("sequent_data_directory_available_bytes", nil)
	positive("sequent_data_directory_filesystem_size_bytes", nil)
}

func hasLabels(metric *dto.Metric, labels map[string]string) bool {
	for name, value := range labels {
		if name == "quantile" {
			continue
		}
		found := false
		for _, pair := range metric.GetLabel() {
			found = found || (pair.GetName() == name && pair.GetValue() == value)
		}
		if !found {
			return false
		}
	}
	return true
}

// TestKitConsoleAPI checks the console's JSON on a real server: the order book through
// the shard (exact levels, and a new order shows), the latency history filling once
// requests run, and that neither counts as client traffic.
func TestKitConsoleAPI(t *testing.T) {
	node := startKitNode(t)
	node.openBook(t)
	var depth struct {
		Instrument uint32 `json:"instrument"`
		Bids, Asks []struct {
			Price, Quantity string
			Orders          uint32
		}
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+node.http+"/v1/depth?instrument=1")), &depth); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(depth.Bids, depth.Asks)
	if want := "[{100 7 1} {99 3 1}] [{105 10 1} {106 5 1}]"; depth.Instrument != 1 || got != want {
		t.Fatalf("depth %d %s, want 1 %s", depth.Instrument, got, want)
	}
	if body := httpGet(t, "http://"+node.http+"/v1/depth?instrument=2"); !strings.Contains(body, "instrument_not_found") {
		t.Fatalf("unknown instrument: %s", body)
	}
	node.transfers(t, 1, 200)
	eventually(t, "a latency sample holding the transfers", func() bool {
		var history struct {
			Samples []struct{ Requests uint64 }
		}
		json.Unmarshal([]byte(httpGet(t, "http://"+node.http+"/v1/latency")), &history)
		total := uint64(0)
		for _, sample := range history.Samples {
			total += sample.Requests
		}
		return total >= 2 // One create_accounts and two create_transfers requests at least.
	})
	if metrics := httpGet(t, "http://"+node.http+"/metrics"); strings.Contains(metrics, `operation="get_depth"`) {
		t.Errorf("the console's depth reads show as client requests:\n%s", grepLines(metrics, "get_depth"))
	}
}
