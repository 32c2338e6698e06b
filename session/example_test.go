package session_test

import (
	"fmt"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// The caller's loop: inputs, then Ready handled in order, then Advance.
func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := session.New(session.Config{Role: session.Server, Version: packet.V5})
	s.Connected(now, 1, session.Peer{Version: packet.V5, ReceiveMaximum: 10})

	msg := &session.Message{Topic: "sensors/1", Payload: []byte("21.5"), QoS: packet.QoS1}
	_ = s.Send(now, session.Delivery{Msg: msg, QoS: packet.QoS1})

	var pub packet.Publish // reused by the connection writer
	handle := func() {
		for s.HasReady() {
			rd := s.Ready()
			fmt.Println("persist", len(rd.Persist), "changes")
			for i := range rd.Packets {
				if rd.Packets[i].Kind == packet.PUBLISH {
					rd.Packets[i].Publish(&pub)
					fmt.Println("write PUBLISH", pub.Topic, "id", pub.PacketID, "on connection", rd.Gen)
				}
			}
			for _, c := range rd.Done {
				fmt.Println("done", c.Delivery.Msg.Topic, c.Reason)
			}
			s.Advance()
		}
	}
	handle()
	_ = s.Receive(now, &packet.Ack{PacketType: packet.PUBACK, PacketID: 1})
	handle()
	// Output:
	// persist 1 changes
	// write PUBLISH sensors/1 id 1 on connection 1
	// persist 1 changes
	// done sensors/1 success
}
