package client_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/store/pebble"
)

// TestStoreSurvivesRestart: publications queued offline and in flight
// when a client ends are sent by the next client with the same store.
func TestStoreSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, dir string) store.Store
	}{
		{"memory", func(t *testing.T, _ string) store.Store { return memory.New() }},
		{"pebble", func(t *testing.T, dir string) store.Store {
			s, err := pebble.Open(dir, pebble.Options{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := ternBroker(t, broker.Config{})
			ctx := testCtx(t)
			in := newInbox()
			sub := dialConn(t, url, client.Options{})
			if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "durable/#", QoS: 2, Handler: in.handle}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			st := tc.open(t, dir)

			// First process: PUBACK and PUBREC never reach it (the proxy
			// cuts after forwarding the first PUBLISH), then it is offline.
			proxy := newFaultProxy(t, url, cutRule{d: toServer, typ: packet.PUBLISH, every: 1, after: true})
			o := client.Options{Servers: []string{proxy.url()}, ClientID: "durable", SessionExpiry: time.Hour,
				QueueOffline: true, Store: st, Logger: testLogger(), MinBackoff: time.Hour, MaxBackoff: time.Hour}
			first, err := client.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := first.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := first.AwaitConnection(ctx); err != nil {
				t.Fatal(err)
			}
			pubErr := make(chan error, 1)
			go func() {
				pubErr <- first.Publish(ctx, client.Message{Topic: "durable/0", QoS: 2, Payload: []byte("0")})
			}()
			eventually(t, "the cut", func() bool { return first.State() == client.Reconnecting })
			for i := 1; i < 6; i++ {
				// Offline: queued, Publish returns at once.
				if err := first.Publish(ctx, client.Message{Topic: fmt.Sprintf("durable/%d", i), QoS: packet.QoS(1 + i%2), Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := first.Disconnect(ctx, packet.Success); err != nil {
				t.Fatal(err)
			}
			if err := <-pubErr; err == nil {
				t.Fatal("the first Publish completed without its PUBREC")
			}
			if tc.name == "pebble" {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st = tc.open(t, dir)
			}
			t.Cleanup(func() { st.Close() })

			// Second process, same store, direct to the broker.
			o.Servers, o.Store, o.MinBackoff, o.MaxBackoff = []string{url}, st, 0, 0
			startClient(t, o)
			msgs := in.waitUnique(t, 6)
			checkDelivered(t, msgs, 6, false, nil)
			for _, m := range msgs {
				if m.QoS == 2 {
					n := 0
					for _, x := range msgs {
						if string(x.Payload) == string(m.Payload) {
							n++
						}
					}
					if n != 1 {
						t.Fatalf("QoS 2 message %v delivered %d times", m.Payload, n)
					}
				}
			}
		})
	}
}

func TestStoreNeedsClientID(t *testing.T) {
	_, err := client.New(client.Options{Servers: []string{"mqtt://127.0.0.1:1"}, Store: memory.New()})
	if err == nil || !strings.Contains(err.Error(), "ClientID") {
		t.Fatalf("New: %v", err)
	}
	_ = net.IPv4len
}
