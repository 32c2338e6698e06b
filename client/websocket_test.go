package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
)

// wsBroker serves the Tern broker over WebSocket (TLS when cfg is set)
// and returns the ws:// or wss:// URL.
func wsBroker(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	s, err := broker.New(broker.Config{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := broker.WebSocketListener(inner, cfg, testLogger())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	scheme := "ws://"
	if cfg != nil {
		scheme = "wss://"
	}
	return scheme + inner.Addr().String() + broker.WebSocketPath
}

func TestWebSocket(t *testing.T) {
	url := wsBroker(t, nil)
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) { runPubSub(t, url, v, 2, 50) })
	}
	// The default path is /mqtt.
	ctx := testCtx(t)
	c, err := client.Dial(ctx, client.Options{Servers: []string{url[:len(url)-len(broker.WebSocketPath)]}})
	if err != nil {
		t.Fatal(err)
	}
	c.Disconnect(ctx, 0)
}

func TestWebSocketTLS(t *testing.T) {
	cert, caFile := testCert(t)
	url := wsBroker(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	cfg, err := client.TLSFiles(caFile, "", "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	c := dialConn(t, url, client.Options{TLSConfig: cfg})
	in := newInbox()
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "wss", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "wss", QoS: 1, Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	in.wait(t, 1)
	if _, err := client.Dial(ctx, client.Options{Servers: []string{url}}); err == nil {
		t.Fatal("untrusted wss server accepted")
	}
}
