package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mechanism is the SASL mechanism name, used as the MQTT 5 Authentication
// Method.
const Mechanism = "SCRAM-SHA-256"

// MinIterations is the smallest iteration count RFC 7677 allows.
const MinIterations = 4096

// ErrAuthFailed reports a wrong proof (the client does not know the
// password) or a wrong server signature (the server does not know the
// credentials).
var ErrAuthFailed = errors.New("SCRAM-SHA-256 authentication failed")

// Credentials are what a server stores for a user: never the password.
type Credentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Keys are derived from a password: ClientKey proves the client,
// ServerKey the server, and StoredKey = H(ClientKey) is what a server
// checks the client's proof with.
type Keys struct {
	ClientKey, StoredKey, ServerKey []byte
}

// DeriveKeys computes the keys of password with salt and iterations
// (SaltedPassword = PBKDF2-HMAC-SHA-256, RFC 5802 section 3).
func DeriveKeys(password string, salt []byte, iterations int) (Keys, error) {
	if iterations < 1 {
		return Keys{}, fmt.Errorf("scram: iteration count %d", iterations)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return Keys{}, fmt.Errorf("scram: salted password: %w", err)
	}
	ck := HMAC(salted, "Client Key")
	stored := sha256.Sum256(ck)
	return Keys{ClientKey: ck, StoredKey: stored[:], ServerKey: HMAC(salted, "Server Key")}, nil
}

// NewCredentials derives the credentials of password with salt and the
// iteration count.
func NewCredentials(password string, salt []byte, iterations int) (Credentials, error) {
	k, err := DeriveKeys(password, salt, iterations)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{Salt: salt, Iterations: iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}, nil
}

// HMAC is HMAC-SHA-256 of msg with key.
func HMAC(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// AuthMessage joins the three messages the proofs sign.
func AuthMessage(clientFirstBare, serverFirst, clientFinalWithoutProof string) string {
	return clientFirstBare + "," + serverFirst + "," + clientFinalWithoutProof
}

// ClientProof is ClientKey XOR HMAC(StoredKey, AuthMessage).
func ClientProof(k Keys, authMessage string) []byte {
	p := HMAC(k.StoredKey, authMessage)
	subtle.XORBytes(p, p, k.ClientKey)
	return p
}

// VerifyProof reports whether proof was made with the ClientKey whose hash
// is storedKey, in constant time.
func VerifyProof(storedKey, proof []byte, authMessage string) bool {
	if len(proof) != sha256.Size || len(storedKey) != sha256.Size {
		return false
	}
	clientKey := HMAC(storedKey, authMessage)
	subtle.XORBytes(clientKey, clientKey, proof)
	h := sha256.Sum256(clientKey)
	return subtle.ConstantTimeCompare(h[:], storedKey) == 1
}

// ServerSignature is HMAC(ServerKey, AuthMessage).
func ServerSignature(serverKey []byte, authMessage string) []byte {
	return HMAC(serverKey, authMessage)
}

// NewNonce returns a random nonce of printable characters without a comma.
func NewNonce() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// EscapeName escapes a user name for a message: ',' as "=2C", '=' as "=3D".
func EscapeName(s string) string {
	if !strings.ContainsAny(s, ",=") {
		return s
	}
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// UnescapeName reverses EscapeName, refusing an '=' that is not "=2C" or
// "=3D", a comma, a NUL, and invalid UTF-8 (saslname, RFC 5802 section 7).
func UnescapeName(s string) (string, error) {
	if s == "" {
		return "", errors.New("scram: empty user name")
	}
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00,") {
		return "", errors.New("scram: user name is not valid UTF-8 without NUL and comma")
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("scram: user name with '=' not followed by 2C or 3D: %q", s)
		}
		i += 2
	}
	return b.String(), nil
}

// attrs splits a message into its attributes, checking each is one
// letter, '=' and a value ("a=1,b=2"; values may hold '=').
func attrs(msg string) ([]attr, error) {
	parts := strings.Split(msg, ",")
	out := make([]attr, len(parts))
	for i, p := range parts {
		if len(p) < 2 || p[1] != '=' || !isAlpha(p[0]) {
			return nil, fmt.Errorf("scram: malformed attribute %q", p)
		}
		out[i] = attr{p[0], p[2:]}
	}
	return out, nil
}

type attr struct {
	key byte
	val string
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// want checks that as[i] exists with key k and returns its value.
func want(as []attr, i int, k byte, msg string) (string, error) {
	if i >= len(as) {
		return "", fmt.Errorf("scram: %s without attribute %c", msg, k)
	}
	if as[i].key != k {
		return "", fmt.Errorf("scram: %s: attribute %c where %c is expected", msg, as[i].key, k)
	}
	return as[i].val, nil
}

// skipMext refuses a mandatory extension "m=" at the start of a message.
func skipMext(as []attr, msg string) error {
	if len(as) > 0 && as[0].key == 'm' {
		return fmt.Errorf("scram: %s with a mandatory extension, which is not supported", msg)
	}
	return nil
}

// validNonce checks printable ASCII without comma (RFC 5802 "printable").
func validNonce(n string) error {
	if n == "" {
		return errors.New("scram: empty nonce")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return fmt.Errorf("scram: nonce with byte %#x", c)
		}
	}
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeBase64(what, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("scram: %s is not base64: %w", what, err)
	}
	return b, nil
}

// ClientFirst is a parsed client-first-message.
type ClientFirst struct {
	GS2      string // the GS2 header, with its final comma ("n,,")
	AuthzID  string // the authorization identity, unescaped ("" if none)
	Username string // unescaped
	Nonce    string
	Bare     string // client-first-message-bare, as signed
}

// FormatClientFirst builds the client-first-message of username with
// nonce (no channel binding, no authorization identity) and returns it
// with its bare part.
func FormatClientFirst(username, nonce string) (msg, bare string) {
	bare = "n=" + EscapeName(username) + ",r=" + nonce
	return "n,," + bare, bare
}

// ParseClientFirst parses "gs2-header n=user,r=nonce[,ext]".
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, errors.New("scram: client-first message without GS2 header")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return cf, errors.New("scram: channel binding is not supported")
	default:
		return cf, fmt.Errorf("scram: client-first message with GS2 flag %q", flag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, errors.New("scram: client-first message with a truncated GS2 header")
	}
	if authz != "" {
		a, found := strings.CutPrefix(authz, "a=")
		if !found {
			return cf, fmt.Errorf("scram: malformed authorization identity %q", authz)
		}
		var err error
		if cf.AuthzID, err = UnescapeName(a); err != nil {
			return cf, err
		}
	}
	as, err := attrs(bare)
	if err != nil {
		return cf, err
	}
	if err := skipMext(as, "client-first message"); err != nil {
		return cf, err
	}
	user, err := want(as, 0, 'n', "client-first message")
	if err != nil {
		return cf, err
	}
	if cf.Username, err = UnescapeName(user); err != nil {
		return cf, err
	}
	if cf.Nonce, err = want(as, 1, 'r', "client-first message"); err != nil {
		return cf, err
	}
	if err := validNonce(cf.Nonce); err != nil {
		return cf, err
	}
	cf.GS2, cf.Bare = msg[:len(msg)-len(bare)], bare
	return cf, nil
}

// ServerFirst is a parsed server-first-message.
type ServerFirst struct {
	Nonce      string // the client's nonce followed by the server's
	Salt       []byte
	Iterations int
}

// FormatServerFirst builds "r=nonce,s=salt,i=iterations".
func FormatServerFirst(nonce string, salt []byte, iterations int) string {
	return "r=" + nonce + ",s=" + b64(salt) + ",i=" + strconv.Itoa(iterations)
}

// ParseServerFirst parses "r=nonce,s=salt,i=iterations[,ext]".
func ParseServerFirst(msg string) (ServerFirst, error) {
	var sf ServerFirst
	as, err := attrs(msg)
	if err != nil {
		return sf, err
	}
	if err := skipMext(as, "server-first message"); err != nil {
		return sf, err
	}
	if sf.Nonce, err = want(as, 0, 'r', "server-first message"); err != nil {
		return sf, err
	}
	if err := validNonce(sf.Nonce); err != nil {
		return sf, err
	}
	s, err := want(as, 1, 's', "server-first message")
	if err != nil {
		return sf, err
	}
	if sf.Salt, err = decodeBase64("salt", s); err != nil {
		return sf, err
	}
	if len(sf.Salt) == 0 {
		return sf, errors.New("scram: empty salt")
	}
	i, err := want(as, 2, 'i', "server-first message")
	if err != nil {
		return sf, err
	}
	n, err := strconv.Atoi(i)
	if err != nil || n < 1 || i[0] == '+' || i[0] == '0' {
		return sf, fmt.Errorf("scram: iteration count %q", i)
	}
	sf.Iterations = n
	return sf, nil
}

// ClientFinal is a parsed client-final-message.
type ClientFinal struct {
	ChannelBinding []byte // decoded c=: the GS2 header when not bound
	Nonce          string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof, as signed
}

// FormatClientFinalWithoutProof builds "c=base64(gs2),r=nonce".
func FormatClientFinalWithoutProof(gs2, nonce string) string {
	return "c=" + b64([]byte(gs2)) + ",r=" + nonce
}

// ParseClientFinal parses "c=cbind,r=nonce[,ext],p=proof".
func ParseClientFinal(msg string) (ClientFinal, error) {
	var cf ClientFinal
	i := strings.LastIndexByte(msg, ',')
	if i < 0 || !strings.HasPrefix(msg[i+1:], "p=") {
		return cf, errors.New("scram: client-final message without proof")
	}
	cf.WithoutProof = msg[:i]
	var err error
	if cf.Proof, err = decodeBase64("proof", msg[i+3:]); err != nil {
		return cf, err
	}
	as, err := attrs(cf.WithoutProof)
	if err != nil {
		return cf, err
	}
	c, err := want(as, 0, 'c', "client-final message")
	if err != nil {
		return cf, err
	}
	if cf.ChannelBinding, err = decodeBase64("channel binding", c); err != nil {
		return cf, err
	}
	if cf.Nonce, err = want(as, 1, 'r', "client-final message"); err != nil {
		return cf, err
	}
	return cf, validNonce(cf.Nonce)
}

// ParseServerFinal parses "v=signature" or "e=error" and returns the
// signature; a server error is an error naming it, wrapping ErrAuthFailed.
func ParseServerFinal(msg string) ([]byte, error) {
	as, err := attrs(msg)
	if err != nil {
		return nil, err
	}
	switch as[0].key {
	case 'e':
		return nil, fmt.Errorf("%w: the server says %q", ErrAuthFailed, as[0].val)
	case 'v':
		return decodeBase64("server signature", as[0].val)
	}
	return nil, fmt.Errorf("scram: server-final message with attribute %c", as[0].key)
}
