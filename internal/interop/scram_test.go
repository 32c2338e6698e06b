package interop

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// scramAuth is a SCRAM-SHA-256 client (RFC 5802) for client.Options.Auth.
type scramAuth struct {
	user, password string
	first, authMsg string
	serverKey      []byte
}

func (*scramAuth) Method() string { return "SCRAM-SHA-256" }

func (a *scramAuth) Initial() ([]byte, error) {
	a.first = "n=" + a.user + ",r=interop-nonce"
	return []byte("n,," + a.first), nil
}

func (a *scramAuth) Challenge(data []byte) ([]byte, error) {
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(data), ",") {
		if len(kv) > 2 {
			attrs[kv[:1]] = kv[2:]
		}
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil {
		return nil, err
	}
	salted, err := pbkdf2.Key(sha256.New, a.password, salt, iter, sha256.Size)
	if err != nil {
		return nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	withoutProof := "c=biws,r=" + attrs["r"]
	a.authMsg = a.first + "," + string(data) + "," + withoutProof
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	sig := mac(stored[:], a.authMsg)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	a.serverKey = mac(mac(salted, "Server Key"), a.authMsg)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(clientKey)), nil
}

func (a *scramAuth) Success(data []byte) error {
	if string(data) != "v="+base64.StdEncoding.EncodeToString(a.serverKey) {
		return errors.New("wrong server signature")
	}
	return nil
}

// TestClientSCRAMAgainstBroker: Tern's client with a SCRAM-SHA-256
// Options.Auth connects to the broker's NewSCRAMSHA256 and checks the
// server's signature; a wrong password is refused.
func TestClientSCRAMAgainstBroker(t *testing.T) {
	cred, err := broker.NewSCRAMCredentials("s3cret", []byte("interop-salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(broker.Config{Logger: slog.New(slog.DiscardHandler),
		EnhancedAuth: []broker.EnhancedAuth{broker.NewSCRAMSHA256(func(u string) (broker.SCRAMCredentials, bool) {
			return cred, u == "ann"
		})}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	}()

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Servers: []string{ln.Addr().String()}, ClientID: "ann",
		Auth: &scramAuth{user: "ann", password: "s3cret"}})
	if err != nil {
		t.Fatalf("SCRAM connect: %v", err)
	}
	if err := c.Disconnect(ctx, packet.Success); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if c, err := client.Dial(ctx, client.Options{Servers: []string{ln.Addr().String()}, ClientID: "ann",
		Auth: &scramAuth{user: "ann", password: "guess"}}); err == nil {
		c.Disconnect(ctx, packet.Success)
		t.Fatal("a wrong password connected")
	}
}
