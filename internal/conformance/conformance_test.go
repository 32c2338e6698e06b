package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadSpecs(t *testing.T) []Spec {
	t.Helper()
	v3, err := LoadSpec("../../docs/spec/mqtt-3.1.1.tsv", "MQTT 3.1.1", "MQTT-")
	if err != nil {
		t.Fatal(err)
	}
	v5, err := LoadSpec("../../docs/spec/mqtt-5.0.tsv", "MQTT 5.0", "MQTT5-")
	if err != nil {
		t.Fatal(err)
	}
	if len(v3.Statements) != 141 || len(v5.Statements) != 251 {
		t.Fatalf("statement counts %d and %d, want 141 and 251", len(v3.Statements), len(v5.Statements))
	}
	return []Spec{v3, v5}
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
	sites, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites[m+"-3.1.2-3"]) != 1 || !sites[m+"-3.1.2-3"][0].Test || sites[m+"5-3.1.2-3"][0].Line != 3 {
		t.Fatalf("sites: %+v", sites)
	}
	unknown := Unknown(sites, loadSpecs(t)...)
	if len(unknown) != 1 || !strings.HasPrefix(unknown[0], m+"-9.9.9-9") {
		t.Fatalf("unknown: %v", unknown)
	}
}
