// Command gen writes docs/conformance.md from the specification lists, the
// tags in the code and the notes and features of package conformance. Run it from the
// module root: go run ./internal/conformance/gen
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
	in, err := conformance.Load(".")
	if err != nil {
		return err
	}
	if bad := conformance.Unknown(in.Sites, in.Specs...); len(bad) > 0 {
		return fmt.Errorf("tags not in the specification lists: %v", bad)
	}
	if bad := conformance.CheckFeatures(in.Root, in.Features, in.Funcs); len(bad) > 0 {
		return fmt.Errorf("features: %v", bad)
	}
	f, err := os.Create("docs/conformance.md")
	if err != nil {
		return err
	}
	if err := conformance.WriteReport(f, in); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
