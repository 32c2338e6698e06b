package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/internal/brokertest"
	"github.com/tern-mq/tern/packet"
)

// TestMain lets TestProcessExitCodes start the test binary as tern: with
// TERN_TEST_MAIN=1 it runs main on its arguments.
func TestMain(m *testing.M) {
	if os.Getenv("TERN_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// ternProcess runs tern with args in a process of its own and returns its
// exit code and stderr.
func ternProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TERN_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("tern %q: %v", args, err)
	return -1, ""
}

// The process ends with the documented exit code, through main, after the
// command's deferred clean-up: sub timed out (-W) still disconnects
// normally, so the broker discards its will.
func TestProcessExitCodes(t *testing.T) {
	srv, addr := brokertest.Start(t, broker.Config{})
	_, port, _ := net.SplitHostPort(addr)
	ctx := context.Background()
	got := make(chan string, 4)
	watcher, err := client.Dial(ctx, client.Options{Servers: []string{addr}, Version: packet.V5})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Disconnect(ctx, packet.Success)
	if _, err := watcher.Subscribe(ctx, client.Subscription{Filter: "exit/will", QoS: 1, Handler: func(m *client.Message) {
		got <- string(m.Payload)
	}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"pub", "-q", "3", "-t", "a", "-m", "x"}, exitUsage},
		{[]string{"pub", "--no-such-flag"}, exitUsage},
		{[]string{"pub", "-h", "127.0.0.1", "-p", port, "-V", "31", "-i", "an-identifier-much-too-long-for-3.1", "-t", "a", "-m", "x"}, exitRefused},
		{[]string{"sub", "-h", "127.0.0.1", "-p", port, "-t", "exit/none", "-C", "1", "-W", "1",
			"--will-topic", "exit/will", "--will-payload", "will", "--will-qos", "1"}, exitTimeout},
	} {
		if code, stderr := ternProcess(t, tc.args...); code != tc.code {
			t.Errorf("tern %q: exit code %d, want %d; stderr %q", tc.args, code, tc.code, stderr)
		}
	}
	// The sub has gone from the broker, which routed its will, if any,
	// before counting it gone: a message published now comes after it.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Connections != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections remain", srv.Stats().Connections)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := watcher.Publish(ctx, client.Message{Topic: "exit/will", Payload: []byte("after"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "after" {
			t.Fatalf("got %q first: the timed-out sub did not disconnect normally", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}

// denyOthers allows each user the topics under its name only.
type denyOthers struct{}

func (denyOthers) Allow(_ context.Context, c auth.ClientInfo, _ auth.Action, topic string) bool {
	return c.Username != "" && strings.HasPrefix(topic, c.Username+"/")
}

// pub and sub with --auth-method SCRAM-SHA-256: the user is authenticated
// by the exchange (the authorizer sees the name); a wrong password exits
// 3, a refused publication or subscription 4, each named in words.
func TestSCRAMFlag(t *testing.T) {
	cred, err := broker.NewSCRAMCredentials("s3cret", []byte("salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := brokertest.Start(t, broker.Config{Authorizer: denyOthers{}, EnhancedAuth: []broker.EnhancedAuth{
		broker.NewSCRAMSHA256(func(u string) (broker.SCRAMCredentials, bool) { return cred, u == "ann" }),
	}})
	_, port, _ := net.SplitHostPort(addr)
	conn := func(pw string) []string {
		return []string{"-h", "127.0.0.1", "-p", port, "-V", "5", "--auth-method", "SCRAM-SHA-256", "-u", "ann", "-P", pw, "-q", "1"}
	}
	out, done := runAsync(append([]string{"sub", "-t", "ann/#", "-C", "1", "-W", "10"}, conn("s3cret")...)...)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{append([]string{"pub", "-t", "ann/x", "-m", "hello", "-r"}, conn("s3cret")...), exitOK, ""},
		{append([]string{"pub", "-t", "ann/x", "-m", "x"}, conn("guess")...), exitRefused, "not authorized (0x87)"},
		{append([]string{"pub", "-t", "bob/x", "-m", "x"}, conn("s3cret")...), exitReason, "not authorized (0x87)"},
		{append([]string{"sub", "-t", "bob/#", "-E"}, conn("s3cret")...), exitReason, "not authorized (0x87)"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("tern %q: exit code %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sub: %v", err)
	}
	if s := out.String(); s != "hello\n" {
		t.Fatalf("sub printed %q", s)
	}
}
