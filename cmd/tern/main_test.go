package main

import (
	"bytes"
	"strings"
	"testing"
)

func runTern(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := runTern(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "tern ") {
		t.Fatalf("version output %q", out)
	}
}

func TestHelpListsCommands(t *testing.T) {
	out, err := runTern(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "version") {
		t.Fatalf("help does not list version:\n%s", out)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	if _, err := runTern(t, "no-such-command"); err == nil {
		t.Fatal("unknown command accepted")
	}
}
