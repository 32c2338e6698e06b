package broker

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ClientView describes a client session for the administration endpoints.
type ClientView struct {
	ClientID      string `json:"client_id"`
	Connected     bool   `json:"connected"`
	Remote        string `json:"remote,omitempty"`   // the connection's address, while connected
	Username      string `json:"username,omitempty"` // of the current connection
	Version       int    `json:"protocol_level"`     // 3, 4 or 5: of the current or last connection
	Subscriptions int    `json:"subscriptions"`
	Queued        int    `json:"queued"` // messages queued, waiting for the window or the client
	QueuedBytes   int    `json:"queued_bytes"`
	InFlight      int    `json:"inflight"` // outbound QoS 1/2 flows unacknowledged
	// ExpiryInterval is the session expiry interval in seconds
	// (4294967295: never).
	ExpiryInterval uint32 `json:"expiry_interval"`
}

// SubscriptionView describes one subscription.
type SubscriptionView struct {
	ClientID string `json:"client_id"`
	Filter   string `json:"filter"` // as subscribed, "$share/{group}/" included
	QoS      int    `json:"qos"`
	NoLocal  bool   `json:"no_local,omitempty"`
	// RetainAsPublished and RetainHandling are the MQTT 5 options.
	RetainAsPublished bool `json:"retain_as_published,omitempty"`
	RetainHandling    int  `json:"retain_handling,omitempty"`
}

// Clients returns a snapshot of the client sessions, connected or not,
// sorted by client identifier; each session is locked briefly.
func (s *Server) Clients() []ClientView {
	out := make([]ClientView, 0)
	for _, cl := range s.clientList() {
		cl.mu.Lock()
		ci := ClientView{ClientID: cl.id, Version: int(cl.version), Subscriptions: len(cl.subs), ExpiryInterval: cl.expiry}
		if c := cl.conn; c != nil && !cl.removed {
			ci.Connected, ci.Remote, ci.Username = true, c.remote, c.authz.Username
		}
		if cl.sess != nil {
			st := cl.sess.Stats()
			ci.Queued, ci.QueuedBytes, ci.InFlight = st.Queued, st.QueuedBytes, st.InFlight
		}
		n, b := cl.inbox.len()
		ci.Queued += n
		ci.QueuedBytes += b
		removed := cl.removed
		cl.mu.Unlock()
		if !removed {
			out = append(out, ci)
		}
	}
	slices.SortFunc(out, func(a, b ClientView) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Subscriptions returns a snapshot of the subscriptions, sorted by client
// identifier and filter.
func (s *Server) Subscriptions() []SubscriptionView {
	out := make([]SubscriptionView, 0)
	for _, cl := range s.clientList() {
		cl.mu.Lock()
		if !cl.removed {
			for f, sub := range cl.subs {
				out = append(out, SubscriptionView{ClientID: cl.id, Filter: f, QoS: int(sub.qos), NoLocal: sub.noLocal,
					RetainAsPublished: sub.rap, RetainHandling: int(sub.rh)})
			}
		}
		cl.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b SubscriptionView) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Filter, b.Filter)
	})
	return out
}

func (s *Server) clientList() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	cls := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		cls = append(cls, cl)
	}
	return cls
}

// serveJSON answers GET with v() as JSON.
func serveJSON[T any](v func() T) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "items": v()})
	}
}
