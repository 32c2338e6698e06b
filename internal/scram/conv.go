package scram

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
)

// MaxIterations bounds the iteration count a client accepts from a
// server, so that a hostile server cannot make it compute for minutes.
const MaxIterations = 1 << 20

// Client is the client side of one conversation; First starts a new one,
// so a Client can be used again for the next connection.
type Client struct {
	username, password string
	// Nonce returns the client nonce; nil uses NewNonce. Tests set it.
	Nonce func() string

	step      int // 1 after First, 2 after Final, 0 when done
	bare      string
	gs2       string
	nonce     string
	signature []byte // the server signature expected in server-final

	// the keys of the last salt and iteration count, which servers keep
	// the same from one connection to the next.
	keySalt []byte
	keyIter int
	keys    Keys
}

// NewClient returns the client side of SCRAM-SHA-256 for username and
// password.
func NewClient(username, password string) *Client {
	return &Client{username: username, password: password}
}

// First starts a conversation and returns the client-first message.
func (c *Client) First() []byte {
	c.nonce = NewNonce()
	if c.Nonce != nil {
		c.nonce = c.Nonce()
	}
	var msg string
	msg, c.bare = FormatClientFirst(c.username, c.nonce)
	c.gs2 = msg[:len(msg)-len(c.bare)]
	c.step, c.signature = 1, nil
	return []byte(msg)
}

// Final answers the server-first message with the client-final message.
func (c *Client) Final(serverFirst []byte) ([]byte, error) {
	if c.step != 1 {
		return nil, errors.New("scram: server-first message out of sequence")
	}
	c.step = 0
	sf, err := ParseServerFirst(string(serverFirst))
	if err != nil {
		return nil, err
	}
	if len(sf.Nonce) <= len(c.nonce) || !strings.HasPrefix(sf.Nonce, c.nonce) {
		return nil, errors.New("scram: the server nonce does not extend the client nonce")
	}
	if sf.Iterations < MinIterations || sf.Iterations > MaxIterations {
		return nil, fmt.Errorf("scram: the server asks for %d iterations, outside [%d, %d]", sf.Iterations, MinIterations, MaxIterations)
	}
	if c.keys.ClientKey == nil || c.keyIter != sf.Iterations || !bytes.Equal(c.keySalt, sf.Salt) {
		k, err := DeriveKeys(c.password, sf.Salt, sf.Iterations)
		if err != nil {
			return nil, err
		}
		c.keys, c.keySalt, c.keyIter = k, sf.Salt, sf.Iterations
	}
	without := FormatClientFinalWithoutProof(c.gs2, sf.Nonce)
	am := AuthMessage(c.bare, string(serverFirst), without)
	c.signature = ServerSignature(c.keys.ServerKey, am)
	c.step = 2
	return []byte(without + ",p=" + b64(ClientProof(c.keys, am))), nil
}

// Verify checks the server-final message: a wrong server signature, or a
// server error, is an error wrapping ErrAuthFailed.
func (c *Client) Verify(serverFinal []byte) error {
	if c.step != 2 {
		return errors.New("scram: server-final message out of sequence")
	}
	c.step = 0
	sig, err := ParseServerFinal(string(serverFinal))
	if err != nil {
		return err
	}
	if !hmac.Equal(sig, c.signature) {
		return fmt.Errorf("%w: wrong server signature (the server does not know the credentials)", ErrAuthFailed)
	}
	return nil
}

// Server is the server side of one conversation.
type Server struct {
	lookup  func(username string) (Credentials, bool)
	fakeKey []byte
	// Nonce returns the server's part of the nonce; nil uses NewNonce.
	Nonce func() string

	step        int
	user        string
	known       bool
	cred        Credentials
	gs2         string
	bare        string
	serverFirst string
	nonce       string
}

// NewServer returns the server side of a conversation: lookup returns a
// user's credentials; an unknown user gets a salt derived from fakeKey, so
// that the exchange does not reveal whether the user exists, and is
// refused at the end like a wrong password.
func NewServer(lookup func(username string) (Credentials, bool), fakeKey []byte) *Server {
	return &Server{lookup: lookup, fakeKey: fakeKey}
}

// First reads the client-first message and returns the server-first one.
func (s *Server) First(clientFirst []byte) ([]byte, error) {
	if s.step != 0 {
		return nil, errors.New("scram: client-first message out of sequence")
	}
	s.step = -1
	cf, err := ParseClientFirst(string(clientFirst))
	if err != nil {
		return nil, err
	}
	if cf.AuthzID != "" && cf.AuthzID != cf.Username {
		return nil, errors.New("scram: an authorization identity other than the user is not supported")
	}
	s.user, s.gs2, s.bare = cf.Username, cf.GS2, cf.Bare
	s.cred, s.known = s.lookup(s.user)
	if !s.known {
		s.cred = Credentials{Salt: HMAC(s.fakeKey, s.user)[:16], Iterations: MinIterations}
	}
	server := NewNonce()
	if s.Nonce != nil {
		server = s.Nonce()
	}
	s.nonce = cf.Nonce + server
	s.serverFirst = FormatServerFirst(s.nonce, s.cred.Salt, s.cred.Iterations)
	s.step = 1
	return []byte(s.serverFirst), nil
}

// Final checks the client-final message and returns the server-final one
// and the authenticated user name. A wrong proof or an unknown user is
// ErrAuthFailed.
func (s *Server) Final(clientFinal []byte) ([]byte, string, error) {
	if s.step != 1 {
		return nil, "", errors.New("scram: client-final message out of sequence")
	}
	s.step = -1
	cf, err := ParseClientFinal(string(clientFinal))
	if err != nil {
		return nil, "", err
	}
	if cf.Nonce != s.nonce {
		return nil, "", errors.New("scram: nonce mismatch")
	}
	if string(cf.ChannelBinding) != s.gs2 {
		return nil, "", errors.New("scram: channel binding mismatch")
	}
	am := AuthMessage(s.bare, s.serverFirst, cf.WithoutProof)
	if !s.known || !VerifyProof(s.cred.StoredKey, cf.Proof, am) {
		return nil, "", ErrAuthFailed
	}
	return []byte("v=" + b64(ServerSignature(s.cred.ServerKey, am))), s.user, nil
}
