package main

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/memory"
)

func TestConfigListenerSettings(t *testing.T) {
	yml := `
listeners:
  mqtt: ["127.0.0.1:1000", "127.0.0.1:1001"]
  settings:
    - address: "127.0.0.1:1001"
      allow_anonymous: false
      password_file: /p
      durability: memory
`
	fs, err := parsedServe(t, yml)
	if err != nil {
		t.Fatal(err)
	}
	want := "[127.0.0.1:1001;allow_anonymous=false;password_file=/p;durability=memory]"
	if got := flagValue(fs, "listener-settings"); got != want {
		t.Fatalf("--listener-settings = %s, want %s", got, want)
	}
	o := &serveOptions{listenerSettingsRaw: []string{strings.Trim(want, "[]")}}
	set, err := o.listenerSettings([]string{"127.0.0.1:1000", "127.0.0.1:1001"})
	if err != nil {
		t.Fatal(err)
	}
	ls := set["127.0.0.1:1001"]
	if ls == nil || ls.allowAnonymous == nil || *ls.allowAnonymous || ls.passwordFile != "/p" || ls.durability != "memory" || len(set) != 1 {
		t.Fatalf("parsed %+v", set)
	}
}

func TestConfigListenerSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		yml  string
		want []string
	}{
		{"listeners:\n  settings: {address: a}\n", []string{"tern.yaml:2", "listeners.settings", "want a list"}},
		{"listeners:\n  settings:\n    - address: a\n      colour: red\n", []string{"tern.yaml:4", "listeners.settings[0].colour", "unknown key", "acl_file, allow_anonymous"}},
		{"listeners:\n  settings:\n    - address: a\n    - address: b\n      durability: interval\n", []string{"tern.yaml:5", "listeners.settings[1].durability", "sync, memory"}},
		{"listeners:\n  settings:\n    - address: a\n      allow_anonymous: maybe\n", []string{"tern.yaml:4", "allow_anonymous", "true, false"}},
		{"listeners:\n  settings:\n    - password_file: /p\n", []string{"tern.yaml:3", "listeners.settings[0]", "no address"}},
		{"listeners:\n  settings:\n    - address: a\n      acl_file: [x]\n", []string{"tern.yaml:4", "acl_file", "single value"}},
		{"listeners:\n  settings:\n    - address: a\n      address: b\n", []string{"tern.yaml:4", "defined twice"}},
		{"listeners:\n  settings:\n    - a\n", []string{"tern.yaml:3", "want a mapping"}},
	} {
		expectConfigError(t, tc.yml, tc.want...)
	}
	for _, tc := range []struct {
		raw  []string
		want string
	}{
		{[]string{"127.0.0.1:9;durability=memory"}, "not the address of a listener"},
		{[]string{"127.0.0.1:1;durability=memory", "127.0.0.1:1;acl_file=/a"}, "given twice"},
		{[]string{"127.0.0.1:1;durability"}, "not key=value"},
		{[]string{"durability=memory"}, "want ADDRESS"},
		{[]string{"127.0.0.1:1;colour=red"}, "unknown key"},
	} {
		o := &serveOptions{listenerSettingsRaw: tc.raw}
		if _, err := o.listenerSettings([]string{"127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.raw, err, tc.want)
		}
	}
	// sync on a listener needs a store that syncs.
	o := &serveOptions{}
	if _, _, _, err := o.listenerOptions(&listenerSetting{address: "a", durability: "sync"}, nil, testLog()); err == nil {
		t.Error("durability sync without a store accepted")
	}
	o.intervalStore = true
	st := memory.New()
	defer st.Close()
	if _, _, _, err := o.listenerOptions(&listenerSetting{address: "a", durability: "sync"}, st, testLog()); err == nil {
		t.Error("durability sync with an interval store accepted")
	}
}

// Two listeners: the global settings let anonymous clients in, the second
// listener asks for a password from its own file, reloaded on SIGHUP.
func TestServeListenerSettings(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, pw, "alice")
	free := freeAddr(t)
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0", free},
		listenerSettingsRaw: []string{free + ";allow_anonymous=false;password_file=" + pw}})
	open, secure := addrs[0].String(), addrs[1].String()
	waitLog(t, logs, "listener settings")
	if c := mqttConnect(t, open, packet.V311, "", ""); c != 0 {
		t.Fatalf("open listener, anonymous: CONNACK %#x", byte(c))
	}
	if c := mqttConnect(t, secure, packet.V5, "", ""); c != packet.NotAuthorized {
		t.Fatalf("secure listener, anonymous: CONNACK %#x, want 0x87", byte(c))
	}
	if c := mqttConnect(t, secure, packet.V311, "alice", "pw-alice"); c != 0 {
		t.Fatalf("secure listener, alice: CONNACK %#x", byte(c))
	}
	if c := mqttConnect(t, secure, packet.V311, "bob", "pw-bob"); c == 0 {
		t.Fatal("secure listener: bob accepted before he is in the file")
	}
	writePasswd(t, pw, "alice", "bob")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reloaded on SIGHUP")
	if c := mqttConnect(t, secure, packet.V311, "bob", "pw-bob"); c != 0 {
		t.Fatalf("secure listener, bob after reload: CONNACK %#x", byte(c))
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TERN_LISTENERS_SETTINGS: entries separated by commas; the command line
// wins over it.
func TestListenerSettingsEnvironment(t *testing.T) {
	env := "127.0.0.1:1;durability=memory, 127.0.0.1:2;allow_anonymous=false"
	lookup := func(k string) (string, bool) { return env, k == "TERN_LISTENERS_SETTINGS" }
	fs := newServeCmd().Flags()
	if err := loadEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if got, want := flagValue(fs, "listener-settings"), "[127.0.0.1:1;durability=memory,127.0.0.1:2;allow_anonymous=false]"; got != want {
		t.Fatalf("--listener-settings %s, want %s", got, want)
	}
	fs = newServeCmd().Flags()
	if err := fs.Parse([]string{"--listener-settings", "127.0.0.1:3;acl_file=/a"}); err != nil {
		t.Fatal(err)
	}
	if err := loadEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if got, want := flagValue(fs, "listener-settings"), "[127.0.0.1:3;acl_file=/a]"; got != want {
		t.Fatalf("--listener-settings %s, want %s (the command line)", got, want)
	}
}
