package broker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tern-mq/tern/packet"
)

func getJSON[T any](t *testing.T, url string) []T {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	var body struct{ Items []T }
	must(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Items
}

// GET /clients and /subscriptions list the sessions and subscriptions.
func TestAdminJSON(t *testing.T) {
	s, addr := startServer(t, Config{SysInterval: -1})
	hs := httptest.NewServer(s.AdminHandler())
	defer hs.Close()
	a := dial(t, addr, packet.V5)
	a.mustConnect("a", false, withProps(func(p *packet.Properties) {
		p.SessionExpiry = 60
		p.Set(packet.PropSessionExpiry)
	}), withLogin("alice", ""))
	a.subscribe(1, "x/#", 1)
	a.subscribe(2, "$share/g/y", 0)
	b := dial(t, addr, packet.V311)
	b.mustConnect("b", true)
	a.disconnect()
	eventually(t, "a offline", func() bool { return s.Stats().Clients == 1 })

	cls := getJSON[ClientView](t, hs.URL+"/clients")
	if len(cls) != 2 || cls[0].ClientID != "a" || cls[1].ClientID != "b" {
		t.Fatalf("clients %+v", cls)
	}
	if a := cls[0]; a.Connected || a.Subscriptions != 2 || a.Version != 5 || a.ExpiryInterval != 60 {
		t.Fatalf("a: %+v", a)
	}
	if b := cls[1]; !b.Connected || b.Remote == "" || b.Version != 4 || b.Subscriptions != 0 {
		t.Fatalf("b: %+v", b)
	}
	subs := getJSON[SubscriptionView](t, hs.URL+"/subscriptions")
	if len(subs) != 2 || subs[0].Filter != "$share/g/y" || subs[1].Filter != "x/#" || subs[1].QoS != 1 {
		t.Fatalf("subscriptions %+v", subs)
	}
	resp, err := http.Post(hs.URL+"/clients", "text/plain", nil)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /clients: %s", resp.Status)
	}
}
