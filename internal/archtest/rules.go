package archtest

import (
	"fmt"
	"strings"
)

const module = "github.com/tern-mq/tern"

// rule says what one package (and its sub-packages, when tree is set) may import.
type rule struct {
	pkg  string // relative to the module
	tree bool   // also applies to pkg/...
	// allow reports whether an import is allowed; nil allows everything
	// that the global rules allow.
	allow func(imp string) bool
	// pure marks packages that must hold no goroutines, network or wall clock.
	pure bool
}

func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func internal(imp string, pkgs ...string) bool {
	for _, p := range pkgs {
		if imp == module+"/"+p || strings.HasPrefix(imp, module+"/"+p+"/") {
			return true
		}
	}
	return false
}

var storageEngines = []string{"go.etcd.io/bbolt", "github.com/cockroachdb/pebble"}

func hasPrefixAny(imp string, prefixes []string) bool {
	for _, p := range prefixes {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

var rules = []rule{
	{pkg: "packet", allow: isStd},
	{pkg: "topic", allow: isStd},
	// SCRAM is shared by broker and client, so it depends on neither.
	{pkg: "internal/scram", allow: isStd},
	{pkg: "session", pure: true, allow: func(imp string) bool {
		return (isStd(imp) && imp != "net" && !strings.HasPrefix(imp, "net/") && imp != "os/exec") ||
			internal(imp, "packet")
	}},
	{pkg: "store", tree: true, allow: func(imp string) bool {
		return isStd(imp) || internal(imp, "packet", "topic", "session", "store") || hasPrefixAny(imp, storageEngines)
	}},
	{pkg: "auth", tree: true, allow: func(imp string) bool {
		return isStd(imp) || internal(imp, "packet", "topic", "auth") || hasPrefixAny(imp, []string{"golang.org/x/crypto"})
	}},
	{pkg: "broker", tree: true, allow: func(imp string) bool { return !internal(imp, "client", "cluster") }},
	{pkg: "client", tree: true, allow: func(imp string) bool { return !internal(imp, "broker", "cluster") }},
}

// testOnly are modules that only tests and benchmarks may import: peer
// implementations used for interoperability checks.
var testOnly = []string{
	"github.com/eclipse/paho.mqtt.golang",
	"github.com/eclipse/paho.golang",
	"github.com/mochi-mqtt/server",
}

const nats = "github.com/nats-io"

// checkImports returns the violations of the table for package pkg (full
// import path) with the given direct imports (non-test code).
func checkImports(pkg string, imports []string) []string {
	var bad []string
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for _, imp := range imports {
		if hasPrefixAny(imp, testOnly) {
			bad = append(bad, fmt.Sprintf("%s imports %s: peer implementations are for tests only", rel, imp))
		}
		if hasPrefixAny(imp, []string{nats}) && rel != "cluster" && !strings.HasPrefix(rel, "cluster/") {
			bad = append(bad, fmt.Sprintf("%s imports %s: only cluster may import NATS", rel, imp))
		}
		for _, r := range rules {
			if rel != r.pkg && !(r.tree && strings.HasPrefix(rel, r.pkg+"/")) {
				continue
			}
			if r.allow != nil && !r.allow(imp) {
				bad = append(bad, fmt.Sprintf("%s imports %s: not allowed by the dependency table", rel, imp))
			}
		}
	}
	return bad
}

// isPure reports whether package pkg must be free of goroutines, network and wall clock.
func isPure(pkg string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for _, r := range rules {
		if r.pure && rel == r.pkg {
			return true
		}
	}
	return false
}
