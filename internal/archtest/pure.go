package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
)

// checkPureSource returns the violations of the purity rule in one Go source
// file: go statements, and calls of time.Now, time.Since, time.Until,
// time.Sleep, time.After, time.AfterFunc, time.NewTimer and time.NewTicker
// (time must be passed in).
func checkPureSource(filename string, src any) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, 0)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filename, err)
	}
	timeName := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"time"` {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	forbidden := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true,
		"After": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true}
	var bad []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			bad = append(bad, fmt.Sprintf("%s: go statement", fset.Position(n.Pos())))
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && forbidden[n.Sel.Name] {
				bad = append(bad, fmt.Sprintf("%s: time.%s (time must be passed in)", fset.Position(n.Pos()), n.Sel.Name))
			}
		}
		return true
	})
	return bad, nil
}
