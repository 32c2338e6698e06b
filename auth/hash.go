package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Scheme names a password hashing scheme of a password file entry.
type Scheme string

// The schemes read in password files; the first two are written by
// Mosquitto's mosquitto_passwd.
const (
	// SHA512PBKDF2 is "$7$ITERATIONS$SALT$HASH": PBKDF2-HMAC-SHA512 of the
	// password with a 12-byte salt, 64-byte key (Mosquitto 2.0 and later).
	SHA512PBKDF2 Scheme = "sha512-pbkdf2"
	// SHA512 is "$6$SALT$HASH": SHA-512 of the password followed by the
	// 12-byte salt (Mosquitto 1.x). Read only: it is too fast to write.
	SHA512 Scheme = "sha512"
	// Argon2id is the PHC string "$argon2id$v=19$m=KIB,t=PASSES,p=LANES$SALT$HASH"
	// (unpadded base64), Tern's default for new entries.
	Argon2id Scheme = "argon2id"
)

// Parameters of the entries Tern writes.
const (
	// PBKDF2Iterations is mosquitto_passwd's default for $7$ entries.
	PBKDF2Iterations = 101
	// Argon2id costs: 19 MiB, 2 passes, 1 lane (OWASP's recommended minimum).
	argon2Memory  = 19 * 1024
	argon2Time    = 2
	argon2Threads = 1
	argon2KeyLen  = 32
	argon2SaltLen = 16

	mosquittoSaltLen = 12
	mosquittoHashLen = sha512.Size
)

// Limits on the costs read from a file, so that a damaged or hostile entry
// cannot make one login take minutes or gigabytes.
const (
	maxPBKDF2Iterations = 10_000_000
	maxArgon2Memory     = 1 << 20 // KiB: 1 GiB
	maxArgon2Time       = 64
	maxArgon2Threads    = 64
)

// hash is a parsed password file entry's hash, ready to verify.
type hash struct {
	scheme     Scheme
	iterations int    // $7$
	memory     uint32 // argon2id, KiB
	time       uint32 // argon2id
	threads    uint8  // argon2id
	salt, sum  []byte
}

var errUnknownScheme = errors.New("unknown hash format")

// parseHash parses the hash field of a password file line.
func parseHash(s string) (*hash, error) {
	switch {
	case strings.HasPrefix(s, "$6$"):
		parts := strings.Split(s[3:], "$")
		if len(parts) != 2 {
			return nil, fmt.Errorf("$6$ hash: want $6$SALT$HASH, got %d fields after $6$", len(parts))
		}
		return mosquittoHash(SHA512, 0, parts[0], parts[1])
	case strings.HasPrefix(s, "$7$"):
		parts := strings.Split(s[3:], "$")
		if len(parts) != 3 {
			return nil, fmt.Errorf("$7$ hash: want $7$ITERATIONS$SALT$HASH, got %d fields after $7$", len(parts))
		}
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 1 || n > maxPBKDF2Iterations {
			return nil, fmt.Errorf("$7$ hash: iterations %q: want an integer from 1 to %d", parts[0], maxPBKDF2Iterations)
		}
		return mosquittoHash(SHA512PBKDF2, n, parts[1], parts[2])
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	}
	shown, _, _ := strings.Cut(strings.TrimPrefix(s, "$"), "$")
	if len(shown) > 16 {
		shown = shown[:16] + "..."
	}
	return nil, fmt.Errorf("%w %q: want $7$ (sha512-pbkdf2), $6$ (sha512) or $argon2id$", errUnknownScheme, "$"+shown+"$")
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func mosquittoHash(scheme Scheme, iterations int, salt64, sum64 string) (*hash, error) {
	salt, err := decodeBase64(salt64)
	if err != nil {
		return nil, fmt.Errorf("%s hash: salt is not base64: %w", scheme, err)
	}
	// Mosquitto 2.0 writes 12-byte salts; later versions also read 64.
	if len(salt) != mosquittoSaltLen && len(salt) != mosquittoHashLen {
		return nil, fmt.Errorf("%s hash: salt of %d bytes, want %d", scheme, len(salt), mosquittoSaltLen)
	}
	sum, err := decodeBase64(sum64)
	if err != nil {
		return nil, fmt.Errorf("%s hash: hash is not base64: %w", scheme, err)
	}
	if len(sum) != mosquittoHashLen {
		return nil, fmt.Errorf("%s hash: hash of %d bytes, want %d", scheme, len(sum), mosquittoHashLen)
	}
	return &hash{scheme: scheme, iterations: iterations, salt: salt, sum: sum}, nil
}

func parseArgon2id(s string) (*hash, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, fmt.Errorf("argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("argon2id hash: version %q, want v=19", parts[2])
	}
	h := &hash{scheme: Argon2id}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id hash: parameter %q is not a number", kv)
		}
		switch k {
		case "m":
			if n < 8 || n > maxArgon2Memory {
				return nil, fmt.Errorf("argon2id hash: m=%d: want 8 to %d KiB", n, maxArgon2Memory)
			}
			h.memory, seen[0] = uint32(n), true
		case "t":
			if n < 1 || n > maxArgon2Time {
				return nil, fmt.Errorf("argon2id hash: t=%d: want 1 to %d", n, maxArgon2Time)
			}
			h.time, seen[1] = uint32(n), true
		case "p":
			if n < 1 || n > maxArgon2Threads {
				return nil, fmt.Errorf("argon2id hash: p=%d: want 1 to %d", n, maxArgon2Threads)
			}
			h.threads, seen[2] = uint8(n), true
		default:
			return nil, fmt.Errorf("argon2id hash: unknown parameter %q", kv)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, fmt.Errorf("argon2id hash: parameters %q: want m, t and p", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, fmt.Errorf("argon2id hash: salt is not unpadded base64 of at least 8 bytes")
	}
	if h.sum, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.sum) < 16 || len(h.sum) > 1024 {
		return nil, fmt.Errorf("argon2id hash: hash is not unpadded base64 of 16 to 1024 bytes")
	}
	return h, nil
}

// verify reports whether password matches, comparing in constant time.
func (h *hash) verify(password []byte) bool {
	var sum []byte
	switch h.scheme {
	case SHA512:
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		sum = d.Sum(nil)
	case SHA512PBKDF2:
		var err error
		sum, err = pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, mosquittoHashLen)
		if err != nil {
			return false
		}
	case Argon2id:
		sum = argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.sum)))
	default:
		return false
	}
	return subtle.ConstantTimeCompare(sum, h.sum) == 1
}

// HashPassword returns the hash field of a new password file entry for
// password, with a random salt: "$argon2id$..." for Argon2id, Mosquitto's
// "$7$101$..." for SHA512PBKDF2 (readable by Mosquitto 2). SHA512 is refused:
// it is kept for reading old files only.
func HashPassword(password []byte, scheme Scheme) (string, error) {
	switch scheme {
	case Argon2id:
		salt := make([]byte, argon2SaltLen)
		rand.Read(salt)
		sum := argon2.IDKey(password, salt, argon2Time, argon2Memory, argon2Threads, argon2KeyLen)
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argon2Memory, argon2Time, argon2Threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
	case SHA512PBKDF2:
		salt := make([]byte, mosquittoSaltLen)
		rand.Read(salt)
		sum, err := pbkdf2.Key(sha512.New, string(password), salt, PBKDF2Iterations, mosquittoHashLen)
		if err != nil {
			return "", fmt.Errorf("pbkdf2: %w", err)
		}
		return fmt.Sprintf("$7$%d$%s$%s", PBKDF2Iterations,
			base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum)), nil
	case SHA512:
		return "", fmt.Errorf("hash scheme %q is read only: write %q or %q", scheme, Argon2id, SHA512PBKDF2)
	}
	return "", fmt.Errorf("unknown hash scheme %q: want %q or %q", scheme, Argon2id, SHA512PBKDF2)
}
