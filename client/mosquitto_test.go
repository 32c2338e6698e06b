package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// mosquittoBroker starts Debian's mosquitto on a free loopback port until
// the test ends. It skips the test when mosquitto is not installed, unless
// CI=true.
func mosquittoBroker(t *testing.T) string {
	t.Helper()
	return mosquittoWith(t, "allow_anonymous true\n")
}

// mosquittoWith starts mosquitto with extra configuration lines.
func mosquittoWith(t *testing.T, extra string) string {
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
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %s 127.0.0.1\npersistence false\n%s%s", port, asUser(), extra), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	var out strings.Builder
	cmd.Stderr = &out
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	deadline := time.Now().Add(waitFor)
	for {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
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
	// mosquitto 2.0.11 loses the state of outgoing QoS 2 messages waiting
	// for PUBCOMP when connections are cut repeatedly: after a reconnection
	// it sends PUBLISH again for identifiers it had already released with
	// PUBREL [MQTT-4.3.3-1] (seen in proxy traces, in the pubcomp-lost and
	// pubrec-lost cases), which a receiver must take for new messages
	// [MQTT5-4.3.3-12]. The proxy counts those resends: each may add one
	// copy of its message, nothing else may.
	t.Run("Subscriber", func(t *testing.T) {
		testFaultsSubscriber(t, mosquittoBroker, true)
	})
}

// TestMosquittoRefusals: refusals carry the reason code, named in words.
func TestMosquittoRefusals(t *testing.T) {
	ctx := testCtx(t)
	t.Run("connect", func(t *testing.T) {
		url := mosquittoWith(t, "allow_anonymous false\n")
		for _, v := range versions {
			_, err := client.Dial(ctx, client.Options{Servers: []string{url}, Version: v})
			var re *client.ReasonError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "not authorized") {
				t.Fatalf("%s: Dial: %v", v, err)
			}
		}
	})
	t.Run("acl", func(t *testing.T) {
		acl := filepath.Join(t.TempDir(), "acl")
		if err := os.WriteFile(acl, []byte("topic readwrite allowed/#\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		url := mosquittoWith(t, "allow_anonymous true\nacl_file "+acl+"\n")
		c := dialConn(t, url, client.Options{})
		err := c.Publish(ctx, client.Message{Topic: "denied", QoS: 1})
		var re *client.ReasonError
		if !errors.As(err, &re) || re.Code != packet.NotAuthorized || !strings.Contains(err.Error(), "not authorized") {
			t.Fatalf("Publish: %v", err)
		}
		// mosquitto grants any subscription and filters on delivery.
		in := newInbox()
		if _, err := c.Subscribe(ctx, client.Subscription{Filter: "allowed/x", QoS: 2, Handler: in.handle}); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, client.Message{Topic: "allowed/x", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		in.wait(t, 1)
	})
}

// asUser keeps mosquitto, when started as root, from switching to the
// mosquitto user, which could not read the test's temporary files.
func asUser() string {
	if os.Geteuid() == 0 {
		return "user root\n"
	}
	return ""
}

// TestMosquittoTopicAliases: mosquitto accepts topic aliases (10 by
// default); repeated topics are sent as aliases, arrive whole, and the
// client sends fewer bytes than without aliases.
func TestMosquittoTopicAliases(t *testing.T) { testTopicAliases(t, mosquittoBroker(t)) }

func TestTopicAliases(t *testing.T) { testTopicAliases(t, ternBroker(t, broker.Config{})) }

func testTopicAliases(t *testing.T, url string) {
	ctx := testCtx(t)
	const n = 60
	topic := func(i int) string { return fmt.Sprintf("alias/a-rather-long-topic-name/%d", i%15) } // more topics than aliases
	sent := map[bool]int64{}
	for _, aliases := range []bool{false, true} {
		in := newInbox()
		sub := dialConn(t, url, client.Options{})
		if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "alias/#", QoS: 1, Handler: in.handle}); err != nil {
			t.Fatal(err)
		}
		proxy := newFaultProxy(t, url)
		pub := dialConn(t, proxy.url(), client.Options{TopicAliases: aliases})
		if pub.Connack().Properties.TopicAliasMaximum == 0 {
			t.Skip("this broker accepts no topic alias")
		}
		for i := range n {
			if err := pub.Publish(ctx, client.Message{Topic: topic(i), QoS: packet.QoS(i % 2), Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		msgs := in.wait(t, n)
		for i, m := range msgs {
			if m.Topic != topic(i) || string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("aliases %v: message %d: %s %q", aliases, i, m.Topic, m.Payload)
			}
		}
		sent[aliases] = proxy.bytes[toServer].Load()
	}
	if sent[true] >= sent[false] {
		t.Fatalf("%d bytes sent with aliases, %d without", sent[true], sent[false])
	}
}
