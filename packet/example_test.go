package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/tern-mq/tern/packet"
)

func Example() {
	// Encode a PUBLISH and read it back from a stream.
	pub := &packet.Publish{QoS: packet.QoS1, PacketID: 7, Topic: "sensors/t1", Payload: []byte("21.5")}
	b, err := packet.Append(nil, pub, packet.V311)
	if err != nil {
		panic(err)
	}
	p, err := packet.ReadPacket(bufio.NewReader(bytes.NewReader(b)), packet.V311, 1024)
	if err != nil {
		panic(err)
	}
	got := p.(*packet.Publish)
	fmt.Printf("%s %q id %d: %s\n", got.Type(), got.Topic, got.PacketID, got.Payload)

	// A protocol violation comes with the reason code to answer with.
	_, _, err = packet.DecodeBytes([]byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}, packet.V5, 0)
	var pe *packet.Error
	if errors.As(err, &pe) {
		fmt.Printf("0x%02X %v\n", byte(pe.Code), err)
	}
	// Output:
	// PUBLISH "sensors/t1" id 7: 21.5
	// 0x90 topic name invalid: topic name contains a wildcard
}

func ExamplePublish_Unmarshal() {
	wire := []byte{0x30, 0x08, 0x00, 0x03, 'a', '/', 'b', 'h', 'i', '!'}
	fh, _ := packet.ReadFixedHeader(bytes.NewReader(wire), 0)
	body := wire[fh.Size():]

	var p packet.Publish // reused for every PUBLISH of the connection
	if err := p.Unmarshal(fh.Flags, body, packet.V311); err != nil {
		panic(err)
	}
	// p.Topic and p.Payload alias body: copy what must outlive it.
	fmt.Println(p.Topic, string(p.Payload))
	// Output: a/b hi!
}

func ExampleFit() {
	ack := &packet.Ack{PacketType: packet.PUBACK, PacketID: 1, ReasonCode: packet.NotAuthorized,
		Properties: packet.Properties{Present: 1 << packet.PropReasonString, ReasonString: "topic a/b is read-only"}}
	// 2 fixed header + 2 packet id + 1 reason code + 1 property length + 25 Reason String
	fmt.Println(packet.Size(ack, packet.V5), packet.Fit(ack, packet.V5, 16), packet.Size(ack, packet.V5))
	// Output: 31 true 5
}
