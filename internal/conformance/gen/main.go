// Command gen writes docs/conformance.md from the specification lists and the
// tags in the code. Run it from the module root: go run ./internal/conformance/gen
package main

import (
	"fmt"
	"os"

	"github.com/tern-mq/tern/internal/conformance"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func run() error {
	v3, err := conformance.LoadSpec("docs/spec/mqtt-3.1.1.tsv", "MQTT 3.1.1", "MQTT-")
	if err != nil {
		return err
	}
	v5, err := conformance.LoadSpec("docs/spec/mqtt-5.0.tsv", "MQTT 5.0", "MQTT5-")
	if err != nil {
		return err
	}
	sites, err := conformance.Scan(".")
	if err != nil {
		return err
	}
	if bad := conformance.Unknown(sites, v3, v5); len(bad) > 0 {
		return fmt.Errorf("tags not in the specification lists: %v", bad)
	}
	f, err := os.Create("docs/conformance.md")
	if err != nil {
		return err
	}
	if err := conformance.WriteReport(f, sites, v3, v5); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
