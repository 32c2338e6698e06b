package broker

import (
	"bytes"
	"testing"

	"github.com/tern-mq/tern/packet"
)

// A QoS 0 message published by one client reaches a subscriber of a
// matching filter, in every protocol version.
func TestPublishQoS0Delivered(t *testing.T) {
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			_, addr := startServer(t, Config{})
			sub := dial(t, addr, v)
			sub.mustConnect("sub", true)
			if sa := sub.subscribe(1, "a/+", 0); sa.ReasonCodes[0] != 0 {
				t.Fatalf("SUBACK %v", sa.ReasonCodes)
			}
			pub := dial(t, addr, v)
			pub.mustConnect("pub", true)
			pub.send(&packet.Publish{Topic: "a/b", Payload: []byte("hello")})
			got := sub.recvPublish()
			if got.Topic != "a/b" || !bytes.Equal(got.Payload, []byte("hello")) || got.QoS != 0 || got.Retain {
				t.Fatalf("got %+v", got)
			}
			pub.disconnect()
			sub.disconnect()
		})
	}
}
