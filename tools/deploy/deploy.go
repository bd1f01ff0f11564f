package deploy

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Files are the kit's files, as they ship.
//
//go:embed grafana prometheus systemd
var Files embed.FS

// Paths of the kit's main files within Files.
const (
	DashboardPath  = "grafana/sequent.json"
	RulesPath      = "prometheus/sequent-alerts.yml"
	RuleCasesPath  = "prometheus/sequent-alerts.cases.yml"
	RuleTestsPath  = "prometheus/sequent-alerts.test.yml"
	ScrapeConfPath = "prometheus/prometheus.yml"
	SystemdDir     = "systemd"
)

// RequireToolsVariable, set to 1 (as .ci/run does), makes a missing required tool a test
// failure instead of a skip.
const RequireToolsVariable = "SEQUENT_REQUIRE_TOOLS"

// FindTool returns the path of the first of names found on PATH. When none is, it skips
// the test, or fails it under SEQUENT_REQUIRE_TOOLS=1 if required: CI installs the tools
// (Debian's prometheus and chromium packages) and must not pass by skipping.
func FindTool(t testing.TB, required bool, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if required && os.Getenv(RequireToolsVariable) == "1" {
		t.Fatalf("%s not found on PATH, and %s=1 requires it (.ci/run installs it with apt-get)",
			strings.Join(names, " or "), RequireToolsVariable)
	}
	t.Skipf("%s not found on PATH: skipped (CI requires it)", strings.Join(names, " or "))
	return ""
}

// Rule is one alerting rule of the rules file.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Rules reads the alerting rules, in file order.
func Rules() ([]Rule, error) {
	data, err := Files.ReadFile(RulesPath)
	if err != nil {
		return nil, err
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []Rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", RulesPath, err)
	}
	var rules []Rule
	for _, group := range file.Groups {
		rules = append(rules, group.Rules...)
	}
	return rules, nil
}

// DashboardQuery is one PromQL expression of the dashboard and where it is.
type DashboardQuery struct {
	Where string // "panel 12 \"Requests by operation\" target A", "variable job".
	Expr  string
}

// DashboardQueries returns every PromQL expression of the dashboard: each panel's
// targets (rows' nested panels included) and each query variable's query (the metric
// selector inside label_values).
func DashboardQueries() ([]DashboardQuery, error) {
	data, err := Files.ReadFile(DashboardPath)
	if err != nil {
		return nil, err
	}
	var dashboard Dashboard
	if err := json.Unmarshal(data, &dashboard); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardPath, err)
	}
	var queries []DashboardQuery
	for _, panel := range dashboard.AllPanels() {
		for _, target := range panel.Targets {
			queries = append(queries, DashboardQuery{Expr: target.Expr,
				Where: fmt.Sprintf("panel %d %q target %s", panel.ID, panel.Title, target.RefID)})
		}
	}
	for _, variable := range dashboard.Templating.List {
		if variable.Type != "query" {
			continue
		}
		expr, err := variableExpression(variable.Query)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", variable.Name, err)
		}
		queries = append(queries, DashboardQuery{Where: "variable " + variable.Name, Expr: expr})
	}
	return queries, nil
}

// Dashboard is the part of a Grafana dashboard's JSON the tests read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (a row holds collapsed panels in Panels).
type Panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Panels  []Panel                  `json:"panels"`
}

// Variable is a dashboard template variable; Query is a string or {"query": "…"}.
type Variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// AllPanels returns the panels, with those nested in collapsed rows after their row.
func (d *Dashboard) AllPanels() []Panel {
	var all []Panel
	for _, panel := range d.Panels {
		all = append(all, panel)
		all = append(all, panel.Panels...)
	}
	return all
}

// labelValues matches Grafana's label_values(selector, label) and label_values(label).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// variableExpression returns the PromQL inside a query variable's query.
func variableExpression(raw json.RawMessage) (string, error) {
	var query string
	if err := json.Unmarshal(raw, &query); err != nil {
		var object struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(raw, &object); err != nil {
			return "", fmt.Errorf("query %s: %w", raw, err)
		}
		query = object.Query
	}
	if match := labelValues.FindStringSubmatch(query); match != nil {
		return match[1], nil
	}
	if strings.HasPrefix(strings.TrimSpace(query), "query_result(") {
		inner := strings.TrimSpace(query)
		return strings.TrimSuffix(strings.TrimPrefix(inner, "query_result("), ")"), nil
	}
	return "", fmt.Errorf("query %q: not label_values(…) or query_result(…)", query)
}
