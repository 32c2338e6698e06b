package client_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/internal/brokertest"
	"github.com/tern-mq/tern/packet"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(killedClient()) // the process TestStoreSurvivesKill kills
	}
	goleak.VerifyTestMain(m)
}

const waitFor = 10 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func testLogger() *slog.Logger {
	if os.Getenv("TERN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// ternBroker runs a Tern broker on a loopback port until the test ends
// and returns its URL.
func ternBroker(t testing.TB, cfg broker.Config) string {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	_, addr := brokertest.Start(t, cfg)
	return "mqtt://" + addr
}

// dialConn connects a Conn and disconnects it when the test ends.
func dialConn(t testing.TB, url string, o client.Options) *client.Conn {
	t.Helper()
	o.Servers = []string{url}
	if o.Logger == nil {
		o.Logger = testLogger()
	}
	c, err := client.Dial(testCtx(t), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		c.Disconnect(ctx, packet.Success)
	})
	return c
}

// startClient starts a managed Client, waits for its connection and stops
// it when the test ends.
func startClient(t testing.TB, o client.Options) *client.Client {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger()
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 5 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 50 * time.Millisecond
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := c.Disconnect(ctx, packet.Success); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	})
	if err := c.AwaitConnection(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// inbox collects received messages.
type inbox struct {
	mu   sync.Mutex
	msgs []*client.Message
	ch   chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (b *inbox) handle(m *client.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

// wait waits for at least n messages and returns them all.
func (b *inbox) wait(t testing.TB, n int) []*client.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		b.mu.Lock()
		if len(b.msgs) >= n {
			out := append([]*client.Message(nil), b.msgs...)
			b.mu.Unlock()
			return out
		}
		got := len(b.msgs)
		b.mu.Unlock()
		select {
		case <-b.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", got, n)
		}
	}
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

// waitUnique waits until n distinct payloads have arrived and returns
// every message received.
func (b *inbox) waitUnique(t testing.TB, n int) []*client.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		b.mu.Lock()
		seen := make(map[string]bool)
		for _, m := range b.msgs {
			seen[string(m.Payload)] = true
		}
		got := len(seen)
		if got >= n {
			out := append([]*client.Message(nil), b.msgs...)
			b.mu.Unlock()
			return out
		}
		b.mu.Unlock()
		select {
		case <-b.ch:
		case <-deadline:
			t.Fatalf("got %d distinct messages, want %d", got, n)
		}
	}
}
