package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/jsonview"
)

// openAPI is the parsed document.
type openAPI struct {
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas   map[string]map[string]any `json:"schemas"`
		Responses map[string]map[string]any `json:"responses"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                    `json:"operationId"`
	Responses   map[string]map[string]any `json:"responses"`
	Security    *[]any                    `json:"security"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var document openAPI
	if err := json.Unmarshal(openAPIDocument, &document); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &document
}

// schemaTypes maps each schema of the document to the Go type the handlers encode or
// decode for it.
var schemaTypes = map[string]any{
	"Account": jsonview.Account{}, "Transfer": jsonview.Transfer{}, "Balance": jsonview.Balance{},
	"Result": jsonview.Result{}, "RiskDetail": jsonview.RiskDetail{},
	"Conversion": jsonview.Conversion{}, "ConversionRequest": ConversionRequest{},
	"ResolveRequest": resolveBody{}, "IDs": idsBody{}, "Error": Error{}, "Time": timeBody{},
}

// responseTypes are the schemas the server writes (their required list must be the Go
// type's fields that are always present).
var responseTypes = []string{"Account", "Transfer", "Balance", "Result", "RiskDetail",
	"Conversion", "Error", "Time"}

// TestOpenAPIMatchesRoutes keeps openapi.json true: it describes exactly the router's
// routes (method, path, operationId; public ones without security), every schema is a
// Go type of the handlers with exactly its JSON fields (and, for what the server writes,
// the fields it always writes as required), and every reference resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	document := loadOpenAPI(t)
	documented := map[string]string{}
	for path, operations := range document.Paths {
		for method, operation := range operations {
			documented[strings.ToUpper(method)+" "+path] = operation.OperationID
			public := operation.Security != nil && len(*operation.Security) == 0
			route, _, status := match(strings.ToUpper(method), path)
			if status != 200 || route.pattern != path {
				t.Errorf("documented %s %s is not a route", method, path)
				continue
			}
			if route.operationID != operation.OperationID || route.public != public {
				t.Errorf("%s %s: document says %s (public %v), router %s (public %v)", method,
					path, operation.OperationID, public, route.operationID, route.public)
			}
		}
	}
	for _, route := range routes {
		if documented[route.method+" "+route.pattern] != route.operationID {
			t.Errorf("route %s %s (%s) is not documented", route.method, route.pattern,
				route.operationID)
		}
	}
	for name, schema := range document.Components.Schemas {
		goType, ok := schemaTypes[name]
		if !ok {
			t.Errorf("schema %s matches no Go type", name)
			continue
		}
		fields, always := jsonFields(reflect.TypeOf(goType))
		properties := keys(schema["properties"].(map[string]any))
		if !slices.Equal(properties, fields) {
			t.Errorf("schema %s has properties %v, the Go type %T fields %v", name, properties,
				goType, fields)
		}
		if slices.Contains(responseTypes, name) {
			required := strings.Fields(fmt.Sprint(schema["required"]))
			for i := range required {
				required[i] = strings.Trim(required[i], "[]")
			}
			sort.Strings(required)
			if !slices.Equal(required, always) {
				t.Errorf("schema %s requires %v; the server always writes %v", name, required, always)
			}
		}
	}
	for name := range schemaTypes {
		if _, ok := document.Components.Schemas[name]; !ok {
			t.Errorf("Go type of schema %s is not documented", name)
		}
	}
	checkReferences(t, document, any(map[string]any{}), openAPIDocument)
}

// jsonFields returns a struct type's JSON names, sorted, and those without omitempty.
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, options, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		all = append(all, name)
		if !strings.Contains(options, "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	sort.Strings(always)
	return all, always
}

func keys(m map[string]any) []string {
	var names []string
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// checkReferences requires every "$ref" of the document to name a defined component.
func checkReferences(t *testing.T, document *openAPI, _ any, raw []byte) {
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(value any)
	walk = func(value any) {
		switch v := value.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := ref[strings.LastIndex(ref, "/")+1:]
				_, schema := document.Components.Schemas[name]
				_, response := document.Components.Responses[name]
				if !schema && !response {
					t.Errorf("reference %s is not defined", ref)
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(tree)
}

// TestOpenAPIDescribesAnswers drives every route through a real server and checks each
// answer against the document: its HTTP status is documented for the operation, and its
// body validates against the schema documented for that status.
func TestOpenAPIDescribesAnswers(t *testing.T) {
	document := loadOpenAPI(t)
	h := newHarness(t)
	covered := map[string]bool{}
	check := func(method, uri, body string, headers ...string) response {
		t.Helper()
		r := h.operator(method, uri, body, headers...)
		route, _, _ := match(method, strings.Split(uri, "?")[0])
		covered[route.operationID] = true
		operation := document.Paths[route.pattern][strings.ToLower(method)]
		documented, ok := operation.Responses[strconv.Itoa(r.code)]
		if !ok {
			t.Fatalf("%s %s answered %d, which %s does not document: %s", method, uri, r.code,
				route.operationID, r.body)
		}
		if ref, ok := documented["$ref"].(string); ok {
			documented = document.Components.Responses[ref[strings.LastIndex(ref, "/")+1:]]
		}
		content, _ := documented["content"].(map[string]any)
		if content == nil {
			return r
		}
		schema := content["application/json"].(map[string]any)["schema"]
		var value any
		if err := json.Unmarshal(r.body, &value); err != nil {
			t.Fatalf("%s %s: %v", method, uri, err)
		}
		if problem := validate(document, schema, value, "body"); problem != "" && route.operationID != "getOpenAPI" {
			t.Fatalf("%s %s (%d): %s\n%s", method, uri, r.code, problem, r.body)
		}
		return r
	}
	check("GET", "/v1/openapi.json", "")
	check("GET", "/v1/time", "")
	check("POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1,"flags":8},{"id":"2","ledger":1,"code":1,"flags":8},
		{"id":"90","ledger":1,"code":1},{"id":"91","ledger":2,"code":1},{"id":"3","ledger":2,"code":1}]`)
	check("POST", "/v1/accounts", `{"id":"4","ledger":1,"code":1}`)
	check("POST", "/v1/accounts", `{"id":"4","ledger":1,"code":1}`)
	check("POST", "/v1/accounts", `{"id":"5","ledger":0,"code":1}`)
	check("POST", "/v1/accounts/lookup", `{"ids":["1","2"]}`)
	check("GET", "/v1/accounts/1", "")
	check("GET", "/v1/accounts/404", "")
	transfer := `{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"100","ledger":1,"code":1}`
	check("POST", "/v1/transfers", transfer, HeaderIdempotencyKey, "5:1")
	check("POST", "/v1/transfers", transfer, HeaderIdempotencyKey, "5:1")
	check("POST", "/v1/transfers", transfer)
	check("POST", "/v1/transfers", `[`+strings.Replace(transfer, `"10"`, `"11"`, 1)+`]`)
	check("POST", "/v1/transfers", `{"id":"12","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1,"flags":2}`)
	check("POST", "/v1/transfers/12/post", `{"id":"13"}`)
	check("POST", "/v1/transfers/12/void", `{"id":"14"}`)
	check("POST", "/v1/transfers/lookup", `{"ids":["10","11"]}`)
	check("GET", "/v1/transfers/10", "")
	check("GET", "/v1/transfers/404", "")
	check("GET", "/v1/accounts/1/transfers?limit=1", "")
	check("GET", "/v1/accounts/1/balances?order=oldest", "")
	check("GET", "/v1/accounts/90/balances", "")
	check("GET", "/v1/accounts/1/transfers?limit=x", "")
	rules := make([]byte, model.RiskRuleSize)
	(&model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 1,
		Amount: model.U128(500)}).Encode(rules)
	if _, err := h.shard.WriteInternal(model.OperationSetRiskRules, rules, waitMax); err != nil {
		t.Fatal(err)
	}
	check("POST", "/v1/transfers", strings.Replace(strings.Replace(transfer, `"10"`, `"15"`, 1), `"100"`, `"501"`, 1))
	check("POST", "/v1/conversions", `{"id":"500","payer":"2","payee":"3","source_liquidity":"90",
		"target_liquidity":"91","source_ledger":1,"target_ledger":2,"source_scale":2,"target_scale":2,
		"rate":"1.5","quote_id":"7","code":5,"amount":"10"}`)
	check("POST", "/v1/conversions", `{"id":"600","payer":"2","payee":"3","source_liquidity":"90",
		"target_liquidity":"91","source_ledger":1,"target_ledger":2,"source_scale":2,"target_scale":2,
		"rate":"1.5","quote_id":"7","code":5,"amount":"1000"}`)
	for _, route := range routes {
		if !covered[route.operationID] {
			t.Errorf("route %s was not exercised", route.operationID)
		}
	}
}

// validate checks value against a schema of the document (the subset it uses: $ref,
// type, properties, required, additionalProperties false, items, oneOf, enum) and
// returns the first problem, or "".
func validate(document *openAPI, schema any, value any, where string) string {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return validate(document, document.Components.Schemas[ref[strings.LastIndex(ref, "/")+1:]],
			value, where)
	}
	if options, ok := s["oneOf"].([]any); ok {
		for _, option := range options {
			if validate(document, option, value, where) == "" {
				return ""
			}
		}
		return where + ": matches none of oneOf"
	}
	switch s["type"] {
	case "object":
		object, ok := value.(map[string]any)
		if !ok {
			return where + ": not an object"
		}
		properties, _ := s["properties"].(map[string]any)
		if properties == nil {
			return ""
		}
		for _, name := range s["required"].([]any) {
			if _, ok := object[name.(string)]; !ok {
				return where + ": lacks " + name.(string)
			}
		}
		for name, field := range object {
			property, ok := properties[name]
			if !ok {
				return where + ": undocumented property " + name
			}
			if problem := validate(document, property, field, where+"."+name); problem != "" {
				return problem
			}
		}
	case "array":
		array, ok := value.([]any)
		if !ok {
			return where + ": not an array"
		}
		for i, item := range array {
			if problem := validate(document, s["items"], item, fmt.Sprintf("%s[%d]", where, i)); problem != "" {
				return problem
			}
		}
	case "string":
		text, ok := value.(string)
		if !ok {
			return where + ": not a string"
		}
		if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, any(text)) {
			return where + ": " + text + " not in its enum"
		}
	case "integer":
		if number, ok := value.(float64); !ok || number < 0 {
			return where + ": not a non-negative integer"
		}
	case "boolean":
		if _, ok := value.(bool); !ok {
			return where + ": not a boolean"
		}
	}
	return ""
}
