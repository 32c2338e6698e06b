package broker

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Retained messages: [MQTT-3.3.1-5] stored, replaced by a newer one,
// [MQTT-3.3.1-8] sent with RETAIN 1 on subscribe, [MQTT-3.3.1-9] delivered
// with RETAIN 0 to established subscriptions, [MQTT-3.3.1-10]
// [MQTT-3.3.1-11] cleared by an empty payload.
func TestRetainedSetReplaceClear_MQTT_3_3_1_8(t *testing.T) {
	_, addr := startServer(t, Config{})
	live := dial(t, addr, packet.V311)
	live.mustConnect("live", true)
	live.subscribe(1, "r/#", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "r/1", Retain: true, Payload: []byte("first")})
	pub.send(&packet.Publish{Topic: "r/1", Retain: true, Payload: []byte("second")}) // replaces
	pub.send(&packet.Publish{Topic: "r/2", Retain: true, QoS: 1, PacketID: 1, Payload: []byte("other")})
	pub.recvAck(packet.PUBACK)
	for range 3 {
		if p := live.recvPublish(); p.Retain { // [MQTT-3.3.1-9]
			t.Fatalf("live delivery with RETAIN 1: %+v", p)
		} else if p.QoS == 1 {
			live.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
		}
	}

	late := dial(t, addr, packet.V311)
	late.mustConnect("late", true)
	late.subscribe(1, "r/+", 1)
	got := map[string]string{}
	for range 2 {
		p := late.recvPublish()
		if !p.Retain { // [MQTT-3.3.1-8]
			t.Fatalf("retained message sent with RETAIN 0: %+v", p)
		}
		got[p.Topic] = string(p.Payload)
		if p.QoS == 1 {
			late.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
		}
	}
	if got["r/1"] != "second" || got["r/2"] != "other" {
		t.Fatalf("retained %v", got)
	}
	late.expectNothing(100 * time.Millisecond)

	// An empty retained payload is delivered normally [MQTT-3.3.1-10] and
	// clears the topic [MQTT-3.3.1-11].
	pub.send(&packet.Publish{Topic: "r/1", Retain: true})
	if p := live.recvPublish(); p.Topic != "r/1" || len(p.Payload) != 0 {
		t.Fatalf("got %+v", p)
	}
	late.recvPublish()
	again := dial(t, addr, packet.V311)
	again.mustConnect("again", true)
	again.subscribe(1, "r/+", 0)
	if p := again.recvPublish(); p.Topic != "r/2" {
		t.Fatalf("got %+v, want only r/2 retained", p)
	}
	again.expectNothing(100 * time.Millisecond)
}

// willSub connects a subscriber to the will topic.
func willSub(t *testing.T, addr string) *tclient {
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("watcher", true)
	sub.subscribe(1, "will/#", 1)
	return sub
}

// [MQTT-3.1.2-8] the will is published when the connection ends without
// DISCONNECT.
func TestWillPublishedOnAbnormalClose_MQTT_3_1_2_8(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V311)
	c.mustConnect("dies", true, withWill("will/dies", "gone", 1, false))
	c.nc.Close()
	p := sub.recvPublish()
	if p.Topic != "will/dies" || string(p.Payload) != "gone" || p.QoS != 1 {
		t.Fatalf("got %+v", p)
	}
}

// A protocol error also publishes the will.
func TestWillPublishedOnProtocolError_MQTT_3_1_2_8(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V311)
	c.mustConnect("bad", true, withWill("will/bad", "broken", 0, false))
	c.sendRaw([]byte{0x00, 0x00})
	c.expectClosed()
	if p := sub.recvPublish(); p.Topic != "will/bad" {
		t.Fatalf("got %+v", p)
	}
}

// [MQTT-3.1.2-10] DISCONNECT removes the will: it is not published.
func TestWillNotPublishedAfterDisconnect_MQTT_3_1_2_10(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V311)
	c.mustConnect("polite", true, withWill("will/polite", "x", 0, false))
	c.disconnect()
	sub.expectNothing(200 * time.Millisecond)
}

// A v5 DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes
// the will, and [MQTT5-3.1.2-8] only once.
func TestWillPublishedOnDisconnectWithWill_MQTT5_3_14_4_3(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V5)
	c.mustConnect("w5", true, withWill("will/w5", "asked", 0, false))
	c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
	c.expectClosed()
	if p := sub.recvPublish(); p.Topic != "will/w5" || string(p.Payload) != "asked" {
		t.Fatalf("got %+v", p)
	}
}

// A takeover ends the old connection abnormally: its will is published.
func TestWillPublishedOnTakeover_MQTT_3_1_4_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V311)
	c.mustConnect("twin", true, withWill("will/twin", "old", 0, false))
	c2 := dial(t, addr, packet.V311)
	c2.mustConnect("twin", true)
	if p := sub.recvPublish(); p.Topic != "will/twin" {
		t.Fatalf("got %+v", p)
	}
	c.expectClosed()
}

// [MQTT5-3.1.3-9] a Will Delay Interval defers the will, and a reconnection
// within it cancels the will; the will properties are passed on.
func TestWillDelay_MQTT5_3_1_3_9(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	delayed := func(p *packet.Connect) {
		p.Properties.SessionExpiry = 60
		p.Properties.Set(packet.PropSessionExpiry)
		p.WillProperties.WillDelay = 1
		p.WillProperties.Set(packet.PropWillDelay)
		p.WillProperties.ContentType = "text/plain"
		p.WillProperties.Set(packet.PropContentType)
	}
	c := dial(t, addr, packet.V5)
	c.mustConnect("late", false, withWill("will/late", "bye", 0, false), delayed)
	start := time.Now()
	c.nc.Close()
	p := sub.recvPublish()
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("will published after %v, before its delay", d)
	}
	if p.Topic != "will/late" {
		t.Fatalf("got %+v", p)
	}

	// Reconnecting within the delay cancels it.
	c = dial(t, addr, packet.V5)
	c.mustConnect("back", false, withWill("will/back", "bye", 0, false), delayed)
	c.nc.Close()
	c = dial(t, addr, packet.V5)
	c.mustConnect("back", false)
	sub.expectNothing(1500 * time.Millisecond)
	c.disconnect()
}

// The will is published when the session ends before the will delay.
func TestWillPublishedAtSessionEnd_MQTT5_3_1_3_9(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := willSub(t, addr)
	c := dial(t, addr, packet.V5)
	c.mustConnect("short", true, withWill("will/short", "bye", 0, false), func(p *packet.Connect) {
		p.WillProperties.WillDelay = 3600
		p.WillProperties.Set(packet.PropWillDelay)
	})
	c.nc.Close() // session expiry 0: the session ends now
	if p := sub.recvPublish(); p.Topic != "will/short" {
		t.Fatalf("got %+v", p)
	}
}

// MQTT 5 subscription options: [MQTT5-3.8.3-3] No Local, [MQTT5-3.3.1-13]
// Retain As Published, [MQTT5-3.3.1-9] [MQTT5-3.3.1-10] [MQTT5-3.3.1-11]
// Retain Handling 0, 1 and 2.
func TestSubscriptionOptions_MQTT5_3_8_3_3(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("opts", true)
	sub := func(id uint16, filter string, o packet.SubOptions) {
		c.send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, Options: o}}})
		if p := c.recv(); p.Type() != packet.SUBACK {
			t.Fatalf("got %v", p)
		}
	}
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "ret/a", Retain: true, Payload: []byte("r")})
	pub.send(&packet.Pingreq{})
	pub.recv() // the retained message is stored once PINGRESP comes back

	sub(1, "ret/#", packet.SubOptions{RetainHandling: 2}) // never sent
	c.expectNothing(100 * time.Millisecond)
	sub(2, "ret/+", packet.SubOptions{RetainHandling: 1}) // new: sent
	if p := c.recvPublish(); !p.Retain || p.Topic != "ret/a" {
		t.Fatalf("got %+v", p)
	}
	sub(3, "ret/+", packet.SubOptions{RetainHandling: 1}) // exists: not sent
	c.expectNothing(100 * time.Millisecond)
	sub(4, "ret/a", packet.SubOptions{RetainHandling: 0}) // sent
	if p := c.recvPublish(); !p.Retain {
		t.Fatalf("got %+v", p)
	}

	// Retain As Published on a live delivery.
	sub(5, "rap", packet.SubOptions{RetainAsPublished: true})
	pub.send(&packet.Publish{Topic: "rap", Retain: true, Payload: []byte("x")})
	if p := c.recvPublish(); !p.Retain {
		t.Fatalf("Retain As Published: got RETAIN 0")
	}
	// No Local: the client's own message is not sent back to it.
	sub(6, "own", packet.SubOptions{NoLocal: true})
	c.send(&packet.Publish{Topic: "own", Payload: []byte("mine")})
	c.expectNothing(100 * time.Millisecond)
	pub.send(&packet.Publish{Topic: "own", Payload: []byte("theirs")})
	if p := c.recvPublish(); string(p.Payload) != "theirs" {
		t.Fatalf("got %+v", p)
	}
}
