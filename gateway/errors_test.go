package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sentinelPackages are the packages whose errors reach Kafka handlers, by
// directory relative to this one and the name errors.go refers to them by.
var sentinelPackages = map[string]string{
	"../tiered":            "tiered",
	"../tiered/index":      "index",
	"../tiered/batch":      "batch",
	"../tiered/segment":    "segment",
	"../tiered/objstore":   "objstore",
	"../coordinator":       "coordinator",
	"../coordinator/group": "group",
	"../coordinator/txn":   "txn",
}

// TestEveryErrorMapped parses the packages above for exported Err* variables and
// checks that errors.go's table names each one, so a new sentinel cannot reach a
// client as UNKNOWN_SERVER_ERROR by accident.
func TestEveryErrorMapped(t *testing.T) {
	mapped := tableEntries(t)
	for dir, name := range sentinelPackages {
		for _, s := range sentinels(t, dir) {
			if !mapped[name+"."+s] {
				t.Errorf("%s.%s is not in errorCodes", name, s)
			}
		}
	}
}

// tableEntries returns the selector expressions (pkg.Name) in errorCodes.
func tableEntries(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := make(map[string]bool)
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "errorCodes" {
			return true
		}
		ast.Inspect(vs, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					found[id.Name+"."+sel.Sel.Name] = true
				}
			}
			return true
		})
		return false
	})
	if len(found) == 0 {
		t.Fatal("errorCodes not found in errors.go")
	}
	return found
}

// sentinels returns the exported package-level Err* variables declared in dir.
func sentinels(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(id.Name, "Err") && id.IsExported() {
						names = append(names, id.Name)
					}
				}
			}
		}
	}
	return names
}
