package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// Quotas: subscriptions per client, topic length and levels, and slow
// consumers. Each refusal is logged and counted; a disconnection is a
// violation for the bans.

var errSlowConsumer = &packet.Error{Code: packet.QuotaExceeded, Reason: "message queue full for too long (slow consumer)"}

// checkTopicLimits refuses a PUBLISH topic name longer than MaxTopicLength
// bytes or with more than MaxTopicLevels levels: DISCONNECT 0x90 Topic
// Name invalid (closed before MQTT 5). An empty name (a topic alias) has
// been checked when the alias was set.
func (s *Server) checkTopicLimits(name string) error {
	if why := s.topicOverLimits(name); why != "" {
		s.stats.limits.topics.Add(1)
		return &packet.Error{Code: packet.TopicNameInvalid, Reason: "topic name " + why}
	}
	return nil
}

// topicOverLimits tells how a topic name or filter breaks MaxTopicLength
// or MaxTopicLevels ("" when it does not).
func (s *Server) topicOverLimits(t string) string {
	l := s.limits()
	if n := l.MaxTopicLength; n > 0 && len(t) > n {
		return fmt.Sprintf("of %d bytes, at most %d allowed", len(t), n)
	}
	if n := l.MaxTopicLevels; n > 0 && strings.Count(t, "/")+1 > n {
		return fmt.Sprintf("of %d levels, at most %d allowed", strings.Count(t, "/")+1, n)
	}
	return ""
}

// subscriptionQuota checks one filter of a SUBSCRIBE against
// MaxTopicLength and MaxTopicLevels (SUBACK 0x8F Topic Filter invalid) and
// MaxSubscriptions (SUBACK 0x97 Quota exceeded; a filter the client has
// already replaces its subscription and passes); 0x80 before MQTT 5. f is
// the filter as subscribed, inner without its $share/{group}/ prefix.
// c.cl.mu is held.
func (s *Server) subscriptionQuota(c *conn, f, inner string) (packet.ReasonCode, bool) {
	code, ok := packet.ReasonCode(0), true
	if why := s.topicOverLimits(inner); why != "" {
		s.stats.limits.topics.Add(1)
		s.log.Info("subscription refused: topic filter over the limits", "client", c.clientID(), "remote", c.remote,
			"filter", f, "why", why)
		code, ok = packet.TopicFilterInvalid, false
	} else if n := s.limits().MaxSubscriptions; n > 0 && len(c.cl.subs) >= n {
		if _, exists := c.cl.subs[f]; !exists {
			s.stats.limits.subscriptions.Add(1)
			s.log.Warn("subscription refused: quota exceeded", "client", c.clientID(), "remote", c.remote,
				"filter", f, "max", n)
			s.violation(c, c.clientID(), "subscription quota exceeded")
			code, ok = packet.QuotaExceeded, false
		}
	}
	if !ok && c.version != packet.V5 {
		code = packet.SubackFailure311 // [MQTT-3.9.3-2]
	}
	return code, ok
}

// overflow is what the quota sweep remembers of a client whose session
// drops messages for lack of room.
type overflow struct {
	since time.Time // first seen overflowing, in this series of sweeps
	drops uint64    // its session's queue-full drops at the last sweep
	seen  bool      // seen at the last sweep
}

// quotaLoop disconnects, every sweep, the connected clients that have been
// overflowing for SlowConsumerTimeout: their session's queue dropped
// messages for lack of room (MaxQueued, MaxQueuedBytes) since the previous
// sweep, or their QoS 0 backlog is at its bound, at every sweep since.
// They get DISCONNECT 0x97 Quota exceeded (MQTT 5; closed before).
func (s *Server) quotaLoop() {
	defer s.wg.Done()
	timeout := s.cfg.SlowConsumerTimeout
	t := time.NewTicker(min(max(timeout/4, 10*time.Millisecond), 5*time.Second))
	defer t.Stop()
	state := map[*client]*overflow{}
	var clients []*client
	for {
		select {
		case <-s.stopping:
			return
		case now := <-t.C:
			s.mu.Lock()
			for _, cl := range s.clients {
				clients = append(clients, cl)
			}
			s.mu.Unlock()
			for _, o := range state {
				o.seen = false
			}
			for i, cl := range clients {
				clients[i] = nil
				c, full, drops := s.overflowing(cl)
				o := state[cl]
				if c == nil {
					continue // not connected: forgotten below
				}
				if o == nil {
					o = &overflow{drops: drops}
					state[cl] = o
					full = full || drops > 0
				} else {
					full = full || drops > o.drops
				}
				o.seen, o.drops = true, drops
				switch {
				case !full:
					o.since = time.Time{}
				case o.since.IsZero():
					o.since = now
				case now.Sub(o.since) >= timeout:
					s.stats.limits.slowConsumers.Add(1)
					s.log.Warn("client disconnected: slow consumer, message queue full", "client", cl.id, "remote", c.remote,
						"for", now.Sub(o.since).Round(time.Millisecond), "timeout", timeout)
					o.since = time.Time{}
					s.violation(c, cl.id, "slow consumer")
					c.disconnectWith(errSlowConsumer)
				}
			}
			clients = clients[:0]
			for cl, o := range state {
				if !o.seen {
					delete(state, cl)
				}
			}
		}
	}
}

// overflowing returns the connection of cl (nil when offline), whether its
// QoS 0 backlog or its queue is at its bound, and the queue-full drops of
// its session.
func (s *Server) overflowing(cl *client) (c *conn, full bool, drops uint64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.conn == nil || cl.removed || cl.sess == nil {
		return nil, false, 0
	}
	st := cl.sess.Stats()
	n, b := cl.inbox.len()
	full = cl.qos0Pending >= s.cfg.MaxQueued || st.Queued+n >= s.cfg.MaxQueued ||
		st.QueuedBytes+b >= s.cfg.MaxQueuedBytes
	return cl.conn, full, st.Dropped[session.DropQueueFull]
}
