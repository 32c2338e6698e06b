package broker

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
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
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return SCRAMCredentials{}, err
	}
	clientKey := scramHMAC(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return SCRAMCredentials{Salt: salt, Iterations: iterations, StoredKey: stored[:], ServerKey: scramHMAC(salted, "Server Key")}, nil
}

func scramHMAC(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// NewSCRAMSHA256 returns the SCRAM-SHA-256 method; lookup returns a user's
// credentials. An unknown user is refused at the end of the exchange,
// like a wrong password, with a salt that does not reveal it.
func NewSCRAMSHA256(lookup func(username string) (SCRAMCredentials, bool)) EnhancedAuth {
	k := make([]byte, 32)
	rand.Read(k)
	return &scramMethod{lookup: lookup, fakeKey: k}
}

type scramMethod struct {
	lookup  func(string) (SCRAMCredentials, bool)
	fakeKey []byte
}

func (*scramMethod) Method() string { return "SCRAM-SHA-256" }

func (m *scramMethod) Start(string) AuthExchange { return &scramExchange{m: m} }

type scramExchange struct {
	m           *scramMethod
	step        int
	user        string
	known       bool
	cred        SCRAMCredentials
	gs2         string // the GS2 header of client-first
	clientFirst string // client-first-message-bare
	serverFirst string
	nonce       string
}

var errSCRAM = errors.New("SCRAM-SHA-256 authentication failed")

func (x *scramExchange) Next(in []byte) ([]byte, bool, string, error) {
	x.step++
	switch x.step {
	case 1:
		return x.first(string(in))
	case 2:
		return x.final(string(in))
	}
	return nil, false, "", errSCRAM
}

// first reads "n,,n=user,r=cnonce" and answers "r=nonce,s=salt,i=n".
func (x *scramExchange) first(msg string) ([]byte, bool, string, error) {
	// GS2 header: "n" or "y" (no channel binding), an optional authzid.
	if !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,") {
		return nil, false, "", errors.New("SCRAM: channel binding is not supported")
	}
	i := strings.IndexByte(msg[2:], ',')
	if i < 0 {
		return nil, false, "", errors.New("SCRAM: malformed client-first message")
	}
	x.gs2, x.clientFirst = msg[:2+i+1], msg[2+i+1:]
	attrs := scramAttrs(x.clientFirst)
	user, cnonce := attrs["n"], attrs["r"]
	if user == "" || cnonce == "" {
		return nil, false, "", errors.New("SCRAM: client-first message without user name or nonce")
	}
	x.user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(user)
	x.cred, x.known = x.m.lookup(x.user)
	if !x.known {
		x.cred = SCRAMCredentials{Salt: scramHMAC(x.m.fakeKey, x.user)[:16], Iterations: 4096}
	}
	var b [18]byte
	rand.Read(b[:])
	x.nonce = cnonce + base64.RawStdEncoding.EncodeToString(b[:])
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.cred.Salt) + ",i=" + strconv.Itoa(x.cred.Iterations)
	return []byte(x.serverFirst), false, "", nil
}

// final checks "c=...,r=nonce,p=proof" and answers "v=signature".
func (x *scramExchange) final(msg string) ([]byte, bool, string, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, "", errors.New("SCRAM: client-final message without proof")
	}
	withoutProof := msg[:i]
	attrs := scramAttrs(withoutProof)
	if attrs["r"] != x.nonce || attrs["c"] != base64.StdEncoding.EncodeToString([]byte(x.gs2)) {
		return nil, false, "", errors.New("SCRAM: nonce or channel binding mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) != sha256.Size || !x.known {
		return nil, false, "", errSCRAM
	}
	authMsg := x.clientFirst + "," + x.serverFirst + "," + withoutProof
	sig := scramHMAC(x.cred.StoredKey, authMsg)
	clientKey := make([]byte, sha256.Size)
	subtle.XORBytes(clientKey, proof, sig)
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], x.cred.StoredKey) != 1 {
		return nil, false, "", errSCRAM
	}
	v := "v=" + base64.StdEncoding.EncodeToString(scramHMAC(x.cred.ServerKey, authMsg))
	return []byte(v), true, x.user, nil
}

// scramAttrs splits "a=1,b=2" (values may contain '=').
func scramAttrs(s string) map[string]string {
	m := make(map[string]string, 4)
	for _, kv := range strings.Split(s, ",") {
		if len(kv) >= 2 && kv[1] == '=' {
			m[kv[:1]] = kv[2:]
		}
	}
	return m
}
