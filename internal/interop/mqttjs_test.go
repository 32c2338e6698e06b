package interop

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMQTTJS runs test/mqttjs/interop.mjs (MQTT.js, the npm package mqtt)
// against a tern serve process: topic aliases, shared subscriptions and
// request/response. It is skipped without node or without
// test/mqttjs/node_modules (npm ci --prefix test/mqttjs), except under
// CI=true, where it fails instead.
func TestMQTTJS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "mqttjs"))
	if err != nil {
		t.Fatal(err)
	}
	skip := t.Skip
	if os.Getenv("CI") == "true" {
		skip = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node not found")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt")); err != nil {
		skip("test/mqttjs/node_modules missing: run npm ci --prefix test/mqttjs")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		skip("go not found")
	}
	bin := filepath.Join(t.TempDir(), "tern")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/tern-mq/tern/cmd/tern").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var serveLog bytes.Buffer
	srv := exec.CommandContext(ctx, bin, "serve", "--listen", addr, "--log-level", "warn")
	srv.Stdout, srv.Stderr = &serveLog, &serveLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stop := func() { srv.Process.Kill(); exited <- <-exited }
	defer stop()
	eventually(t, "tern serve to listen", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("tern serve exited: %v\n%s", err, serveLog.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	js := exec.CommandContext(ctx, node, "interop.mjs")
	js.Dir = dir
	js.Env = append(os.Environ(), "TERN_URL=mqtt://"+addr)
	out, err := js.CombinedOutput()
	t.Logf("MQTT.js:\n%s", out)
	if err != nil {
		stop() // the log is complete once the process has exited
		t.Fatalf("interop.mjs: %v; tern serve log:\n%s", err, serveLog.String())
	}
}
