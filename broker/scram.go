package broker

import (
	"crypto/rand"

	"github.com/tern-mq/tern/internal/scram"
)

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication
// method: the CONNECT carries the client-first message, AUTH 0x18 the
// server-first, AUTH 0x18 the client-final, and CONNACK the server-final
// (the server's signature). Channel binding is not supported.

// SCRAMCredentials is what the server stores for a user: never the
// password itself.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewSCRAMCredentials derives the credentials of password with salt and
// the iteration count (4096 or more).
func NewSCRAMCredentials(password string, salt []byte, iterations int) (SCRAMCredentials, error) {
	c, err := scram.NewCredentials(password, salt, iterations)
	if err != nil {
		return SCRAMCredentials{}, err
	}
	return SCRAMCredentials(c), nil
}

// NewSCRAMSHA256 returns the SCRAM-SHA-256 method; lookup returns a user's
// credentials. An unknown user is refused at the end of the exchange,
// like a wrong password, with a salt that does not reveal it.
func NewSCRAMSHA256(lookup func(username string) (SCRAMCredentials, bool)) EnhancedAuth {
	k := make([]byte, 32)
	rand.Read(k)
	return &scramMethod{fakeKey: k, lookup: func(u string) (scram.Credentials, bool) {
		c, ok := lookup(u)
		return scram.Credentials(c), ok
	}}
}

type scramMethod struct {
	lookup  func(string) (scram.Credentials, bool)
	fakeKey []byte
}

func (*scramMethod) Method() string { return scram.Mechanism }

func (m *scramMethod) Start(string) AuthExchange {
	return &scramExchange{srv: scram.NewServer(m.lookup, m.fakeKey)}
}

type scramExchange struct {
	srv  *scram.Server
	step int
}

// Next takes client-first, then client-final.
func (x *scramExchange) Next(in []byte) ([]byte, bool, string, error) {
	x.step++
	if x.step == 1 {
		out, err := x.srv.First(in)
		return out, false, "", err
	}
	out, user, err := x.srv.Final(in)
	return out, err == nil, user, err
}
