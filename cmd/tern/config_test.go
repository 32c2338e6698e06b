package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/pflag"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/packet"
)

// startServe runs serveOpts until the test ends and returns the listeners'
// addresses and the log.
func startServe(t *testing.T, o *serveOptions) ([]net.Addr, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serveOpts(ctx, log, nil, o, func(a []net.Addr) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-addrc:
		return a, logs
	case err := <-done:
		done <- err
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	return nil, nil
}

// mqttConnect sends CONNECT on a new TCP connection and returns the CONNACK code.
func mqttConnect(t *testing.T, addr string, v packet.Version, user, pass string) packet.ReasonCode {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	return connackOn(t, nc, v, user, pass)
}

func connackOn(t *testing.T, nc net.Conn, v packet.Version, user, pass string) packet.ReasonCode {
	t.Helper()
	p := &packet.Connect{Version: v, CleanStart: true, ClientID: "t"}
	if user != "" {
		p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, user, true, []byte(pass)
	}
	b, _ := packet.Append(nil, p, v)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	r, err := packet.ReadPacket(bufio.NewReader(nc), v, 0)
	if err != nil {
		t.Fatal(err)
	}
	ack, ok := r.(*packet.Connack)
	if !ok {
		t.Fatalf("got %s, want CONNACK", r.Type())
	}
	return ack.ReasonCode
}

func writePasswd(t *testing.T, path string, users ...string) {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		h, err := auth.HashPassword([]byte("pw-"+u), auth.SHA512PBKDF2)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + h + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitLog(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never says %q:\n%s", s, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SIGHUP reloads the password file; a broken file keeps the previous one.
func TestServeAuthAndSIGHUP(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, pw, "alice")
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"}, passwordFile: pw})
	addr := addrs[0].String()
	waitLog(t, logs, "anonymous access refused")
	if c := mqttConnect(t, addr, packet.V5, "", ""); c != packet.NotAuthorized {
		t.Fatalf("anonymous: CONNACK %#x, want 0x87", byte(c))
	}
	if c := mqttConnect(t, addr, packet.V311, "alice", "pw-alice"); c != 0 {
		t.Fatalf("alice: CONNACK %#x", byte(c))
	}
	if c := mqttConnect(t, addr, packet.V311, "bob", "pw-bob"); c != packet.ConnRefusedBadUsernamePassword {
		t.Fatalf("bob before reload: CONNACK %#x, want 0x04", byte(c))
	}
	writePasswd(t, pw, "alice", "bob")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reloaded on SIGHUP")
	if c := mqttConnect(t, addr, packet.V311, "bob", "pw-bob"); c != 0 {
		t.Fatalf("bob after reload: CONNACK %#x", byte(c))
	}
	if err := os.WriteFile(pw, []byte("bob:not-a-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reload on SIGHUP failed")
	if !strings.Contains(logs.String(), pw) {
		t.Errorf("the failed reload does not name the file:\n%s", logs.String())
	}
	if c := mqttConnect(t, addr, packet.V311, "bob", "pw-bob"); c != 0 {
		t.Fatalf("bob after a bad reload: CONNACK %#x, want the previous file kept", byte(c))
	}
}

func TestAuthSummary(t *testing.T) {
	for _, tc := range []struct {
		o    serveOptions
		want string
		anon bool
	}{
		{serveOptions{}, "anonymous access allowed, no password or ACL file", true},
		{serveOptions{passwordFile: "p"}, "password file p, anonymous access refused", false},
		{serveOptions{passwordFile: "p", aclFile: "a", allowAnonymous: true, anonymousSet: true}, "password file p, ACL file a, anonymous access allowed", true},
		{serveOptions{aclFile: "a"}, "every client refused: no password file and anonymous access off", false},
		{serveOptions{scramFile: "s"}, "SCRAM-SHA-256 file s, no password file, anonymous access refused", false},
	} {
		if got := tc.o.authSummary(); got != tc.want || tc.o.anonymous() != tc.anon {
			t.Errorf("%+v: %q anonymous=%v, want %q %v", tc.o, got, tc.o.anonymous(), tc.want, tc.anon)
		}
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	return selfSignedCN(t, dir, "tern")
}

func selfSignedCN(t *testing.T, dir, cn string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TCP, TLS and WebSocket listeners at once, each answering CONNECT.
func TestServeSeveralListeners(t *testing.T) {
	cf, kf, pool := selfSigned(t, t.TempDir())
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"}, tlsListen: []string{"127.0.0.1:0"},
		wsListen: []string{"127.0.0.1:0"}, certFile: cf, keyFile: kf})
	if len(addrs) != 3 {
		t.Fatalf("%d listeners", len(addrs))
	}
	if c := mqttConnect(t, addrs[0].String(), packet.V311, "", ""); c != 0 {
		t.Fatalf("TCP: CONNACK %#x", byte(c))
	}
	tc, err := tls.Dial("tcp", addrs[1].String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if c := connackOn(t, tc, packet.V5, "", ""); c != 0 {
		t.Fatalf("TLS: CONNACK %#x", byte(c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws://"+addrs[2].String()+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(ctx, wc, websocket.MessageBinary)
	defer nc.Close()
	if c := connackOn(t, nc, packet.V5, "", ""); c != 0 {
		t.Fatalf("WebSocket: CONNACK %#x", byte(c))
	}
	for _, want := range []string{"mqtt://127.0.0.1:", "mqtts://127.0.0.1:", "ws://127.0.0.1:"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("start-up log does not list %s:\n%s", want, logs.String())
		}
	}
}

func TestServeTLSNeedsCert(t *testing.T) {
	o := &serveOptions{tlsListen: []string{"127.0.0.1:0"}}
	if _, _, err := o.openListeners(slog.Default()); err == nil || !strings.Contains(err.Error(), "--cert") {
		t.Fatalf("got %v, want an error naming --cert", err)
	}
}

// --admin-listen serves /metrics, /healthz and /readyz.
func TestServeAdmin(t *testing.T) {
	addrs, _ := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"}, adminListen: "127.0.0.1:0"})
	if c := mqttConnect(t, addrs[0].String(), packet.V311, "", ""); c != 0 {
		t.Fatalf("CONNACK %#x", byte(c))
	}
	admin := "http://" + addrs[len(addrs)-1].String()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !strings.Contains(string(b), "tern_connections_accepted_total 1") {
			t.Fatalf("/metrics lacks tern_connections_accepted_total 1:\n%.2000s", b)
		}
	}
}

// parsedServe returns the flag set of tern serve after parsing args and
// loading the configuration file with content yml.
func parsedServe(t *testing.T, yml string, args ...string) (*pflag.FlagSet, error) {
	t.Helper()
	fs := newServeCmd().Flags()
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tern.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return fs, loadConfigFile(path, fs)
}

func flagValue(fs *pflag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

// expectConfigError checks that the configuration yml fails to load with
// an error that says each of want.
func expectConfigError(t *testing.T, yml string, want ...string) {
	t.Helper()
	_, err := parsedServe(t, yml)
	if err == nil {
		t.Errorf("%q: no error", yml)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q: error %q lacks %q", yml, err, w)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		yml  string
		want []string
	}{
		{"listeners:\n  mqtt: [a]\n  tcp: [b]\n", []string{"tern.yaml:3", "listeners.tcp", "unknown key", "mqtt, mqtts, proxy_header_timeout, proxy_protocol, settings, ws, wss"}},
		{"bogus: 1\n", []string{"tern.yaml:1", "bogus", "unknown key", "limits"}},
		{"limits:\n  max_connections: lots\n", []string{"tern.yaml:2", "limits.max_connections", `"lots"`, "an integer"}},
		{"sys_interval: 10\n", []string{"sys_interval", "a duration"}},
		{"storage:\n  durability: fast\n", []string{"storage.durability", "sync, interval, memory"}},
		{"log_level: loud\n", []string{"log_level", "debug, info, warn, error"}},
		{"auth:\n  allow_anonymous: maybe\n", []string{"auth.allow_anonymous", "true or false"}},
		{"auth: yes\n", []string{"auth", "want a mapping"}},
		{"limits:\n  max_connections: [1]\n", []string{"limits.max_connections", "an integer"}},
		{"limits: {max_connections: 1, max_connections: 2}\n", []string{"defined twice"}},
		{"a: [\n", []string{"tern.yaml"}},
	} {
		expectConfigError(t, tc.yml, tc.want...)
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	yml := `
listeners:
  mqtt: ["127.0.0.1:1000", "127.0.0.1:1001"]
  ws: 127.0.0.1:1002
auth:
  password_file: /p
  allow_anonymous: true
limits:
  max_connections: 3
  publish_rate: 2.5
storage:
  durability: memory
sys_interval: 1m
`
	fs, err := parsedServe(t, yml, "--max-connections", "5", "--password-file", "/flag")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"listen":          "[127.0.0.1:1000,127.0.0.1:1001]",
		"ws-listen":       "[127.0.0.1:1002]",
		"password-file":   "/flag", // the flag wins
		"max-connections": "5",     // the flag wins
		"publish-rate":    "2.5",
		"allow-anonymous": "true",
		"durability":      "memory",
		"sys-interval":    "1m0s",
		"max-queued":      "1000", // not in the file: the default
	} {
		if got := flagValue(fs, name); got != want {
			t.Errorf("--%s = %s, want %s", name, got, want)
		}
	}
	if !fs.Changed("allow-anonymous") {
		t.Error("allow_anonymous from the file does not count as set")
	}
}

// The example file in the repository loads, and every key of the file
// format appears in it and in docs/configuration.md.
func TestConfigExampleAndDocs(t *testing.T) {
	fs := newServeCmd().Flags()
	if err := loadConfigFile("../../tern.example.yaml", fs); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../tern.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for key, ck := range configKeys {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(example), leaf+":") {
			t.Errorf("tern.example.yaml lacks %s", key)
		}
		if !strings.Contains(string(docs), "`"+key+"`") || !strings.Contains(string(docs), "`--"+ck.flag+"`") {
			t.Errorf("docs/configuration.md lacks `%s` or `--%s`", key, ck.flag)
		}
		if fs.Lookup(ck.flag) == nil {
			t.Errorf("%s: no flag --%s", key, ck.flag)
		}
	}
}

// SIGHUP reloads the TLS certificate: new handshakes get the new one, and
// a connection made before keeps working.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cf, kf, pool1 := selfSignedCN(t, dir, "first")
	addrs, logs := startServe(t, &serveOptions{tlsListen: []string{"127.0.0.1:0"}, certFile: cf, keyFile: kf})
	addr := addrs[0].String()
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool1})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if c := connackOn(t, old, packet.V311, "", ""); c != 0 {
		t.Fatalf("CONNACK %#x", byte(c))
	}
	_, _, pool2 := selfSignedCN(t, dir, "second") // overwrites cert.pem and key.pem
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reloaded on SIGHUP")
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool2})
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	defer nc.Close()
	if cn := nc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Fatalf("certificate %q after the reload, want second", cn)
	}
	b, _ := packet.Append(nil, &packet.Pingreq{}, packet.V311)
	old.Write(b)
	p, err := packet.ReadPacket(bufio.NewReader(old), packet.V311, 0)
	if err != nil || p.Type() != packet.PINGRESP {
		t.Fatalf("connection made before the reload: %v %v", p, err)
	}
}

// The protocol options map onto broker.Config, whose zero values mean
// the defaults.
func TestBrokerConfigFromOptions(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(c broker.Config) bool
	}{
		{nil, func(c broker.Config) bool {
			return c.MaximumQoS == 0 && c.TopicAliasMaximum == 10 && !c.RetainUnavailable && c.SysInterval == broker.DefaultSysInterval
		}},
		{[]string{"--maximum-qos", "1"}, func(c broker.Config) bool { return c.MaximumQoS == 1 }},
		{[]string{"--maximum-qos", "0"}, func(c broker.Config) bool { return c.MaximumQoS < 0 }},
		{[]string{"--topic-alias-maximum", "0"}, func(c broker.Config) bool { return c.TopicAliasMaximum < 0 }},
		{[]string{"--retain-available=false", "--shared-subscriptions=false"}, func(c broker.Config) bool {
			return c.RetainUnavailable && c.SharedSubscriptionsUnavailable && !c.WildcardSubscriptionsUnavailable
		}},
		{[]string{"--sys-interval", "0"}, func(c broker.Config) bool { return c.SysInterval == 0 }},
		{[]string{"--persistent-client-expiration", "1h"}, func(c broker.Config) bool { return c.PersistentClientExpiration == time.Hour }},
		{[]string{"--connection-rate", "2.5", "--connection-burst", "5", "--ban-threshold", "3", "--ban-duration", "1h"}, func(c broker.Config) bool {
			return c.ConnectionRate == 2.5 && c.ConnectionBurst == 5 && c.BanThreshold == 3 && c.BanDuration == time.Hour && c.BanWindow == broker.DefaultBanWindow
		}},
		{[]string{"--max-connections-per-listener", "100"}, func(c broker.Config) bool { return c.MaxConnectionsPerListener == 100 }},
		{[]string{"--max-subscriptions", "10", "--max-topic-length", "256", "--max-topic-levels", "8", "--slow-consumer-timeout", "30s"}, func(c broker.Config) bool {
			return c.MaxSubscriptions == 10 && c.MaxTopicLength == 256 && c.MaxTopicLevels == 8 && c.SlowConsumerTimeout == 30*time.Second
		}},
	} {
		var o serveOptions
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		o.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := o.validate(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		c, _, err := o.brokerConfig(slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		if !tc.check(c) {
			t.Errorf("%v: %+v", tc.args, c)
		}
	}
	var o serveOptions
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.register(fs)
	fs.Parse([]string{"--maximum-qos", "3"})
	if err := o.validate(); err == nil {
		t.Error("--maximum-qos 3 accepted")
	}
}

// A listener named by proxy_protocol reads a PROXY protocol header first.
func TestServeProxyProtocol(t *testing.T) {
	o := &serveOptions{listen: []string{"127.0.0.1:0"}, proxyProtocol: []string{"127.0.0.1:0"}}
	addrs, logs := startServe(t, o)
	waitLog(t, logs, "PROXY protocol expected")
	nc, err := net.Dial("tcp", addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 56324 1883\r\n")); err != nil {
		t.Fatal(err)
	}
	if c := connackOn(t, nc, packet.V5, "", ""); c != 0 {
		t.Fatalf("CONNACK %#x", byte(c))
	}
	// Without the header: closed.
	nc2, err := net.Dial("tcp", addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	b, _ := packet.Append(nil, &packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "x"}, packet.V311)
	nc2.Write(b)
	nc2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc2.Read(make([]byte, 8)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("without a header: read %d bytes, %v; want closed", n, err)
	}
	bad := &serveOptions{listen: []string{"127.0.0.1:0"}, proxyProtocol: []string{"127.0.0.1:1"}}
	if _, _, err := bad.openListeners(slog.Default()); err == nil || !strings.Contains(err.Error(), "--proxy-protocol 127.0.0.1:1") {
		t.Fatalf("proxy_protocol naming no listener: %v", err)
	}
}

// TERN_* variables set the options: over the file, under the command line.
func TestConfigEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tern.yaml")
	if err := os.WriteFile(file, []byte("limits:\n  max_connections: 7\n  publish_rate: 3\nauth:\n  allow_anonymous: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TERN_CONFIG":                 file,
		"TERN_LIMITS_MAX_CONNECTIONS": "5",
		"TERN_LISTENERS_MQTT":         "127.0.0.1:1, 127.0.0.1:2",
		"TERN_LIMITS_BAN_DURATION":    "1h",
		"TERN_AUTH_ALLOW_ANONYMOUS":   "true",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := newServeCmd().Flags()
	if err := fs.Parse([]string{"--allow-anonymous=false"}); err != nil {
		t.Fatal(err)
	}
	if err := loadEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if err := loadConfigFile(flagValue(fs, "config"), fs); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"max-connections": "5",                         // the environment over the file
		"publish-rate":    "3",                         // the file
		"listen":          "[127.0.0.1:1,127.0.0.1:2]", // a list
		"ban-duration":    "1h0m0s",                    // the environment
		"allow-anonymous": "false",                     // the command line over the environment
	} {
		if got := flagValue(fs, flag); got != want {
			t.Errorf("--%s %s, want %s", flag, got, want)
		}
	}
	for k, v := range map[string]string{"TERN_LIMITS_MAX_CONNECTIONS": "lots", "TERN_LOG_LEVEL": "loud"} {
		err := loadEnv(newServeCmd().Flags(), func(name string) (string, bool) { return v, name == k })
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
		}
	}
}

// SIGHUP reads the limits again: from the file, under the command line.
func TestServeLimitsReloadOnSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tern.yaml")
	writeLimits := func(n int) {
		t.Helper()
		if err := os.WriteFile(file, fmt.Appendf(nil, "limits:\n  max_client_id_length: %d\n  publish_rate: 5\n", n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeLimits(3)
	o := &serveOptions{listen: []string{"127.0.0.1:0"}, configFile: file, maxClientIDLen: 3, publishRate: 5}
	o.rereadLimits = limitsRereader(map[string][]string{"config": {file}, "publish-rate": {"7"}})
	addrs, logs := startServe(t, o)
	if c := connectID(t, addrs[0].String(), "abcd"); c != packet.ClientIdentifierNotValid {
		t.Fatalf("before the reload: CONNACK %#x, want 0x85", byte(c))
	}
	writeLimits(10)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reloaded on SIGHUP")
	if c := connectID(t, addrs[0].String(), "abcd"); c != 0 {
		t.Fatalf("after the reload: CONNACK %#x, want 0", byte(c))
	}
	l, err := o.rereadLimits()
	if err != nil || l.PublishRate != 7 || l.MaxClientIDLength != 10 {
		t.Fatalf("limits read again: %+v, %v; want the command line's publish rate 7", l, err)
	}
}

func connectID(t *testing.T, addr, id string) packet.ReasonCode {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := packet.Append(nil, &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: id}, packet.V5)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(b)
	r, err := packet.ReadPacket(bufio.NewReader(nc), packet.V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*packet.Connack).ReasonCode
}

func TestLogFormat(t *testing.T) {
	var b strings.Builder
	log, err := newLogger(&b, "json", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("client connected", "client", "c1", "remote", "127.0.0.1:5")
	if !strings.HasPrefix(b.String(), "{") || !strings.Contains(b.String(), `"client":"c1"`) {
		t.Fatalf("json log line: %s", b.String())
	}
	if _, err := newLogger(&b, "xml", slog.LevelInfo); err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Fatalf("format xml: %v", err)
	}
}
