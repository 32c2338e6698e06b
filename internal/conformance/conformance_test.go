package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadSpecs(t *testing.T) []Spec {
	t.Helper()
	specs, err := LoadSpecs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs[0].Statements) != 141 || len(specs[1].Statements) != 251 {
		t.Fatalf("statement counts %d and %d, want 141 and 251", len(specs[0].Statements), len(specs[1].Statements))
	}
	return specs
}

// TestCitedTagsExist fails when code cites a statement that the specification
// does not have (a typo, or a 3.1.1 number used for 5.0).
func TestCitedTagsExist(t *testing.T) {
	specs := loadSpecs(t)
	sites, err := Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range Unknown(sites, specs...) {
		t.Errorf("cited tag not in the specification lists: %s", bad)
	}
}

func TestScanFindsTagsAndUnknown(t *testing.T) {
	dir := t.TempDir()
	// Built from pieces so that this file itself cites nothing.
	m := "MQTT"
	src := "package x\n// [" + m + "-3.1.2-3, " + m + "-9.9.9-9]\nvar _ = 1 // [" + m + "5-3.1.2-3]\n"
	if err := os.WriteFile(filepath.Join(dir, "a_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// This package's own files name statements without citing them.
	self := filepath.Join(dir, filepath.FromSlash(selfDir))
	if err := os.MkdirAll(self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(self, "n.go"), []byte("package c\n// ["+m+"-3.1.2-4]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sites, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites[m+"-3.1.2-3"]) != 1 || !sites[m+"-3.1.2-3"][0].Test || sites[m+"5-3.1.2-3"][0].Line != 3 || len(sites[m+"-3.1.2-4"]) != 0 {
		t.Fatalf("sites: %+v", sites)
	}
	unknown := Unknown(sites, loadSpecs(t)...)
	if len(unknown) != 1 || !strings.HasPrefix(unknown[0], m+"-9.9.9-9") {
		t.Fatalf("unknown: %v", unknown)
	}
}

func TestCheckNotes(t *testing.T) {
	spec := Spec{Name: "s", Statements: []Statement{{Tag: "A-1"}, {Tag: "A-2"}, {Tag: "A-3"}, {Tag: "A-4"}, {Tag: "A-5"}}}
	sites := map[string][]Site{
		"A-1": {{File: "x_test.go", Test: true}},
		"A-2": {{File: "x.go"}}, // cited in code only: still needs a note
		"A-4": {{File: "y_test.go", Test: true}},
		"A-5": {{File: "y_test.go", Test: true}},
	}
	notes := map[string]Note{
		"A-3": {Kind: Duplicate, Same: "A-2", Text: "restates A-2"}, // A-2 has no test
		"A-4": {Kind: Permission, Text: "stale"},
		"A-5": {Kind: Gap, Text: "partly tested"}, // a gap may stay
		"B-1": {Kind: ClientOnly, Text: "unknown"},
	}
	got := strings.Join(Check(notes, sites, spec), "\n")
	for _, want := range []string{"A-2: neither", `A-3: duplicate of "A-2"`, "A-4: has a test", "B-1: note for a statement"} {
		if !strings.Contains(got, want) {
			t.Errorf("Check misses %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "A-1") || strings.Contains(got, "A-5") {
		t.Errorf("Check reports a covered statement:\n%s", got)
	}
}

// TestEveryStatementTestedOrExplained keeps docs/conformance.md free of
// unexplained gaps: every statement of both specifications has a test
// that carries its tag, or a note in Notes saying why it has none.
func TestEveryStatementTestedOrExplained(t *testing.T) {
	specs := loadSpecs(t)
	sites, err := Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range Check(Notes, sites, specs...) {
		t.Error(bad)
	}
}

// TestFeaturesTested fails when a feature of the table has no test or names
// a test that does not exist (renamed or removed).
func TestFeaturesTested(t *testing.T) {
	funcs, err := TestFuncs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := funcs["internal/conformance.TestFeaturesTested"]; !ok {
		t.Fatalf("TestFuncs does not find this test: %d functions", len(funcs))
	}
	for _, bad := range CheckFeatures("../..", Features, funcs) {
		t.Error(bad)
	}
	if bad := CheckFeatures("../..", []Feature{{Name: "f", Tests: []string{"broker.TestNoSuchTest"}}, {Name: "g"}}, funcs); len(bad) != 2 {
		t.Errorf("CheckFeatures of a missing test and of a feature without tests: %v", bad)
	}
}
