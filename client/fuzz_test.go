package client_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// FuzzServerBytes feeds arbitrary bytes from a server after a valid
// CONNACK: the connection ends or stays up, never a panic or a hang.
func FuzzServerBytes(f *testing.F) {
	for _, seed := range [][]byte{
		{0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'},          // PUBLISH QoS 0
		{0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 'x'},   // PUBLISH QoS 1
		{0x34, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 'x'},   // PUBLISH QoS 2
		{0x62, 0x02, 0x00, 0x01},                         // PUBREL
		{0x90, 0x03, 0x00, 0x01, 0x00},                   // SUBACK
		{0xd0, 0x00},                                     // PINGRESP
		{0xe0, 0x00},                                     // DISCONNECT
		{0x20, 0x02, 0x00, 0x00},                         // CONNACK again
		{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f},             // bad length
		{0x40, 0x02, 0x00, 0x00},                         // PUBACK id 0
		{0x35, 0x00},                                     // QoS 2 + DUP, empty
		{0x3c, 0x04, 0x00, 0x01, 'a', 0x00},              // QoS 3
		{0x30, 0x04, 0x00, 0x00, 0x02, 0x23, 0x00, 0x01}, // v5 alias
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, junk []byte, v5 bool) {
		v := packet.V311
		if v5 {
			v = packet.V5
		}
		cs, ss := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer ss.Close()
			br := bufio.NewReader(ss)
			if _, err := packet.ReadPacket(br, v, 0); err != nil {
				return
			}
			b, _ := packet.Append(nil, &packet.Connack{}, v)
			ss.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := ss.Write(append(b, junk...)); err != nil {
				return
			}
			// Drain what the client answers until it closes, briefly.
			ss.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			for {
				if _, err := br.ReadByte(); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Connect(ctx, cs, client.Options{Version: v, ClientID: "fuzz", TopicAliasMaximum: 4, Logger: testLogger()})
		if err == nil {
			<-done
			c.Disconnect(ctx, packet.Success)
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("connection did not end")
			}
		} else {
			<-done
		}
	})
}
