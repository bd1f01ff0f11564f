package tools

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// harnessWatcher is the one function of tools/e2e whose goroutine every test runs (it
// waits for a started server's process): the tests still run under -race exercise it,
// so it does not make a test concurrent for TestCIRaceSkipsOnlySequentialE2ETests.
const harnessWatcher = "method:startOnce"

// e2eFunctionKey names a function of tools/e2e as its calls do: methods by
// "method:name", functions by "func:name" (a method run and a function run differ).
func e2eFunctionKey(declaration *ast.FuncDecl) string {
	if declaration.Recv != nil {
		return "method:" + declaration.Name.Name
	}
	return "func:" + declaration.Name.Name
}

// TestCIRaceSkipsOnlySequentialE2ETests: .ci/run's race step leaves out the tools/e2e
// tests named in race_e2e_sequential (they run in the tests step). Their harness must be
// sequential: the servers they start are built without -race, so under -race only the
// test's own goroutines would be checked, and these have none. Each named test must
// exist, and neither it nor a function of tools/e2e it uses (directly or through
// others) may start a goroutine (except the harness's process watcher) or hand a function
// to another package, which may call it on a goroutine of its own. A test that gains
// either (or a renamed test) fails here instead of silently losing the race detector.
// The check reads names, not types: it errs towards calling a test concurrent.
func TestCIRaceSkipsOnlySequentialE2ETests(t *testing.T) {
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile(`(?m)^race_e2e_sequential='([A-Za-z0-9_|]+)'$`).FindSubmatch(script)
	if match == nil {
		t.Fatal(".ci/run no longer sets race_e2e_sequential='Test...|Test...' as this test expects")
	}
	if !strings.Contains(string(script), `-skip "^($race_e2e_sequential)\$"`) {
		t.Fatal(`.ci/run's race step no longer skips "^($race_e2e_sequential)\$"`)
	}
	files, err := filepath.Glob("e2e/*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tools/e2e tests found: %v", err)
	}
	// Methods of different types may share a name: each key holds all of them.
	declarations := map[string][]*ast.FuncDecl{}
	fileSet := token.NewFileSet()
	imported := map[string]bool{} // The files' package names, as their calls name them.
	for _, file := range files {
		parsed, err := parser.ParseFile(fileSet, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range parsed.Imports {
			name := strings.Trim(spec.Path.Value, `"`)
			name = name[strings.LastIndexByte(name, '/')+1:]
			if spec.Name != nil {
				name = spec.Name.Name
			}
			imported[name] = true
		}
		for _, declaration := range parsed.Decls {
			if function, ok := declaration.(*ast.FuncDecl); ok && function.Body != nil {
				key := e2eFunctionKey(function)
				declarations[key] = append(declarations[key], function)
			}
		}
	}
	// concurrent: the functions that start a goroutine, then those that call one of them,
	// until nothing is added.
	methods := map[string]bool{}
	for key := range declarations {
		if name, ok := strings.CutPrefix(key, "method:"); ok {
			methods[name] = true
		}
	}
	// functionNames: tools/e2e's own functions, which a name passed as an argument may be.
	functionNames := map[string]bool{}
	for key := range declarations {
		if name, ok := strings.CutPrefix(key, "func:"); ok {
			functionNames[name] = true
		}
	}
	// A function is used where its name appears, called or not (crashLoop takes the
	// method value load.run): a name shared with something else only makes the check
	// stricter.
	concurrent := map[string]bool{}
	for key, functions := range declarations {
		for _, function := range functions {
			functionValues := localFunctionValues(function, functionNames)
			ast.Inspect(function.Body, func(node ast.Node) bool {
				if _, ok := node.(*ast.GoStmt); ok && key != harnessWatcher {
					concurrent[key] = true
				}
				if handsOverCallback(node, imported, methods, functionValues) {
					concurrent[key] = true
				}
				return true
			})
		}
	}
	for added := true; added; {
		added = false
		for key, functions := range declarations {
			for _, function := range functions {
				ast.Inspect(function.Body, func(node ast.Node) bool {
					used := ""
					switch n := node.(type) {
					case *ast.Ident:
						used = "func:" + n.Name
					case *ast.SelectorExpr:
						used = "method:" + n.Sel.Name
					}
					if concurrent[used] && !concurrent[key] {
						concurrent[key], added = true, true
					}
					return true
				})
			}
		}
	}
	for _, name := range strings.Split(string(match[1]), "|") {
		if declarations["func:"+name] == nil || !strings.HasPrefix(name, "Test") {
			t.Errorf("race_e2e_sequential names %s, which is no test of tools/e2e", name)
		} else if concurrent["func:"+name] {
			t.Errorf("race_e2e_sequential names %s, which starts goroutines or hands out callbacks: "+
				"it must run under the race detector", name)
		}
	}
}

// synchronousPackages are the imported packages whose functions call a function they are
// given on the caller's goroutine, before they return.
var synchronousPackages = map[string]bool{"sort": true, "slices": true, "strings": true,
	"bytes": true, "maps": true, "errors": true, "fmt": true}

// localFunctionValues returns the names that may hold a function in function's body:
// tools/e2e's own functions, its parameters of a function type (a helper that passes on
// the callback it was given), and the names a function literal is assigned to there (by
// name only: a name shared with something else only makes the check stricter).
func localFunctionValues(function *ast.FuncDecl, functionNames map[string]bool) map[string]bool {
	names := map[string]bool{}
	for name := range functionNames {
		names[name] = true
	}
	for _, parameter := range function.Type.Params.List {
		if _, ok := parameter.Type.(*ast.FuncType); ok {
			for _, name := range parameter.Names {
				names[name.Name] = true
			}
		}
	}
	ast.Inspect(function.Body, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.AssignStmt:
			for i, value := range n.Rhs {
				if _, ok := value.(*ast.FuncLit); ok && i < len(n.Lhs) {
					if name, ok := n.Lhs[i].(*ast.Ident); ok {
						names[name.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for i, value := range n.Values {
				if _, ok := value.(*ast.FuncLit); ok && i < len(n.Names) {
					names[n.Names[i].Name] = true
				}
			}
		}
		return true
	})
	return names
}

// testingCallers are the methods of testing's T that call no function they are given
// on a goroutine of their own: t.Run (a subtest the test waits for), t.Cleanup, and
// those that only print their arguments (a field named like a method is no callback).
var testingCallers = map[string]bool{"Run": true, "Cleanup": true, "Fatal": true,
	"Fatalf": true, "Error": true, "Errorf": true, "Log": true, "Logf": true, "Skip": true,
	"Skipf": true}

// handsOverCallback reports whether node is a call into another package (the client, the
// browser driver, NATS), or a call of another package's method on a value (a client's
// handler, a mux's route: any method tools/e2e does not declare), that is given a
// function literal, a method value, or a name that holds a function: such a callee may
// call it on a goroutine of its own (FollowBook's handler, chromedp.Listen's listener), which the race detector
// should watch beside the test's. Only calls of functions that call what they are given
// before they return (synchronousPackages, testingCallers), and tools/e2e's own
// methods (checked by name), are left out.
func handsOverCallback(node ast.Node, imported, methods, functionValues map[string]bool) bool {
	call, ok := node.(*ast.CallExpr)
	if !ok {
		return false
	}
	selector, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false // A call of tools/e2e's own function: its body is checked by name.
	}
	if owner, ok := selector.X.(*ast.Ident); ok && imported[owner.Name] {
		if synchronousPackages[owner.Name] {
			return false
		}
	} else if testingCallers[selector.Sel.Name] || methods[selector.Sel.Name] {
		return false // testing's, or tools/e2e's own method (its body is checked by name).
	}
	for _, argument := range call.Args {
		switch a := argument.(type) {
		case *ast.FuncLit:
			return true
		case *ast.SelectorExpr: // A method value of the test's own types.
			if methods[a.Sel.Name] {
				return true
			}
		case *ast.Ident:
			if functionValues[a.Name] {
				return true
			}
		}
	}
	return false
}
