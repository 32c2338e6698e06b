package client

import (
	"sync"

	"github.com/tern-mq/tern/internal/scram"
)

// SCRAMSHA256 returns the SCRAM-SHA-256 enhanced authentication method
// (RFC 5802, RFC 7677) for Options.Auth, with the user's name and
// password: CONNECT carries the client-first message, the server's AUTH
// 0x18 the server-first, the client's AUTH 0x18 the client-final, and the
// CONNACK the server's signature, which is verified: a server that does
// not know the credentials fails the connection. The Username and
// Password of Options are not needed with it.
//
// The keys derived from the password are kept for the next connection
// while the server's salt and iteration count do not change; the server
// must ask for 4096 to 1048576 iterations.
func SCRAMSHA256(username, password string) Authenticator {
	// A name SCRAM cannot carry (empty, invalid UTF-8, NUL) fails each
	// connection attempt before anything is sent.
	_, err := scram.UnescapeName(scram.EscapeName(username))
	return &scramAuth{c: scram.NewClient(username, password), nameErr: err}
}

type scramAuth struct {
	mu      sync.Mutex
	c       *scram.Client
	nameErr error
}

func (*scramAuth) Method() string { return scram.Mechanism }

func (a *scramAuth) Initial() ([]byte, error) {
	if a.nameErr != nil {
		return nil, a.nameErr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.First(), nil
}

func (a *scramAuth) Challenge(data []byte) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.Final(data)
}

func (a *scramAuth) Success(data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.Verify(data)
}
