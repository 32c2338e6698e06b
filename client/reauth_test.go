package client_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// [MQTT5-4.12.1-1]: re-authentication with SCRAM-SHA-256 against the
// broker, on a Conn and on a Client, while the connection keeps working;
// after the user's password changed on the server, re-authentication is
// refused with DISCONNECT 0x87 and the connection ends [MQTT5-4.12.1-2].
func TestReauthenticate_MQTT5_4_12_1_1(t *testing.T) {
	var mu sync.Mutex
	password := "s3cret"
	m := broker.NewSCRAMSHA256(func(u string) (broker.SCRAMCredentials, bool) {
		mu.Lock()
		defer mu.Unlock()
		c, err := broker.NewSCRAMCredentials(password, []byte("salt"), 4096)
		return c, err == nil && u == "ann"
	})
	url := ternBroker(t, broker.Config{EnhancedAuth: []broker.EnhancedAuth{m}})
	ctx := testCtx(t)

	cl := startClient(t, client.Options{Servers: []string{url}, Version: packet.V5, Auth: client.SCRAMSHA256("ann", "s3cret")})
	if err := cl.Reauthenticate(ctx); err != nil {
		t.Fatalf("Client.Reauthenticate: %v", err)
	}

	c := dialConn(t, url, client.Options{Version: packet.V5, Auth: client.SCRAMSHA256("ann", "s3cret")})
	got := make(chan string, 8)
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "re/#", QoS: 1, Handler: func(m *client.Message) { got <- string(m.Payload) }}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Reauthenticate(ctx); err != nil {
			t.Fatalf("re-authentication %d: %v", i, err)
		}
		if err := c.Publish(ctx, client.Message{Topic: "re/x", Payload: []byte("after"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("no message after re-authentication")
		}
	}

	mu.Lock()
	password = "changed"
	mu.Unlock()
	err := c.Reauthenticate(ctx)
	var re *client.ReasonError
	if !errors.As(err, &re) || re.Code != packet.NotAuthorized || !strings.Contains(err.Error(), "not authorized (0x87)") {
		t.Fatalf("re-authentication with a changed password: %v, want DISCONNECT not authorized (0x87)", err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the connection did not end")
	}
}

// A server whose signature is wrong in re-authentication is not trusted:
// the client ends the connection, with DISCONNECT. A client without
// Options.Auth cannot re-authenticate.
func TestReauthenticateRejectsServer(t *testing.T) {
	var starts atomic.Int32
	url := scramBroker(t, map[string]string{"ann": "s3cret"}, 4096, func(m broker.EnhancedAuth) broker.EnhancedAuth {
		return tamper{EnhancedAuth: m, final: flipSignature, skip: 1, starts: &starts}
	})
	ctx := testCtx(t)
	c := dialConn(t, url, client.Options{Version: packet.V5, Auth: client.SCRAMSHA256("ann", "s3cret")})
	if err := c.Reauthenticate(ctx); err == nil || !strings.Contains(err.Error(), "wrong server signature") {
		t.Fatalf("Reauthenticate: %v, want a wrong server signature", err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("the connection did not end")
	}

	plain := dialConn(t, url, client.Options{Version: packet.V5})
	if err := plain.Reauthenticate(ctx); err == nil {
		t.Fatal("re-authentication without Options.Auth accepted")
	}
}
