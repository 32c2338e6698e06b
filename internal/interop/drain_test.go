package interop

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/tern-mq/tern/broker"
)

// A draining broker sends paho.golang's clients DISCONNECT 0x9C (Use
// another server) or 0x9D (Server moved) with the Server Reference
// [MQTT5-3.14.2-1], which Paho hands to OnServerDisconnect.
func TestPahoDrainRedirect(t *testing.T) {
	for _, moved := range []bool{false, true} {
		srv, addr := startBroker(t)
		c := connect5(t, addr, &paho.Connect{ClientID: "drained", CleanStart: true})
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Drain(ctx, broker.DrainOptions{ServerReference: "b2.example:1883", Moved: moved}); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		d := recv(t, c.disc, "DISCONNECT")
		want := byte(0x9C)
		if moved {
			want = 0x9D
		}
		if d.ReasonCode != want || d.Properties == nil || d.Properties.ServerReference != "b2.example:1883" {
			t.Fatalf("moved=%v: DISCONNECT %#x %+v, want %#x with the Server Reference", moved, d.ReasonCode, d.Properties, want)
		}
	}
}
