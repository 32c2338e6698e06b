// Command tern is the Tern MQTT broker, client and load generator in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// main is the only place that ends the process: commands return errors,
// whose ExitCode, if they have one, is the exit code, so that every
// deferred clean-up has run by then.
func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code:
// 0 on success, the ExitCode of the error if it has one, else 1. The error
// is printed to stderr as "tern: <error>".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "tern:", err)
	return processExitCode(err)
}

// processExitCode is the exit code carried by err (an error with an
// ExitCode method, possibly wrapped), or 1.
func processExitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitError
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tern",
		Short:         "Tern: an MQTT 3.1, 3.1.1 and 5.0 broker, client and load generator",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A flag that does not parse is invalid usage (exit code 2), in every
	// command.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitErr{code: exitUsage, err: err}
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "tern", version)
		},
	})
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands is filled by the init functions of the files that define them.
var subcommands []func() *cobra.Command
