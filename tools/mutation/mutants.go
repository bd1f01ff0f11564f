package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"
)

// The operators. Each names a family of one-line changes; a site can give mutants of
// several families (a < b gives boundary a <= b and negate a >= b).
const (
	operatorBoundary   = "boundary"     // < ↔ <=, > ↔ >=
	operatorNegate     = "negate"       // == ↔ !=, < ↔ >=, > ↔ <=
	operatorLogical    = "logical"      // && ↔ ||
	operatorDrop       = "drop-operand" // a && b → a, → b; a || b → a, → b
	operatorRemoveNot  = "remove-not"   // !x → x
	operatorNegateIf   = "negate-if"    // if c → if !(c), for a c that is not a comparison
	operatorArithmetic = "arithmetic"   // + ↔ -, * ↔ /, % → *
	operatorBitwise    = "bitwise"      // & ↔ |, ^ → |, << ↔ >>
	operatorIncrement  = "increment"    // ++ ↔ --, += ↔ -=
	operatorConstant   = "constant"     // a named constant → the next one of its type
	operatorBool       = "bool"         // true ↔ false
	operatorRemove     = "remove"       // an assignment, call, ++/--, early return, break or continue
)

// allOperators is every operator, in the order -operators documents them.
var allOperators = []string{operatorBoundary, operatorNegate, operatorLogical, operatorDrop,
	operatorRemoveNot, operatorNegateIf, operatorArithmetic, operatorBitwise,
	operatorIncrement, operatorConstant, operatorBool, operatorRemove}

// snippetRunesMax bounds the source text a key quotes, so that keys stay one readable line.
const snippetRunesMax = 72

// Mutant is one change to one file: bytes [start, end) replaced by text.
type Mutant struct {
	Package     string // import path
	File        string // slash path relative to the module root
	Path        string // absolute path of the file
	Line        int
	Column      int
	Function    string // Type.method, function, or "-" outside functions
	Operator    string
	Original    string // the changed source text, whitespace collapsed, shortened
	Replacement string // what replaces it, as the key shows it
	Ordinal     int    // 1 + the number of earlier mutants in the function with the same key prefix
	InFunction  bool   // inside a function body (coverage can select its tests)

	start, end int
	text       string
}

// Key identifies the mutant independently of line numbers (see the package doc).
func (m *Mutant) Key() string {
	return fmt.Sprintf("%s#%d", m.keyPrefix(), m.Ordinal)
}

func (m *Mutant) keyPrefix() string {
	return fmt.Sprintf("%s %s %s %q→%q ", m.File, m.Function, m.Operator, m.Original, m.Replacement)
}

// Apply returns source with the mutant applied.
func (m *Mutant) Apply(source []byte) []byte {
	out := make([]byte, 0, len(source)+len(m.text))
	out = append(out, source[:m.start]...)
	out = append(out, m.text...)
	return append(out, source[m.end:]...)
}

// Diff shows the lines the mutant changes, before and after.
func (m *Mutant) Diff(source []byte) string {
	from := lineStart(source, m.start)
	to := lineEnd(source, m.end)
	before := string(source[from:to])
	after := string(source[from:m.start]) + m.text + string(source[m.end:to])
	var b strings.Builder
	for _, line := range strings.Split(before, "\n") {
		b.WriteString("  - " + strings.TrimSpace(line) + "\n")
	}
	for _, line := range strings.Split(after, "\n") {
		if strings.TrimSpace(line) != "" || after == "" {
			b.WriteString("  + " + strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

func lineStart(source []byte, offset int) int {
	for offset > 0 && source[offset-1] != '\n' {
		offset--
	}
	return offset
}

func lineEnd(source []byte, offset int) int {
	for offset < len(source) && source[offset] != '\n' {
		offset++
	}
	return offset
}

// fileMutator finds the mutants of one file.
type fileMutator struct {
	pkg      string
	relative string
	path     string
	fset     *token.FileSet
	source   []byte
	info     *types.Info
	enabled  map[string]bool
	function string
	mutants  []*Mutant
}

// mutateFile returns the mutants of one parsed and type-checked file, in source order,
// with their ordinals set.
func mutateFile(pkg, relative, path string, fset *token.FileSet, file *ast.File,
	source []byte, info *types.Info, enabled map[string]bool) []*Mutant {
	f := &fileMutator{pkg: pkg, relative: relative, path: path, fset: fset, source: source,
		info: info, enabled: enabled, function: "-"}
	for _, decl := range file.Decls {
		if fn, ok := decl.(*ast.FuncDecl); ok {
			f.function = functionName(fn)
			if fn.Body != nil {
				f.walk(fn.Body, true)
			}
			f.function = "-"
			continue
		}
		f.walk(decl, false)
	}
	sort.SliceStable(f.mutants, func(i, j int) bool { return f.mutants[i].start < f.mutants[j].start })
	seen := map[string]int{}
	for _, m := range f.mutants {
		prefix := m.keyPrefix()
		seen[prefix]++
		m.Ordinal = seen[prefix]
	}
	return f.mutants
}

func functionName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	receiver := fn.Recv.List[0].Type
	for {
		switch t := receiver.(type) {
		case *ast.StarExpr:
			receiver = t.X
			continue
		case *ast.IndexExpr:
			receiver = t.X
			continue
		case *ast.IndexListExpr:
			receiver = t.X
			continue
		case *ast.Ident:
			return t.Name + "." + fn.Name.Name
		}
		return fn.Name.Name
	}
}

// walk visits a subtree; inFunction says whether it lies in a function body (root is then
// that body).
func (f *fileMutator) walk(root ast.Node, inFunction bool) {
	owners := map[*ast.BlockStmt]blockKind{}
	if body, ok := root.(*ast.BlockStmt); ok {
		owners[body] = functionBody
	}
	ast.Inspect(root, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			owners[n.Body] = functionBody
		case *ast.ForStmt:
			owners[n.Body] = loopBody
		case *ast.RangeStmt:
			owners[n.Body] = loopBody
		case *ast.BinaryExpr:
			f.binary(n, inFunction)
		case *ast.UnaryExpr:
			if n.Op == token.NOT {
				f.add(operatorRemoveNot, n, n.Pos(), n.X.Pos(), "", inFunction)
			}
		case *ast.IfStmt:
			f.negateIf(n, inFunction)
		case *ast.IncDecStmt:
			f.incDec(n, inFunction)
		case *ast.AssignStmt:
			f.opAssign(n, inFunction)
		case *ast.Ident:
			f.boolLiteral(n, inFunction)
			f.namedConstant(n, n, "", inFunction)
		case *ast.SelectorExpr:
			if qualifier, ok := n.X.(*ast.Ident); ok {
				f.namedConstant(n, n.Sel, qualifier.Name+".", inFunction)
				return false
			}
		case *ast.BlockStmt:
			f.removals(n.List, owners[n], inFunction)
		case *ast.CaseClause:
			f.removals(n.Body, caseBody, inFunction)
		case *ast.CommClause:
			f.removals(n.Body, caseBody, inFunction)
		}
		return true
	})
}

// blockKind says what a statement list is the body of, which decides whether removing
// its last statement can change anything.
type blockKind int

const (
	otherBody blockKind = iota
	functionBody
	loopBody
	caseBody
)

var boundaryOf = map[token.Token]token.Token{
	token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR}

var negationOf = map[token.Token]token.Token{
	token.EQL: token.NEQ, token.NEQ: token.EQL, token.LSS: token.GEQ, token.GEQ: token.LSS,
	token.GTR: token.LEQ, token.LEQ: token.GTR}

var arithmeticOf = map[token.Token]token.Token{
	token.ADD: token.SUB, token.SUB: token.ADD, token.MUL: token.QUO, token.QUO: token.MUL,
	token.REM: token.MUL}

var bitwiseOf = map[token.Token]token.Token{
	token.AND: token.OR, token.OR: token.AND, token.XOR: token.OR, token.SHL: token.SHR,
	token.SHR: token.SHL}

func (f *fileMutator) binary(n *ast.BinaryExpr, inFunction bool) {
	opEnd := n.OpPos + token.Pos(len(n.Op.String()))
	swap := func(operator string, table map[token.Token]token.Token) {
		if to, ok := table[n.Op]; ok {
			f.addAt(operator, n, n.OpPos, opEnd, to.String(), to.String(), inFunction)
		}
	}
	swap(operatorBoundary, boundaryOf)
	swap(operatorNegate, negationOf)
	if !f.isString(n.X) {
		swap(operatorArithmetic, arithmeticOf)
	}
	swap(operatorBitwise, bitwiseOf)
	if n.Op == token.LAND || n.Op == token.LOR {
		other := token.LOR
		if n.Op == token.LOR {
			other = token.LAND
		}
		f.addAt(operatorLogical, n, n.OpPos, opEnd, other.String(), other.String(), inFunction)
		left, right := f.text(n.X.Pos(), n.X.End()), f.text(n.Y.Pos(), n.Y.End())
		f.addAt(operatorDrop, n, n.Pos(), n.End(), "("+left+")", collapse(left), inFunction)
		f.addAt(operatorDrop, n, n.Pos(), n.End(), "("+right+")", collapse(right), inFunction)
	}
}

func (f *fileMutator) isString(e ast.Expr) bool {
	t, ok := f.info.Types[e]
	if !ok || t.Type == nil {
		return false
	}
	basic, ok := t.Type.Underlying().(*types.Basic)
	return ok && basic.Info()&types.IsString != 0
}

// negateIf negates an if condition that no comparison operator already covers.
func (f *fileMutator) negateIf(n *ast.IfStmt, inFunction bool) {
	switch c := ast.Unparen(n.Cond).(type) {
	case *ast.BinaryExpr:
		if _, comparison := negationOf[c.Op]; comparison {
			return
		}
	case *ast.UnaryExpr:
		if c.Op == token.NOT {
			return
		}
	}
	condition := f.text(n.Cond.Pos(), n.Cond.End())
	f.addAt(operatorNegateIf, n.Cond, n.Cond.Pos(), n.Cond.End(), "!("+condition+")",
		"!("+collapse(condition)+")", inFunction)
}

func (f *fileMutator) incDec(n *ast.IncDecStmt, inFunction bool) {
	to := token.DEC
	if n.Tok == token.DEC {
		to = token.INC
	}
	f.addAt(operatorIncrement, n, n.TokPos, n.TokPos+2, to.String(), to.String(), inFunction)
}

func (f *fileMutator) opAssign(n *ast.AssignStmt, inFunction bool) {
	if len(n.Lhs) != 1 || f.isString(n.Lhs[0]) {
		return
	}
	var to token.Token
	switch n.Tok {
	case token.ADD_ASSIGN:
		to = token.SUB_ASSIGN
	case token.SUB_ASSIGN:
		to = token.ADD_ASSIGN
	default:
		return
	}
	f.addAt(operatorIncrement, n, n.TokPos, n.TokPos+2, to.String(), to.String(), inFunction)
}

func (f *fileMutator) boolLiteral(n *ast.Ident, inFunction bool) {
	object, ok := f.info.Uses[n].(*types.Const)
	if !ok || object.Parent() != types.Universe || (n.Name != "true" && n.Name != "false") {
		return
	}
	to := "true"
	if n.Name == "true" {
		to = "false"
	}
	f.addAt(operatorBool, n, n.Pos(), n.End(), to, to, inFunction)
}

// namedConstant replaces a use of a constant of a named type (a status, a kind) by the
// next constant of the same type declared in the same package, with a different value.
func (f *fileMutator) namedConstant(node ast.Node, name *ast.Ident, qualifier string, inFunction bool) {
	object, ok := f.info.Uses[name].(*types.Const)
	if !ok || object.Pkg() == nil {
		return
	}
	if _, named := object.Type().(*types.Named); !named {
		return
	}
	next := nextConstant(object)
	if next == nil {
		return
	}
	to := qualifier + next.Name()
	f.addAt(operatorConstant, node, node.Pos(), node.End(), to, to, inFunction)
}

// nextConstant is the constant of object's type declared after object in its package
// (wrapping around) whose value differs, or nil.
func nextConstant(object *types.Const) *types.Const {
	scope := object.Pkg().Scope()
	var same []*types.Const
	for _, name := range scope.Names() {
		c, ok := scope.Lookup(name).(*types.Const)
		if ok && types.Identical(c.Type(), object.Type()) {
			same = append(same, c)
		}
	}
	sort.Slice(same, func(i, j int) bool { return constantLess(same[i], same[j]) })
	for i, c := range same {
		if c != object {
			continue
		}
		for step := 1; step < len(same); step++ {
			candidate := same[(i+step)%len(same)]
			if !constant.Compare(candidate.Val(), token.EQL, object.Val()) {
				return candidate
			}
		}
	}
	return nil
}

// constantLess orders constants by value, then by name, which is stable whatever file
// declares them.
func constantLess(a, b *types.Const) bool {
	if a.Val().Kind() == b.Val().Kind() && a.Val().Kind() != constant.Unknown &&
		!constant.Compare(a.Val(), token.EQL, b.Val()) {
		return constant.Compare(a.Val(), token.LSS, b.Val())
	}
	return a.Name() < b.Name()
}

// removals offers to delete statements of a block that change state or leave early:
// assignments (not declarations), calls (not panics: an assertion that never fires on
// correct code cannot be noticed by a passing test), ++/--, returns that are not the last
// statement of a function, and break/continue where they are not already the last thing
// their statement does.
func (f *fileMutator) removals(list []ast.Stmt, owner blockKind, inFunction bool) {
	if !inFunction {
		return
	}
	for i, statement := range list {
		last := i == len(list)-1
		switch s := statement.(type) {
		case *ast.AssignStmt:
			if s.Tok != token.DEFINE && !allBlank(s.Lhs) {
				f.remove(s, inFunction)
			}
		case *ast.ExprStmt:
			if call, ok := s.X.(*ast.CallExpr); ok && !isPanic(call) {
				f.remove(s, inFunction)
			}
		case *ast.IncDecStmt:
			f.remove(s, inFunction)
		case *ast.ReturnStmt:
			if !last || owner != functionBody {
				f.remove(s, inFunction)
			}
		case *ast.BranchStmt:
			pointless := last && ((s.Tok == token.BREAK && owner == caseBody) ||
				(s.Tok == token.CONTINUE && owner == loopBody))
			if (s.Tok == token.BREAK || s.Tok == token.CONTINUE) && s.Label == nil && !pointless {
				f.remove(s, inFunction)
			}
		}
	}
}

func (f *fileMutator) remove(s ast.Stmt, inFunction bool) {
	f.addAt(operatorRemove, s, s.Pos(), s.End(), "", "", inFunction)
}

func allBlank(expressions []ast.Expr) bool {
	for _, e := range expressions {
		if id, ok := e.(*ast.Ident); !ok || id.Name != "_" {
			return false
		}
	}
	return true
}

func isPanic(call *ast.CallExpr) bool {
	id, ok := call.Fun.(*ast.Ident)
	return ok && id.Name == "panic"
}

// add records a mutant that deletes [from, to) of node's text.
func (f *fileMutator) add(operator string, node ast.Node, from, to token.Pos, text string, inFunction bool) {
	f.addAt(operator, node, from, to, text, text, inFunction)
}

// addAt records a mutant replacing [from, to) by text; node's source is what the key
// quotes and shown is the replacement as the key shows it.
func (f *fileMutator) addAt(operator string, node ast.Node, from, to token.Pos, text, shown string,
	inFunction bool) {
	if !f.enabled[operator] {
		return
	}
	position := f.fset.Position(from)
	f.mutants = append(f.mutants, &Mutant{
		Package: f.pkg, File: f.relative, Path: f.path, Line: position.Line,
		Column: position.Column, Function: f.function, Operator: operator,
		Original: shorten(collapse(f.text(node.Pos(), node.End()))), Replacement: shorten(shown),
		InFunction: inFunction, start: f.offset(from), end: f.offset(to), text: text,
	})
}

func (f *fileMutator) offset(p token.Pos) int { return f.fset.Position(p).Offset }

func (f *fileMutator) text(from, to token.Pos) string {
	return string(f.source[f.offset(from):f.offset(to)])
}

// collapse turns every run of white space into one space.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func shorten(s string) string {
	runes := []rune(s)
	if len(runes) <= snippetRunesMax {
		return s
	}
	return string(runes[:snippetRunesMax-1]) + "…"
}

// parseKey splits a key into its file and the rest; used to check equivalent.txt lines.
func parseKey(key string) (file string, ok bool) {
	space := strings.IndexByte(key, ' ')
	hash := strings.LastIndexByte(key, '#')
	if space <= 0 || hash < 0 {
		return "", false
	}
	if _, err := strconv.Atoi(key[hash+1:]); err != nil {
		return "", false
	}
	return key[:space], true
}
