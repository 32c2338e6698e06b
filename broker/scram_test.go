package broker

import (
	"testing"

	"github.com/tern-mq/tern/internal/scram"
	"github.com/tern-mq/tern/packet"
)

// scramClient is the client side of SCRAM-SHA-256 with a fixed nonce.
func scramClient(user, password, nonce string) *scram.Client {
	c := scram.NewClient(user, password)
	c.Nonce = func() string { return nonce }
	return c
}

func scramServer(t *testing.T) string {
	cred, err := NewSCRAMCredentials("pencil", []byte("salt-of-user"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]SCRAMCredentials{"user": cred}
	_, addr := startServer(t, Config{EnhancedAuth: []EnhancedAuth{NewSCRAMSHA256(func(u string) (SCRAMCredentials, bool) {
		c, ok := users[u]
		return c, ok
	})}})
	return addr
}

func clientFinal(t *testing.T, sc *scram.Client, serverFirst []byte) []byte {
	t.Helper()
	b, err := sc.Final(serverFirst)
	if err != nil {
		t.Fatalf("server-first %q: %v", serverFirst, err)
	}
	return b
}

func scramConnect(id string, data []byte) *packet.Connect {
	p := &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: id, KeepAlive: 60}
	p.Properties.AuthMethod, p.Properties.AuthData = "SCRAM-SHA-256", data
	p.Properties.Set(packet.PropAuthMethod)
	p.Properties.Set(packet.PropAuthData)
	return p
}

func authPacket(data []byte) *packet.Auth {
	a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
	a.Properties.AuthMethod, a.Properties.AuthData = "SCRAM-SHA-256", data
	a.Properties.Set(packet.PropAuthMethod)
	a.Properties.Set(packet.PropAuthData)
	return a
}

// [MQTT5-4.12.0-2] [MQTT5-4.12.0-3] [MQTT5-4.12.0-5]: a SCRAM-SHA-256
// exchange: AUTH 0x18 with the method both ways, CONNACK with the method
// and the server's signature, which the client verifies; a wrong password
// gets CONNACK 0x87 [MQTT5-4.12.0-4].
func TestEnhancedAuthSCRAM_MQTT5_4_12_0_2(t *testing.T) {
	addr := scramServer(t)
	for _, tc := range []struct {
		password string
		want     packet.ReasonCode
	}{{"pencil", 0}, {"wrong", packet.NotAuthorized}} {
		c := dial(t, addr, packet.V5)
		sc := scramClient("user", tc.password, "fyko+d2lbbFgONRv9qkxdawL")
		c.send(scramConnect("scram", sc.First()))
		a, ok := c.recv().(*packet.Auth)
		if !ok || a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthMethod != "SCRAM-SHA-256" {
			t.Fatalf("got %+v, want AUTH 0x18 with the method", a)
		}
		c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
		ack, ok := c.recv().(*packet.Connack)
		if !ok || ack.ReasonCode != tc.want {
			t.Fatalf("password %q: got %+v, want CONNACK %#x", tc.password, ack, byte(tc.want))
		}
		if tc.want != 0 {
			c.expectClosed()
			continue
		}
		if ack.Properties.AuthMethod != "SCRAM-SHA-256" {
			t.Fatalf("CONNACK Authentication Method %q", ack.Properties.AuthMethod)
		}
		if err := sc.Verify(ack.Properties.AuthData); err != nil {
			t.Fatalf("server signature %q: %v", ack.Properties.AuthData, err)
		}
		c.subscribe(1, "x", 0) // connected
	}
}

// [MQTT5-4.12.0-1]: an unknown method is CONNACK 0x8C; a packet other
// than AUTH during the exchange is a protocol error; an unknown user is
// refused like a wrong password.
func TestEnhancedAuthRefusals_MQTT5_4_12_0_1(t *testing.T) {
	addr := scramServer(t)
	c := dial(t, addr, packet.V5)
	p := scramConnect("m", nil)
	p.Properties.AuthMethod = "KERBEROS"
	c.send(p)
	if ack := c.recv().(*packet.Connack); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("CONNACK %#x, want 0x8C", byte(ack.ReasonCode))
	}

	c = dial(t, addr, packet.V5)
	sc := scramClient("user", "pencil", "abc")
	c.send(scramConnect("m", sc.First()))
	c.recv()
	c.send(&packet.Pingreq{})
	if ack, ok := c.recv().(*packet.Connack); !ok || ack.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v, want CONNACK 0x82", ack)
	}

	c = dial(t, addr, packet.V5)
	sc = scramClient("nobody", "pencil", "abc")
	c.send(scramConnect("m", sc.First()))
	a := c.recv().(*packet.Auth)
	c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
	if ack := c.recv().(*packet.Connack); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("unknown user: CONNACK %#x, want 0x87", byte(ack.ReasonCode))
	}
}

// [MQTT5-4.12.1-1]: re-authentication after CONNACK: AUTH 0x19, AUTH 0x18
// both ways, AUTH 0x00 with the server's signature; a failed one is
// DISCONNECT 0x87 [MQTT5-4.12.1-2]; AUTH from a client that connected
// without a method is a protocol error [MQTT5-4.12.0-7].
func TestEnhancedReauth_MQTT5_4_12_1_1(t *testing.T) {
	addr := scramServer(t)
	c := dial(t, addr, packet.V5)
	sc := scramClient("user", "pencil", "first")
	c.send(scramConnect("re", sc.First()))
	a := c.recv().(*packet.Auth)
	c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
	if ack := c.recv().(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	for _, password := range []string{"pencil", "wrong"} {
		sc = scramClient("user", password, "again-"+password)
		re := authPacket(sc.First())
		re.ReasonCode = packet.ReAuthenticate
		c.send(re)
		a = c.recv().(*packet.Auth)
		if a.ReasonCode != packet.ContinueAuthentication {
			t.Fatalf("AUTH %#x, want 0x18", byte(a.ReasonCode))
		}
		c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
		if password == "wrong" {
			c.expectDisconnect(packet.NotAuthorized)
			break
		}
		a = c.recv().(*packet.Auth)
		if a.ReasonCode != packet.Success {
			t.Fatalf("AUTH %#x, want 0x00", byte(a.ReasonCode))
		}
		if err := sc.Verify(a.Properties.AuthData); err != nil {
			t.Fatalf("re-authentication signature %q: %v", a.Properties.AuthData, err)
		}
		c.subscribe(1, "still/connected", 0)
	}

	plain := dial(t, addr, packet.V5)
	plain.mustConnect("plain", true)
	plain.send(authPacket(nil))
	plain.expectDisconnect(packet.ProtocolError)
}
