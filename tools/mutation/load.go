package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// listedPackage is the part of `go list -json` the tool reads.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
	DepOnly    bool
	Module     *struct{ Path, Dir string }
}

// target is a package to mutate, with its type-checked files.
type target struct {
	ImportPath string
	Dir        string
	ModulePath string
	ModuleDir  string
	Files      []targetFile
}

type targetFile struct {
	Relative string // slash path relative to the module root
	Path     string
	Source   []byte
	Syntax   *ast.File
}

// loadTarget lists pattern (one package), builds the export data of its dependencies and
// type-checks its non-test files with it.
func loadTarget(pattern string) (*target, *token.FileSet, *types.Info, error) {
	listed, err := goList(pattern)
	if err != nil {
		return nil, nil, nil, err
	}
	var main *listedPackage
	exports := map[string]string{}
	for i := range listed {
		p := &listed[i]
		exports[p.ImportPath] = p.Export
		if !p.DepOnly {
			if main != nil {
				return nil, nil, nil, fmt.Errorf("%s names more than one package", pattern)
			}
			main = p
		}
	}
	if main == nil || main.Module == nil {
		return nil, nil, nil, fmt.Errorf("%s: no package of a module", pattern)
	}
	t := &target{ImportPath: main.ImportPath, Dir: main.Dir, ModulePath: main.Module.Path,
		ModuleDir: main.Module.Dir}
	fset := token.NewFileSet()
	var syntax []*ast.File
	for _, name := range main.GoFiles {
		path := filepath.Join(main.Dir, name)
		source, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, nil, err
		}
		file, err := parser.ParseFile(fset, path, source, parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, nil, err
		}
		relative, err := filepath.Rel(t.ModuleDir, path)
		if err != nil {
			return nil, nil, nil, err
		}
		t.Files = append(t.Files, targetFile{filepath.ToSlash(relative), path, source, file})
		syntax = append(syntax, file)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	lookup := func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	}
	config := types.Config{Importer: importer.ForCompiler(fset, "gc", lookup)}
	if _, err := config.Check(t.ImportPath, fset, syntax, info); err != nil {
		return nil, nil, nil, fmt.Errorf("type-checking %s: %w", t.ImportPath, err)
	}
	return t, fset, info, nil
}

func goList(pattern string) ([]listedPackage, error) {
	command := exec.Command("go", "list", "-export", "-deps", "-json", pattern)
	var stderr bytes.Buffer
	command.Stderr = &stderr
	out, err := command.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %v\n%s", pattern, err, stderr.String())
	}
	var listed []listedPackage
	decoder := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := decoder.Decode(&p); errors.Is(err, io.EOF) {
			return listed, nil
		} else if err != nil {
			return nil, err
		}
		listed = append(listed, p)
	}
}

// discover returns every mutant of the target's files that the enabled operators offer.
func discover(t *target, fset *token.FileSet, info *types.Info, enabled map[string]bool) []*Mutant {
	var all []*Mutant
	for _, file := range t.Files {
		all = append(all, mutateFile(t.ImportPath, file.Relative, file.Path, fset, file.Syntax,
			file.Source, info, enabled)...)
	}
	return all
}
