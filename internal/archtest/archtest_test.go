package archtest

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

func listModule(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// TestDependencyTable checks every package of the module against the table.
func TestDependencyTable(t *testing.T) {
	for _, p := range listModule(t) {
		for _, v := range checkImports(p.ImportPath, p.Imports) {
			t.Error(v)
		}
	}
}

// TestPurePackages checks that the session state machine holds no goroutines
// and reads no clock.
func TestPurePackages(t *testing.T) {
	checked := 0
	for _, p := range listModule(t) {
		if !isPure(p.ImportPath) {
			continue
		}
		for _, f := range p.GoFiles {
			bad, err := checkPureSource(filepath.Join(p.Dir, f), nil)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, v := range bad {
				t.Error(v)
			}
		}
	}
	t.Logf("%d files of pure packages checked", checked)
}

// The tests below show that the checks fail when the table is broken.

func TestCheckImportsRejectsForbidden(t *testing.T) {
	cases := []struct {
		pkg, imp string
	}{
		{"packet", "github.com/tern-mq/tern/topic"},
		{"packet", "golang.org/x/net/context"},
		{"topic", "github.com/tern-mq/tern/packet"},
		{"internal/scram", "github.com/tern-mq/tern/broker"},
		{"session", "net"},
		{"session", "net/http"},
		{"session", "github.com/tern-mq/tern/store"},
		{"store/memory", "github.com/tern-mq/tern/broker"},
		{"broker", "github.com/tern-mq/tern/client"},
		{"broker/internal/x", "github.com/tern-mq/tern/cluster"},
		{"client", "github.com/tern-mq/tern/broker"},
		{"broker", "github.com/nats-io/nats-server/v2/server"},
		{"cmd/tern", "github.com/eclipse/paho.mqtt.golang"},
		{"broker", "github.com/mochi-mqtt/server/v2"},
	}
	for _, c := range cases {
		if v := checkImports(module+"/"+c.pkg, []string{c.imp}); len(v) == 0 {
			t.Errorf("%s importing %s: no violation reported", c.pkg, c.imp)
		}
	}
}

func TestCheckImportsAllowsTable(t *testing.T) {
	cases := []struct {
		pkg, imp string
	}{
		{"packet", "bufio"},
		{"topic", "unicode/utf8"},
		{"session", "github.com/tern-mq/tern/packet"},
		{"session", "time"},
		{"store", "github.com/tern-mq/tern/session"},
		{"store/bolt", "go.etcd.io/bbolt"},
		{"broker", "github.com/tern-mq/tern/store"},
		{"cluster", "github.com/nats-io/nats-server/v2/server"},
		{"cmd/tern", "github.com/tern-mq/tern/broker"},
		{"broker", "github.com/tern-mq/tern/internal/scram"},
		{"client", "github.com/tern-mq/tern/internal/scram"},
		{"internal/scram", "crypto/pbkdf2"},
	}
	for _, c := range cases {
		if v := checkImports(module+"/"+c.pkg, []string{c.imp}); len(v) != 0 {
			t.Errorf("%s importing %s: unexpected violation %v", c.pkg, c.imp, v)
		}
	}
}

func TestCheckPureSourceRejects(t *testing.T) {
	cases := map[string]string{
		"go statement":   "package s\nfunc f() { go f() }\n",
		"time.Now":       "package s\nimport \"time\"\nvar t = time.Now()\n",
		"renamed time":   "package s\nimport tm \"time\"\nfunc f() { tm.Sleep(1) }\n",
		"time.AfterFunc": "package s\nimport \"time\"\nfunc f() { time.AfterFunc(1, f) }\n",
	}
	for name, src := range cases {
		bad, err := checkPureSource(name+".go", src)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) == 0 {
			t.Errorf("%s: no violation reported", name)
		}
	}
	ok := "package s\nimport \"time\"\nfunc f(now time.Time) time.Time { return now.Add(time.Second) }\n"
	if bad, err := checkPureSource("ok.go", ok); err != nil || len(bad) != 0 {
		t.Errorf("pure source reported: %v %v", bad, err)
	}
}
