package auth

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// authService answers by the password it receives: the password is the
// status and body to send, "status body".
func authService(t *testing.T, requests *atomic.Int64, last *atomic.Value) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req map[string]any
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		last.Store(req)
		pw, _ := req["password"].(string)
		if pw == "hang" {
			<-r.Context().Done()
			return
		}
		status, body, _ := strings.Cut(pw, " ")
		switch status {
		case "200":
			io.WriteString(w, body)
		case "401":
			w.WriteHeader(http.StatusUnauthorized)
		case "403":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPAnswers(t *testing.T) {
	var requests atomic.Int64
	var last atomic.Value
	srv := authService(t, &requests, &last)
	h := &HTTP{URL: srv.URL, Client: srv.Client()}
	ctx := context.Background()
	ask := func(password string) (Result, error) {
		return h.Authenticate(ctx, ConnInfo{ClientID: "c1", Username: "u", HasUsername: true,
			Password: []byte(password), HasPassword: true, Level: 5,
			RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})
	}
	for _, tc := range []struct {
		password string
		decision Decision
		code     packet.ReasonCode
		err      string
	}{
		{`200 {"result":"allow"}`, Accept, packet.Success, ""},
		{`200 {"result":"deny"}`, Deny, packet.BadUsernameOrPassword, ""},
		{`200 {"result":"deny","reason_code":135}`, Deny, packet.NotAuthorized, ""},
		{`200 {"result":"deny","reason_code":138}`, Deny, packet.Banned, ""},
		{`200 {"result":"ignore"}`, Defer, 0, ""},
		{`401`, Deny, packet.BadUsernameOrPassword, ""},
		{`403`, Deny, packet.NotAuthorized, ""},
		{`500`, 0, 0, "500 Internal Server Error"},
		{`200 not json`, 0, 0, "without a JSON result"},
		{`200 {"result":"maybe"}`, 0, 0, `without "result"`},
		{`200 {"result":"deny","reason_code":0}`, 0, 0, "reason_code 0"},
		{`200 {"result":"deny","reason_code":999}`, 0, 0, "out of range"},
	} {
		r, err := ask(tc.password)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %+v %v, want an error containing %q", tc.password, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.Decision != tc.decision || (tc.decision == Deny && r.Code != tc.code) {
			t.Errorf("%s: %+v %v, want decision %v code %v", tc.password, r, err, tc.decision, tc.code)
		}
	}
	req := last.Load().(map[string]any)
	if req["clientid"] != "c1" || req["username"] != "u" || req["remote_addr"] != "127.0.0.1:5000" || req["protocol_level"] != float64(5) {
		t.Errorf("request %v", req)
	}

	// Without a user name or password those fields are absent; a binary
	// password goes as base64.
	h.Authenticate(ctx, ConnInfo{ClientID: "c2", Password: []byte{0xff, 0x00}, HasPassword: true})
	req = last.Load().(map[string]any)
	if _, ok := req["username"]; ok {
		t.Errorf("username sent without one: %v", req)
	}
	if _, ok := req["password"]; ok || req["password_base64"] != "/wA=" {
		t.Errorf("binary password: %v", req)
	}
}

func TestHTTPTimeoutAndUnreachable(t *testing.T) {
	var requests atomic.Int64
	var last atomic.Value
	srv := authService(t, &requests, &last)
	h := &HTTP{URL: srv.URL, Client: srv.Client(), Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := h.Authenticate(context.Background(), ConnInfo{Username: "u", HasUsername: true, Password: []byte("hang"), HasPassword: true})
	if err == nil {
		t.Fatal("a hanging service gave no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	// A cancelled context stops the request too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&HTTP{URL: srv.URL}).Authenticate(ctx, ConnInfo{}); err == nil {
		t.Fatal("cancelled context gave no error")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := (&HTTP{URL: "http://" + addr}).Authenticate(context.Background(), ConnInfo{}); err == nil {
		t.Fatal("unreachable service gave no error")
	}
}

func TestHTTPCache(t *testing.T) {
	var requests atomic.Int64
	var last atomic.Value
	srv := authService(t, &requests, &last)
	clk := &clock{now: time.Unix(1_000_000, 0)}
	h := &HTTP{URL: srv.URL, Client: srv.Client(), CacheTTL: 10 * time.Second, CacheSize: 4, Now: clk.Now}
	ctx := context.Background()
	conn := func(user, password string) ConnInfo {
		return ConnInfo{ClientID: "c", Username: user, HasUsername: true, Password: []byte(password), HasPassword: true}
	}
	allow := `200 {"result":"allow"}`
	for i := 0; i < 3; i++ {
		if r, err := h.Authenticate(ctx, conn("u", allow)); err != nil || !r.OK() {
			t.Fatalf("%+v %v", r, err)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests for 3 identical logins within the TTL, want 1", n)
	}
	// Another password, user or client is another entry.
	h.Authenticate(ctx, conn("u", allow+" "))
	h.Authenticate(ctx, conn("v", allow))
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	// Denials are cached too; errors are not.
	h.Authenticate(ctx, conn("u", "401"))
	h.Authenticate(ctx, conn("u", "401"))
	h.Authenticate(ctx, conn("u", "500"))
	h.Authenticate(ctx, conn("u", "500"))
	if n := requests.Load(); n != 6 {
		t.Fatalf("%d requests, want 6", n)
	}
	// After the TTL the service is asked again.
	clk.Add(10 * time.Second)
	h.Authenticate(ctx, conn("u", allow))
	if n := requests.Load(); n != 7 {
		t.Fatalf("%d requests after the TTL, want 7", n)
	}
	h.mu.Lock()
	size := len(h.cache)
	h.mu.Unlock()
	if size > 4 {
		t.Fatalf("cache holds %d answers, want at most 4", size)
	}
}
