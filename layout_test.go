package callvault_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMELayoutListsEveryPackage holds the README's Layout table to the
// packages of the module: a package is named by its directory (`sqlite/`),
// a command of bench/cmd and a package of internal/ by its base name.
func TestREADMELayoutListsEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Layout\n")
	table, _, _ = strings.Cut(table, "\n## ")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9/_.]+)`").FindAllStringSubmatch(table, -1) {
		named[strings.TrimSuffix(m[1], "/")] = true
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "conformance") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." || named[dir] || named[filepath.Base(dir)] && (strings.HasPrefix(dir, "internal/") || strings.HasPrefix(dir, "bench/cmd/")) {
			return nil
		}
		t.Errorf("the README's Layout table does not name the package %s/ (%s)", dir, path)
		named[dir] = true // once
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
