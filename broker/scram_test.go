package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tern-mq/tern/packet"
)

// scramClient is the client side of SCRAM-SHA-256, written from RFC 5802.
type scramClient struct {
	user, password, cnonce string
	first, authMsg         string
	serverKey              []byte
}

func (c *scramClient) clientFirst() []byte {
	c.first = "n=" + c.user + ",r=" + c.cnonce
	return []byte("n,," + c.first)
}

func (c *scramClient) clientFinal(t *testing.T, serverFirst string) []byte {
	attrs := scramAttrs(serverFirst)
	if !strings.HasPrefix(attrs["r"], c.cnonce) {
		t.Fatalf("server nonce %q does not extend %q", attrs["r"], c.cnonce)
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	var iter int
	for _, ch := range attrs["i"] {
		iter = iter*10 + int(ch-'0')
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + attrs["r"]
	c.authMsg = c.first + "," + serverFirst + "," + withoutProof
	return []byte(withoutProof + ",p=" + c.proof(t, salt, iter))
}

// proof computes the ClientProof of c.authMsg and keeps the ServerKey.
func (c *scramClient) proof(t *testing.T, salt []byte, iter int) string {
	salted := pbkdf(t, c.password, salt, iter)
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	sig := hmacSHA256(stored[:], c.authMsg)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	c.serverKey = hmacSHA256(salted, "Server Key")
	return base64.StdEncoding.EncodeToString(proof)
}

// The test client reproduces the example of RFC 7677 section 3.
func TestSCRAMClientRFC7677(t *testing.T) {
	c := &scramClient{user: "user", password: "pencil"}
	c.authMsg = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	if p := c.proof(t, salt, 4096); p != "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" {
		t.Fatalf("proof %s", p)
	}
	if v := base64.StdEncoding.EncodeToString(hmacSHA256(c.serverKey, c.authMsg)); v != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server signature %s", v)
	}
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// pbkdf is PBKDF2-HMAC-SHA-256 for one block, written out (RFC 8018).
func pbkdf(t *testing.T, password string, salt []byte, iter int) []byte {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(password))
	mac.Write(salt)
	mac.Write([]byte{0, 0, 0, 1})
	u := mac.Sum(nil)
	out := append([]byte(nil), u...)
	for range iter - 1 {
		mac.Reset()
		mac.Write(u)
		u = mac.Sum(nil)
		for i := range out {
			out[i] ^= u[i]
		}
	}
	return out
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
		sc := &scramClient{user: "user", password: tc.password, cnonce: "fyko+d2lbbFgONRv9qkxdawL"}
		c.send(scramConnect("scram", sc.clientFirst()))
		a, ok := c.recv().(*packet.Auth)
		if !ok || a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthMethod != "SCRAM-SHA-256" {
			t.Fatalf("got %+v, want AUTH 0x18 with the method", a)
		}
		c.send(authPacket(sc.clientFinal(t, string(a.Properties.AuthData))))
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
		want := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(sc.serverKey, sc.authMsg))
		if string(ack.Properties.AuthData) != want {
			t.Fatalf("server signature %q, want %q", ack.Properties.AuthData, want)
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
	sc := &scramClient{user: "user", password: "pencil", cnonce: "abc"}
	c.send(scramConnect("m", sc.clientFirst()))
	c.recv()
	c.send(&packet.Pingreq{})
	if ack, ok := c.recv().(*packet.Connack); !ok || ack.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v, want CONNACK 0x82", ack)
	}

	c = dial(t, addr, packet.V5)
	sc = &scramClient{user: "nobody", password: "pencil", cnonce: "abc"}
	c.send(scramConnect("m", sc.clientFirst()))
	a := c.recv().(*packet.Auth)
	c.send(authPacket(sc.clientFinal(t, string(a.Properties.AuthData))))
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
	sc := &scramClient{user: "user", password: "pencil", cnonce: "first"}
	c.send(scramConnect("re", sc.clientFirst()))
	a := c.recv().(*packet.Auth)
	c.send(authPacket(sc.clientFinal(t, string(a.Properties.AuthData))))
	if ack := c.recv().(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	for _, password := range []string{"pencil", "wrong"} {
		sc = &scramClient{user: "user", password: password, cnonce: "again-" + password}
		re := authPacket(sc.clientFirst())
		re.ReasonCode = packet.ReAuthenticate
		c.send(re)
		a = c.recv().(*packet.Auth)
		if a.ReasonCode != packet.ContinueAuthentication {
			t.Fatalf("AUTH %#x, want 0x18", byte(a.ReasonCode))
		}
		c.send(authPacket(sc.clientFinal(t, string(a.Properties.AuthData))))
		if password == "wrong" {
			c.expectDisconnect(packet.NotAuthorized)
			break
		}
		a = c.recv().(*packet.Auth)
		want := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(sc.serverKey, sc.authMsg))
		if a.ReasonCode != packet.Success || string(a.Properties.AuthData) != want {
			t.Fatalf("AUTH %#x data %q, want 0x00 %q", byte(a.ReasonCode), a.Properties.AuthData, want)
		}
		c.subscribe(1, "still/connected", 0)
	}

	plain := dial(t, addr, packet.V5)
	plain.mustConnect("plain", true)
	plain.send(authPacket(nil))
	plain.expectDisconnect(packet.ProtocolError)
}
