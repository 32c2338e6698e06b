package broker

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
)

// limitCounters count what the limits of Config refused.
type limitCounters struct {
	connections atomic.Int64 // connections closed at accept: MaxConnections reached
	clientIDs   atomic.Int64 // CONNECT refused: client identifier too long
	rate        atomic.Int64 // clients disconnected for publishing too fast
	connRate    atomic.Int64 // connections closed at accept: ConnectionRate exceeded
	banned      atomic.Int64 // connections and CONNECTs refused: banned
	addrBans    atomic.Int64 // bans of addresses begun
	idBans      atomic.Int64 // bans of client identifiers begun
	// listenerConns counts connections closed at accept:
	// MaxConnectionsPerListener reached.
	listenerConns atomic.Int64
	// topics counts topic names and filters over MaxTopicLength or
	// MaxTopicLevels, subscriptions the filters beyond MaxSubscriptions,
	// slowConsumers the clients disconnected by SlowConsumerTimeout.
	topics, subscriptions, slowConsumers atomic.Int64
}

var errRateTooHigh = &packet.Error{Code: packet.MessageRateTooHigh, Reason: "publish rate limit exceeded"}

// listenerSlots counts the open connections of one listener (Serve);
// guarded by Server.mu.
type listenerSlots struct{ open int }

// overConnectionLimitLocked reports whether a new connection from the
// listener of slots would exceed MaxConnections or
// MaxConnectionsPerListener; s.mu is held.
func (s *Server) overConnectionLimitLocked(slots *listenerSlots) bool {
	l := s.limits()
	return (l.MaxConnections > 0 && len(s.conns) >= l.MaxConnections) ||
		(l.MaxConnectionsPerListener > 0 && slots != nil && slots.open >= l.MaxConnectionsPerListener)
}

// takeSlot counts c in its listener's connections; s.mu is held.
func (s *Server) takeSlot(c *conn, slots *listenerSlots) {
	if slots != nil {
		slots.open++
		c.slots = slots
	}
}

// releaseSlot uncounts c; s.mu is held.
func (s *Server) releaseSlot(c *conn) {
	if c.slots != nil {
		c.slots.open--
		c.slots = nil
	}
}

// refuseConnection closes a connection beyond MaxConnections or
// MaxConnectionsPerListener.
func (s *Server) refuseConnection(c *conn, slots *listenerSlots) {
	remote := c.nc.RemoteAddr().String()
	s.mu.Lock()
	l, open, perListener := s.limits(), len(s.conns), 0
	if slots != nil {
		perListener = slots.open
	}
	s.mu.Unlock()
	if l.MaxConnections > 0 && open >= l.MaxConnections {
		s.stats.limits.connections.Add(1)
		s.log.Warn("connection refused: max connections reached", "remote", remote, "max", l.MaxConnections)
	} else {
		s.stats.limits.listenerConns.Add(1)
		s.log.Warn("connection refused: max connections of the listener reached", "remote", remote,
			"listener", c.nc.LocalAddr().String(), "max", l.MaxConnectionsPerListener, "open", perListener)
	}
	c.nc.Close()
}

// checkClientID refuses a client identifier longer than MaxClientIDLength
// with Client Identifier not valid (0x85; 0x02 before MQTT 5)
// [MQTT-3.1.3-5] [MQTT5-3.1.3-5] allow a server to restrict identifiers.
func (s *Server) checkClientID(c *conn, p *packet.Connect) error {
	if err := s.checkBanned(c, p); err != nil {
		return err
	}
	maxLen := s.limits().MaxClientIDLength
	if maxLen <= 0 || len(p.ClientID) <= maxLen {
		return nil
	}
	s.stats.limits.clientIDs.Add(1)
	s.violation(c, "", "client identifier too long")
	code := packet.ConnRefusedIdentifierRejected
	if p.Version == packet.V5 {
		code = packet.ClientIdentifierNotValid
	}
	c.writeDirect(&packet.Connack{ReasonCode: code}, p.Version)
	return fmt.Errorf("CONNECT refused (%s): client identifier of %d bytes, at most %d allowed",
		connackText(code, p.Version == packet.V5), len(p.ClientID), maxLen)
}

// tokenBucket is a connection's publish rate limit; only its reader uses it.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// allowPublish takes a token for one PUBLISH; false means the client
// publishes faster than PublishRate with bursts of PublishBurst.
func (c *conn) allowPublish(now time.Time) bool {
	l := c.srv.limits()
	rate := l.PublishRate
	if rate <= 0 {
		return true
	}
	b := &c.bucket
	burst := float64(l.PublishBurst)
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		c.srv.stats.limits.rate.Add(1)
		c.srv.log.Warn("client disconnected: publish rate limit exceeded", "client", c.clientID(), "remote", c.remote,
			"rate", rate, "burst", l.PublishBurst)
		c.srv.violation(c, c.clientID(), "publish rate exceeded")
		return false
	}
	b.tokens--
	return true
}
