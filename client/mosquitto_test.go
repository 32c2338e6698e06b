package client_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mosquittoBroker starts Debian's mosquitto on a free loopback port until
// the test ends. It skips the test when mosquitto is not installed, unless
// CI=true.
func mosquittoBroker(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed")
		}
		t.Skip("mosquitto not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n", port), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	deadline := time.Now().Add(waitFor)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "mqtt://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMosquitto runs the client's interoperability scenarios against
// mosquitto.
func TestMosquitto(t *testing.T) {
	url := mosquittoBroker(t)
	t.Run("PublishSubscribeQoS", func(t *testing.T) { testPublishSubscribeQoS(t, url) })
	t.Run("Retained", func(t *testing.T) { testRetained(t, url) })
	t.Run("Will", func(t *testing.T) { testWill(t, url) })
	t.Run("PersistentSession", func(t *testing.T) { testPersistentSession(t, url) })
	t.Run("V5Properties", func(t *testing.T) { testV5Properties(t, url) })
	t.Run("RequestResponse", func(t *testing.T) { testRequestResponse(t, url) })
}

func TestMosquittoFaults(t *testing.T) {
	t.Run("Publisher", func(t *testing.T) { testFaultsPublisher(t, mosquittoBroker) })
	t.Run("Subscriber", func(t *testing.T) { testFaultsSubscriber(t, mosquittoBroker) })
}
