package web_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoStoreImport keeps the edge web → control → store: the handlers pass
// control's own filter types and never reach the store themselves (tests may
// still use it for fixtures).
func TestNoStoreImport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			if path, _ := strconv.Unquote(im.Path.Value); path == "github.com/drawbridge/drawbridge/internal/store" {
				t.Errorf("%s imports %s; use control's types instead", name, path)
			}
		}
	}
}
