package deploy

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// generatedHeader opens the generated rules test file.
const generatedHeader = `# GENERATED from sequent-alerts.cases.yml by
#   go test ./tools/deploy -run TestAlertTests -update
# DO NOT EDIT: edit the cases file and regenerate. These are the same tests with each
# expected alert's annotations rendered from sequent-alerts.yml, because promtool
# compares annotations in full. Run: promtool test rules sequent-alerts.test.yml
`

// labelTemplate is the only template the rules' annotations may use.
var labelTemplate = regexp.MustCompile(`\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// RenderAnnotation expands {{ $labels.NAME }} with the alert's labels (an absent label
// expands to "", as in Prometheus). Any other template is an error: the generated tests
// could not know what it renders to.
func RenderAnnotation(text string, labels map[string]string) (string, error) {
	rendered := labelTemplate.ReplaceAllStringFunc(text, func(match string) string {
		return labels[labelTemplate.FindStringSubmatch(match)[1]]
	})
	if strings.Contains(rendered, "{{") {
		return "", fmt.Errorf("annotation %q: only {{ $labels.NAME }} templates are supported", text)
	}
	return rendered, nil
}

// GenerateRuleTests returns the promtool test file: the cases file with, after each
// expected alert's exp_labels, its exp_annotations rendered from the rule. Comments and
// order are kept.
func GenerateRuleTests() ([]byte, error) {
	rules, err := Rules()
	if err != nil {
		return nil, err
	}
	byName := map[string]Rule{}
	for _, rule := range rules {
		byName[rule.Alert] = rule
	}
	cases, err := Files.ReadFile(RuleCasesPath)
	if err != nil {
		return nil, err
	}
	var document yaml.Node
	if err := yaml.Unmarshal(cases, &document); err != nil {
		return nil, fmt.Errorf("%s: %w", RuleCasesPath, err)
	}
	root := document.Content[0]
	document.HeadComment, root.HeadComment = "", ""
	if len(root.Content) > 0 {
		root.Content[0].HeadComment = "" // The cases file's own header.
	}
	for _, test := range mappingValue(root, "tests").Content {
		for _, check := range mappingValue(test, "alert_rule_test").Content {
			name := mappingValue(check, "alertname").Value
			rule, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("%s: a test of unknown alert %q", RuleCasesPath, name)
			}
			for _, alert := range mappingValue(check, "exp_alerts").Content {
				if err := addAnnotations(alert, &rule); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	var out bytes.Buffer
	out.WriteString(generatedHeader)
	encoder := yaml.NewEncoder(&out)
	encoder.SetIndent(2)
	if err := encoder.Encode(&document); err != nil {
		return nil, err
	}
	return out.Bytes(), encoder.Close()
}

// addAnnotations inserts exp_annotations after an expected alert's exp_labels.
func addAnnotations(alert *yaml.Node, rule *Rule) error {
	labels := map[string]string{}
	if err := mappingValue(alert, "exp_labels").Decode(&labels); err != nil {
		return err
	}
	names := make([]string, 0, len(rule.Annotations))
	for name := range rule.Annotations {
		names = append(names, name)
	}
	sort.Strings(names)
	annotations := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range names {
		text, err := RenderAnnotation(rule.Annotations[name], labels)
		if err != nil {
			return err
		}
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text}
		if strings.Contains(text, "\n") {
			value.Style = yaml.LiteralStyle
		}
		annotations.Content = append(annotations.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, value)
	}
	alert.Content = append(alert.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "exp_annotations"}, annotations)
	return nil
}

// mappingValue returns the value of key in a mapping node, or an empty node.
func mappingValue(mapping *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// RuleCase is one alert_rule_test entry of the cases file: an alert evaluated at a time,
// and whether any alert is expected to fire.
type RuleCase struct {
	Test      string
	Alert     string
	EvalTime  string
	ExpectsOn bool
}

// RuleCases lists the cases file's checks.
func RuleCases() ([]RuleCase, error) {
	data, err := Files.ReadFile(RuleCasesPath)
	if err != nil {
		return nil, err
	}
	var file struct {
		Tests []struct {
			Name  string `yaml:"name"`
			Tests []struct {
				EvalTime  string           `yaml:"eval_time"`
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", RuleCasesPath, err)
	}
	var cases []RuleCase
	for _, test := range file.Tests {
		for _, check := range test.Tests {
			cases = append(cases, RuleCase{Test: test.Name, Alert: check.Alertname,
				EvalTime: check.EvalTime, ExpectsOn: len(check.ExpAlerts) > 0})
		}
	}
	return cases, nil
}
