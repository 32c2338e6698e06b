package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Feature is one MQTT 5 feature (issue #4's list) with the tests that show
// it works. A test is "dir.TestName" (dir: the package directory from the
// module root) or the path of a script.
type Feature struct {
	Name  string
	Tests []string
}

var testFuncRE = regexp.MustCompile(`^func (Test\w+)\(`)

// TestFuncs returns the test functions of the Go test files under root
// (this package's own included), keyed "dir.TestName".
func TestFuncs(root string) (map[string]Site, error) {
	out := map[string]Site{}
	err := walkGo(root, "_test.go", false, func(rel string, lines []string) {
		dir := filepath.ToSlash(filepath.Dir(rel))
		for i, line := range lines {
			if m := testFuncRE.FindStringSubmatch(line); m != nil {
				out[dir+"."+m[1]] = Site{File: rel, Line: i + 1, Test: true}
			}
		}
	})
	return out, err
}

// locate finds a feature's test: a test function, or a script file.
func locate(root string, funcs map[string]Site, test string) (Site, bool) {
	if s, ok := funcs[test]; ok {
		return s, true
	}
	if strings.Contains(test, "/") && !strings.Contains(filepath.Base(test), ".Test") {
		if _, err := os.Stat(filepath.Join(root, test)); err == nil {
			return Site{File: test, Test: true}, true
		}
	}
	return Site{}, false
}

// CheckFeatures returns the tests named by features that do not exist, and
// the features without a test.
func CheckFeatures(root string, features []Feature, funcs map[string]Site) []string {
	var bad []string
	for _, f := range features {
		if len(f.Tests) == 0 {
			bad = append(bad, f.Name+": no test")
		}
		for _, t := range f.Tests {
			if _, ok := locate(root, funcs, t); !ok {
				bad = append(bad, fmt.Sprintf("%s: test %s not found", f.Name, t))
			}
		}
	}
	sort.Strings(bad)
	return bad
}
