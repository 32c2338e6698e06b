package broker

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// TestMessageTimeIsReadTime: a message's time (here its expiry) is that of
// the socket read that brought it, not of an earlier read: a message with
// a 1-second expiry published after the connection was idle for longer is
// delivered. The idle time is the condition under test.
func TestMessageTimeIsReadTime(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "t/exp", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	time.Sleep(1500 * time.Millisecond)
	p := &packet.Publish{Topic: "t/exp", QoS: 1, PacketID: 1, Payload: []byte("x")}
	p.Properties.MessageExpiry = 1
	p.Properties.Set(packet.PropMessageExpiry)
	pub.send(p)
	pub.recvAck(packet.PUBACK)
	if got := sub.recvPublish(); string(got.Payload) != "x" {
		t.Fatalf("got %q", got.Payload)
	}
}
