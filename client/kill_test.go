package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/pebble"
)

const (
	childEnv  = "TERN_CLIENT_TEST_CHILD" // the server URL for killedClient
	childDir  = "TERN_CLIENT_TEST_STORE" // its store directory
	killCount = 6
)

// killedClient is a client process that TestStoreSurvivesKill kills: with
// a pebble store, it publishes a QoS 2 message that stays in flight (the
// proxy cuts the connection after forwarding its PUBLISH), then, offline,
// queues more; it says "ready" once Publish has returned for each and
// waits to be killed.
func killedClient() int {
	ctx := context.Background()
	st, err := pebble.Open(os.Getenv(childDir), pebble.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := client.New(client.Options{Servers: []string{os.Getenv(childEnv)}, ClientID: "killed", SessionExpiry: time.Hour,
		QueueOffline: true, Store: st, MinBackoff: time.Hour, MaxBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		err = c.Start(ctx)
	}
	if err == nil {
		err = c.AwaitConnection(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go c.Publish(ctx, client.Message{Topic: "killed/0", QoS: 2, Payload: []byte("0")})
	for c.State() != client.Reconnecting {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < killCount; i++ {
		if err := c.Publish(ctx, client.Message{Topic: fmt.Sprintf("killed/%d", i), QoS: packet.QoS(1 + i%2), Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 1
}

// TestStoreSurvivesKill: a client process killed (SIGKILL) with a QoS 2
// publication in flight and others queued offline; a new process on the
// same pebble store sends them all, QoS 2 exactly once.
func TestStoreSurvivesKill(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	in := newInbox()
	sub := dialConn(t, url, client.Options{})
	if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "killed/#", QoS: 2, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	proxy := newFaultProxy(t, url, cutRule{d: toServer, typ: packet.PUBLISH, every: 1, after: true})

	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+proxy.url(), childDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("client process: %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, out)
	cmd.Wait()

	st, err := pebble.Open(dir, pebble.Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	startClient(t, client.Options{Servers: []string{url}, ClientID: "killed", SessionExpiry: time.Hour, QueueOffline: true, Store: st})
	msgs := in.waitUnique(t, killCount)
	checkDelivered(t, msgs, killCount, false, nil)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Payload)]++
		if m.QoS == 2 && seen[string(m.Payload)] > 1 {
			t.Fatalf("QoS 2 message %s delivered twice", m.Payload)
		}
	}
}
