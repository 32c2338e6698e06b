package client_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// hmacAuth is a small challenge-response method: the client proves it
// knows the secret by the HMAC of the server's challenge, and the server
// proves it by the HMAC of "ok" and the challenge in CONNACK.
type hmacAuth struct {
	secret    []byte
	challenge []byte
}

func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func (a *hmacAuth) Method() string           { return "test-hmac" }
func (a *hmacAuth) Initial() ([]byte, error) { return []byte("hello"), nil }
func (a *hmacAuth) Challenge(d []byte) ([]byte, error) {
	a.challenge = append([]byte(nil), d...)
	return mac(a.secret, d), nil
}
func (a *hmacAuth) Success(d []byte) error {
	if !hmac.Equal(d, mac(a.secret, []byte("ok"), a.challenge)) {
		return errors.New("server proof does not match")
	}
	return nil
}

// authServer runs the server side of test-hmac with secret, or answers
// with an AUTH of another method when otherMethod is set.
func authServer(t *testing.T, secret []byte, otherMethod bool) string {
	return fakeServer(t, func(_ int, nc net.Conn, br *bufio.Reader) {
		c, err := readConnect(br)
		if err != nil || c.Properties.AuthMethod != "test-hmac" || string(c.Properties.AuthData) != "hello" {
			send(nc, &packet.Connack{ReasonCode: packet.BadAuthenticationMethod}, packet.V5)
			return
		}
		challenge := []byte("nonce-1234")
		a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		a.Properties.AuthMethod = "test-hmac"
		if otherMethod {
			a.Properties.AuthMethod = "other"
		}
		a.Properties.Set(packet.PropAuthMethod)
		a.Properties.AuthData = challenge
		a.Properties.Set(packet.PropAuthData)
		send(nc, a, packet.V5)
		p, err := packet.ReadPacket(br, packet.V5, 0)
		if err != nil {
			return
		}
		resp, ok := p.(*packet.Auth)
		if !ok || !hmac.Equal(resp.Properties.AuthData, mac(secret, challenge)) {
			send(nc, &packet.Connack{ReasonCode: packet.BadUsernameOrPassword}, packet.V5)
			return
		}
		ca := &packet.Connack{}
		ca.Properties.AuthMethod = "test-hmac"
		ca.Properties.Set(packet.PropAuthMethod)
		ca.Properties.AuthData = mac(secret, []byte("ok"), challenge)
		ca.Properties.Set(packet.PropAuthData)
		send(nc, ca, packet.V5)
		for {
			if _, err := packet.ReadPacket(br, packet.V5, 0); err != nil {
				return
			}
		}
	})
}

func TestEnhancedAuth(t *testing.T) {
	ctx := testCtx(t)
	url := authServer(t, []byte("s3cret"), false)
	c := dialConn(t, url, client.Options{Auth: &hmacAuth{secret: []byte("s3cret")}})
	if c.Connack().Properties.AuthMethod != "test-hmac" {
		t.Fatal("no authentication method in CONNACK")
	}
	// Wrong secret: the server refuses, named in words.
	_, err := client.Dial(ctx, client.Options{Servers: []string{url}, Auth: &hmacAuth{secret: []byte("wrong")}})
	var re *client.ReasonError
	if !errors.As(err, &re) || re.Code != packet.BadUsernameOrPassword || !strings.Contains(err.Error(), "bad user name or password") {
		t.Fatalf("wrong secret: %v", err)
	}
	// A server that cannot prove the secret is left.
	other := authServer(t, []byte("impostor"), false)
	if _, err := client.Dial(ctx, client.Options{Servers: []string{other}, Auth: &hmacAuth{secret: []byte("impostor2")}}); err == nil {
		t.Fatal("unproven server accepted")
	}
	// AUTH with another method is a protocol error.
	odd := authServer(t, []byte("s3cret"), true)
	_, err = client.Dial(ctx, client.Options{Servers: []string{odd}, Auth: &hmacAuth{secret: []byte("s3cret")}})
	if err == nil || !strings.Contains(err.Error(), "another authentication method") {
		t.Fatalf("other method: %v", err)
	}
	// AUTH without Options.Auth is a protocol error too.
	if _, err := client.Dial(ctx, client.Options{Servers: []string{odd}}); err == nil {
		t.Fatal("unrequested AUTH accepted")
	}
}
