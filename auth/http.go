package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tern-mq/tern/packet"
)

// HTTP authenticates clients by asking a web service. For each CONNECT it
// POSTs a JSON object to URL:
//
//	{"clientid": "...", "username": "...", "password": "...",
//	 "remote_addr": "192.0.2.1:51234", "protocol_level": 5}
//
// "username" and "password" are present only when the CONNECT has them; a
// password that is not valid UTF-8 is sent as "password_base64" instead
// (standard base64). The service answers:
//
//   - 200 with {"result": "allow"}: accepted;
//   - 200 with {"result": "deny"}: refused with Bad user name or password,
//     or with "reason_code" when it is 134 (0x86), 135 (0x87) or 138
//     (0x8A, banned);
//   - 200 with {"result": "ignore"}: no opinion (Defer; next in a Chain);
//   - 401: refused, bad user name or password; 403: refused, not authorized.
//
// Any other status, an unreadable answer, a timeout or a network error is
// an error (the broker answers Server unavailable). Answers other than
// errors are cached for CacheTTL under a SHA-256 digest of client
// identifier, user name and password (the password itself is not kept).
type HTTP struct {
	URL string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds each request; 0 means five seconds.
	Timeout time.Duration
	// CacheTTL is how long an answer is reused; 0 disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the cached answers; 0 means 10,000.
	CacheSize int
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

type cached struct {
	r       Result
	expires time.Time
}

type httpRequest struct {
	ClientID       string  `json:"clientid"`
	Username       *string `json:"username,omitempty"`
	Password       *string `json:"password,omitempty"`
	PasswordBase64 *string `json:"password_base64,omitempty"`
	RemoteAddr     string  `json:"remote_addr,omitempty"`
	ProtocolLevel  byte    `json:"protocol_level,omitempty"`
}

type httpAnswer struct {
	Result     string `json:"result"`
	ReasonCode *int   `json:"reason_code"`
}

func (h *HTTP) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func cacheKey(c ConnInfo) [sha256.Size]byte {
	d := sha256.New()
	var n [8]byte
	for _, field := range [][]byte{[]byte(c.ClientID), []byte(c.Username), c.Password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		d.Write(n[:])
		d.Write(field)
	}
	flags := []byte{0, 0, c.Level}
	if c.HasUsername {
		flags[0] = 1
	}
	if c.HasPassword {
		flags[1] = 1
	}
	d.Write(flags)
	var k [sha256.Size]byte
	d.Sum(k[:0])
	return k
}

// Authenticate asks the service, or reuses a cached answer.
func (h *HTTP) Authenticate(ctx context.Context, c ConnInfo) (Result, error) {
	var key [sha256.Size]byte
	if h.CacheTTL > 0 {
		key = cacheKey(c)
		h.mu.Lock()
		e, ok := h.cache[key]
		h.mu.Unlock()
		if ok && h.now().Before(e.expires) {
			return e.r, nil
		}
	}
	r, err := h.ask(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if h.CacheTTL > 0 {
		h.store(key, r)
	}
	return r, nil
}

func (h *HTTP) store(key [sha256.Size]byte, r Result) {
	now := h.now()
	size := h.CacheSize
	if size <= 0 {
		size = 10000
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cache == nil {
		h.cache = make(map[[sha256.Size]byte]cached)
	}
	if len(h.cache) >= size {
		for k, e := range h.cache {
			if !now.Before(e.expires) {
				delete(h.cache, k)
			}
		}
		for k := range h.cache {
			if len(h.cache) < size {
				break
			}
			delete(h.cache, k)
		}
	}
	h.cache[key] = cached{r: r, expires: now.Add(h.CacheTTL)}
}

func (h *HTTP) ask(ctx context.Context, c ConnInfo) (Result, error) {
	req := httpRequest{ClientID: c.ClientID, ProtocolLevel: c.Level}
	if c.HasUsername {
		req.Username = &c.Username
	}
	if c.HasPassword {
		if utf8.Valid(c.Password) {
			s := string(c.Password)
			req.Password = &s
		} else {
			s := base64.StdEncoding.EncodeToString(c.Password)
			req.PasswordBase64 = &s
		}
	}
	if c.RemoteAddr != nil {
		req.RemoteAddr = c.RemoteAddr.String()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("auth http: %w", err)
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("auth http: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hr)
	if err != nil {
		return Result{}, fmt.Errorf("auth http: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Result{}, fmt.Errorf("auth http: reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return Denied(packet.BadUsernameOrPassword, "refused by "+h.URL), nil
	case http.StatusForbidden:
		return Denied(packet.NotAuthorized, "refused by "+h.URL), nil
	default:
		return Result{}, fmt.Errorf("auth http: %s answered %s", h.URL, resp.Status)
	}
	var a httpAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return Result{}, fmt.Errorf("auth http: %s answered 200 without a JSON result: %w", h.URL, err)
	}
	switch a.Result {
	case "allow":
		return Accepted, nil
	case "ignore":
		return Result{Decision: Defer}, nil
	case "deny":
		code := packet.BadUsernameOrPassword
		if a.ReasonCode != nil {
			switch rc := packet.ReasonCode(*a.ReasonCode); {
			case *a.ReasonCode < 0 || *a.ReasonCode > 255:
				return Result{}, fmt.Errorf("auth http: reason_code %d out of range", *a.ReasonCode)
			case rc == packet.BadUsernameOrPassword, rc == packet.NotAuthorized, rc == packet.Banned:
				code = rc
			default:
				return Result{}, fmt.Errorf("auth http: reason_code %d: want 134, 135 or 138", *a.ReasonCode)
			}
		}
		return Denied(code, "refused by "+h.URL), nil
	}
	return Result{}, errors.New("auth http: " + h.URL + ` answered 200 without "result": "allow", "deny" or "ignore"`)
}
