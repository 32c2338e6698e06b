// Package brokertest runs an in-process Tern broker for the tests of other
// packages (the client, the command line, interoperability with peers).
package brokertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
)

// shutdownWait bounds the broker's shutdown at the end of a test.
const shutdownWait = 10 * time.Second

// Start serves a broker with cfg on a free loopback TCP port until the test
// ends (see Serve) and returns the server and its address (host:port).
func Start(t testing.TB, cfg broker.Config) (*broker.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, cfg, ln), ln.Addr().String()
}

// Serve serves a broker with cfg on ln (plain TCP, TLS or WebSocket) until
// the test ends, then shuts it down and fails the test if Shutdown or Serve
// report an error. A nil cfg.Logger discards the broker's log.
func Serve(t testing.TB, cfg broker.Config, ln net.Listener) *broker.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := broker.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("broker.New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv
}
