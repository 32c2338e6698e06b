package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tern-mq/tern/auth"
)

func runTernIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func checkLogin(t *testing.T, file, user, password string, want bool) {
	t.Helper()
	p, err := auth.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Authenticate(context.Background(), auth.ConnInfo{
		ClientID: "c", Username: user, HasUsername: true, Password: []byte(password), HasPassword: true,
	})
	if err != nil || r.OK() != want {
		t.Fatalf("login %q/%q: %+v %v, want accepted=%v", user, password, r, err, want)
	}
}

func TestPasswdCreateAddUpdateDelete(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := runTern(t, "passwd", "-c", "-b", file, "alice", "s3cret"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkLogin(t, file, "alice", "s3cret", true)
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(b), "alice:$argon2id$v=19$") {
		t.Fatalf("default entry is not argon2id:\n%s", b)
	}

	// A comment and a foreign line survive edits.
	if err := os.WriteFile(file, append([]byte("# managed by hand\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	// Password from standard input (not a terminal): two lines.
	if out, err := runTernIn(t, "hunter2\nhunter2\n", "passwd", "-H", "sha512-pbkdf2", file, "bob"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkLogin(t, file, "bob", "hunter2", true)
	checkLogin(t, file, "alice", "s3cret", true)
	// Update in place.
	if out, err := runTern(t, "passwd", "-b", file, "alice", "n3w"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkLogin(t, file, "alice", "s3cret", false)
	checkLogin(t, file, "alice", "n3w", true)
	b, _ = os.ReadFile(file)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "# managed by hand" || !strings.HasPrefix(lines[1], "alice:$argon2id$") || !strings.HasPrefix(lines[2], "bob:$7$101$") {
		t.Fatalf("file after edits:\n%s", b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the existing 0640", st.Mode().Perm())
	}
	// Delete.
	if out, err := runTern(t, "passwd", "-D", file, "alice"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkLogin(t, file, "alice", "n3w", false)
	checkLogin(t, file, "bob", "hunter2", true)
	// -c replaces the whole file.
	if out, err := runTern(t, "passwd", "-c", "-b", file, "carol", "x"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkLogin(t, file, "bob", "hunter2", false)
	checkLogin(t, file, "carol", "x", true)
}

func TestPasswdErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	if _, err := runTern(t, "passwd", "-c", "-b", file, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"passwd", "-b", filepath.Join(dir, "missing"), "u", "p"}, "does not exist (use -c to create it)"},
		{"", []string{"passwd", "-c", "-D", file, "alice"}, "-c and -D"},
		{"", []string{"passwd", "-b", file, "alice"}, "-b needs a PASSWORD"},
		{"", []string{"passwd", file, "alice", "pw"}, "needs -b"},
		{"", []string{"passwd", "-b", file, "a:b", "pw"}, "contains ':'"},
		{"", []string{"passwd", "-b", file, "bob", ""}, "empty password"},
		{"", []string{"passwd", "-b", "-H", "sha512", file, "bob", "pw"}, "-H \"sha512\": want argon2id or sha512-pbkdf2"},
		{"", []string{"passwd", "-D", file, "nobody"}, "user \"nobody\" not found"},
		{"one\ntwo\n", []string{"passwd", file, "bob"}, "passwords do not match"},
		{"one\n", []string{"passwd", file, "bob"}, "reading the password again"},
		{"", []string{"passwd", file, "bob"}, "reading the password"},
		{"", []string{"passwd", file}, "accepts between 2 and 3 arg(s)"},
	} {
		out, err := runTernIn(t, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tern %v: %v (output %q), want an error containing %q", tc.args, err, out, tc.want)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatalf("a failed command changed the file:\n%s", after)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
}

// Mosquitto itself accepts the $7$ entries tern writes: a real broker with
// the file as password_file lets the user in and refuses a wrong password.
func TestPasswdReadByMosquitto(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto is missing in CI (apt-get install mosquitto)")
		}
		t.Skip("mosquitto not installed")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	if out, err := runTern(t, "passwd", "-c", "-b", "-H", "sha512-pbkdf2", file, "tern-user", "pässword 1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	port := freePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\npassword_file %s\nallow_anonymous false\npersistence false\n", port, file)
	if os.Geteuid() == 0 {
		conf += "user root\n" // stay root: the temporary directory is root's
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	broker := exec.Command(bin, "-c", confFile)
	broker.Stdout, broker.Stderr = &log, &log
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		broker.Process.Kill()
		broker.Wait()
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect := func(user, password string) error {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("passwd-test").
			SetUsername(user).SetPassword(password).SetAutoReconnect(false).SetConnectRetry(false).
			SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return fmt.Errorf("connect timed out")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	if err := connect("tern-user", "pässword 1"); err != nil {
		t.Fatalf("mosquitto refused the tern-written entry: %v\n%s", err, log.String())
	}
	// Mosquitto 2.0 answers a wrong password with "not authorized" (0x05).
	if err := connect("tern-user", "pässword 2"); err == nil {
		t.Fatal("mosquitto accepted a wrong password")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
