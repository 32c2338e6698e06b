package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/packet"
)

// tern scram writes entries whose keys derive from the password with the
// entry's salt and iteration count, keeps other lines, updates with a new
// salt, and deletes.
func TestSCRAMCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scram")
	for _, args := range [][]string{
		{"scram", "-c", "-b", file, "ann", "s3cret"},
		{"scram", "-b", "-i", "10000", file, "bob", "pw-bob"},
	} {
		if out, err := runTernIn(t, "", args...); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if out, err := runTernIn(t, "pw-carl\npw-carl\n", "scram", file, "carl"); err != nil {
		t.Fatalf("password from stdin: %v %s", err, out)
	}
	check := func(user, password string, iterations int) broker.SCRAMCredentials {
		t.Helper()
		f, err := loadSCRAMFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := f.lookup(user)
		if !ok {
			t.Fatalf("%s not in the file", user)
		}
		want, err := broker.NewSCRAMCredentials(password, c.Salt, iterations)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, want) || len(c.Salt) != 16 {
			t.Fatalf("%s: %+v, want %+v with a 16-byte salt", user, c, want)
		}
		return c
	}
	first := check("ann", "s3cret", defaultSCRAMIterations)
	check("bob", "pw-bob", 10000)
	check("carl", "pw-carl", defaultSCRAMIterations)
	b, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(b), "ann:SCRAM-SHA-256$4096:") {
		t.Fatalf("file starts %q", b)
	}
	if _, err := runTernIn(t, "", "scram", "-b", file, "ann", "new"); err != nil {
		t.Fatal(err)
	}
	if again := check("ann", "new", defaultSCRAMIterations); bytes.Equal(again.Salt, first.Salt) {
		t.Error("the update kept the salt")
	}
	if _, err := runTernIn(t, "", "scram", "-D", file, "bob"); err != nil {
		t.Fatal(err)
	}
	if f, _ := loadSCRAMFile(file); f == nil {
		t.Fatal("file unreadable after -D")
	} else if _, ok := f.lookup("bob"); ok {
		t.Fatal("bob still there after -D")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scram", "-b", "-i", "100", file, "dan", "x"}, "-i 100"},
		{[]string{"scram", "-c", "-D", file, "ann"}, "-c and -D"},
		{[]string{"scram", "-b", file, "ann"}, "-b needs"},
		{[]string{"scram", "-b", file, "a:b", "x"}, "contains ':'"},
		{[]string{"scram", "-b", filepath.Join(t.TempDir(), "none"), "ann", "x"}, "does not exist"},
		{[]string{"scram", "-D", file, "nobody"}, "not found"},
	} {
		if _, err := runTernIn(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// A malformed line stops the load with the file, the line and what is
// wrong.
func TestSCRAMFileErrors(t *testing.T) {
	good := "ann:" + formatSCRAMEntry(broker.SCRAMCredentials{Iterations: 4096, Salt: []byte("salt"),
		StoredKey: bytes.Repeat([]byte{1}, 32), ServerKey: bytes.Repeat([]byte{2}, 32)})
	key := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=" // 32 bytes
	for _, tc := range []struct{ line, want string }{
		{"ann", ":2: want USER:"},
		{"ann:plain", "does not start with SCRAM-SHA-256$"},
		{"ann:SCRAM-SHA-256$4096:c2FsdA==", "want SCRAM-SHA-256$ITERATIONS"},
		{"ann:SCRAM-SHA-256$0:c2FsdA==$" + key + ":" + key, "iteration count"},
		{"ann:SCRAM-SHA-256$4096:!!$" + key + ":" + key, "salt"},
		{"ann:SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:" + key, "StoredKey: 4 bytes, want 32"},
		{" ann:" + good[4:], "blank"},
	} {
		file := filepath.Join(t.TempDir(), "scram")
		os.WriteFile(file, []byte("# users\n"+tc.line+"\n"), 0o600)
		if _, err := loadSCRAMFile(file); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file+":2") {
			t.Errorf("%q: %v, want %s:2 and %q", tc.line, err, file, tc.want)
		}
	}
	file := filepath.Join(t.TempDir(), "scram")
	os.WriteFile(file, []byte("# users\n\n"+good+"\r\n"), 0o600)
	if f, err := loadSCRAMFile(file); err != nil {
		t.Fatal(err)
	} else if _, ok := f.lookup("ann"); !ok {
		t.Fatal("ann not loaded")
	}
}

// tern serve --scram-file: MQTT 5 clients authenticate with SCRAM-SHA-256
// (tern pub --auth-method), anonymous access is refused by default, and
// SIGHUP reloads the file (a broken file keeps the previous users).
func TestServeSCRAMFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scram")
	if _, err := runTernIn(t, "", "scram", "-c", "-b", file, "ann", "s3cret"); err != nil {
		t.Fatal(err)
	}
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"}, scramFile: file})
	waitLog(t, logs, "SCRAM-SHA-256 file "+file)
	addr := addrs[0].String()
	_, port, _ := net.SplitHostPort(addr)
	pub := func(user, pw string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"pub", "-h", "127.0.0.1", "-p", port, "-V", "5",
			"--auth-method", "SCRAM-SHA-256", "-u", user, "-P", pw, "-t", "t", "-m", "x"}, &stdout, &stderr)
		return code, stderr.String()
	}
	if code, msg := pub("ann", "s3cret"); code != exitOK {
		t.Fatalf("ann: exit %d %s", code, msg)
	}
	if code, msg := pub("ann", "guess"); code != exitRefused || !strings.Contains(msg, "0x87") {
		t.Fatalf("wrong password: exit %d %s, want refused 0x87", code, msg)
	}
	if c := mqttConnect(t, addr, packet.V5, "", ""); c != packet.NotAuthorized {
		t.Fatalf("anonymous: CONNACK %#x, want 0x87", byte(c))
	}
	if _, err := runTernIn(t, "", "scram", "-b", file, "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	if code, _ := pub("bob", "pw-bob"); code != exitRefused {
		t.Fatalf("bob before the reload: exit %d", code)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reloaded on SIGHUP")
	if code, msg := pub("bob", "pw-bob"); code != exitOK {
		t.Fatalf("bob after the reload: exit %d %s", code, msg)
	}
	os.WriteFile(file, []byte("bob:broken\n"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reload on SIGHUP failed")
	if code, msg := pub("ann", "s3cret"); code != exitOK {
		t.Fatalf("ann after a broken reload: exit %d %s", code, msg)
	}
}
