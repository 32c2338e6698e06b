package broker

import (
	"errors"
	"time"
)

// Limits are the limits of Config that SetLimits changes while the server
// runs (on SIGHUP, say). Each field has the meaning and default of the
// Config field of the same name.
type Limits struct {
	MaxConnections            int
	MaxConnectionsPerListener int
	MaxClientIDLength         int
	PublishRate               float64
	PublishBurst              int
	ConnectionRate            float64
	ConnectionBurst           int
	BanThreshold              int
	BanWindow                 time.Duration
	BanDuration               time.Duration
	MaxSubscriptions          int
	MaxTopicLength            int
	MaxTopicLevels            int
}

// limits returns the Limits of c.
func (c *Config) limits() Limits {
	return Limits{
		MaxConnections: c.MaxConnections, MaxConnectionsPerListener: c.MaxConnectionsPerListener,
		MaxClientIDLength: c.MaxClientIDLength, PublishRate: c.PublishRate, PublishBurst: c.PublishBurst,
		ConnectionRate: c.ConnectionRate, ConnectionBurst: c.ConnectionBurst,
		BanThreshold: c.BanThreshold, BanWindow: c.BanWindow, BanDuration: c.BanDuration,
		MaxSubscriptions: c.MaxSubscriptions, MaxTopicLength: c.MaxTopicLength, MaxTopicLevels: c.MaxTopicLevels,
	}
}

// SetLimits sets the fields of c that l has.
func (c *Config) SetLimits(l Limits) {
	c.MaxConnections, c.MaxConnectionsPerListener, c.MaxClientIDLength = l.MaxConnections, l.MaxConnectionsPerListener, l.MaxClientIDLength
	c.PublishRate, c.PublishBurst, c.ConnectionRate, c.ConnectionBurst = l.PublishRate, l.PublishBurst, l.ConnectionRate, l.ConnectionBurst
	c.BanThreshold, c.BanWindow, c.BanDuration = l.BanThreshold, l.BanWindow, l.BanDuration
	c.MaxSubscriptions, c.MaxTopicLength, c.MaxTopicLevels = l.MaxSubscriptions, l.MaxTopicLength, l.MaxTopicLevels
}

// withDefaults applies the defaults of Config.
func (l Limits) withDefaults() Limits {
	if l.PublishBurst <= 0 {
		l.PublishBurst = max(1, int(l.PublishRate))
	}
	if l.ConnectionBurst <= 0 {
		l.ConnectionBurst = max(1, int(l.ConnectionRate))
	}
	if l.BanWindow <= 0 {
		l.BanWindow = DefaultBanWindow
	}
	return l
}

// Limits returns the limits in force.
func (s *Server) Limits() Limits { return *s.lim.Load() }

// SetLimits replaces the limits in force. Open connections are kept: a
// new MaxConnections refuses new connections only, a new PublishRate
// applies to each connection's next PUBLISH (its bucket keeps its tokens,
// up to the new burst), and the connection rate buckets and the bans in
// force are kept. A negative value is an error and changes nothing.
func (s *Server) SetLimits(l Limits) error {
	if l.MaxConnections < 0 || l.MaxConnectionsPerListener < 0 || l.MaxClientIDLength < 0 || l.PublishRate < 0 ||
		l.PublishBurst < 0 || l.ConnectionRate < 0 || l.ConnectionBurst < 0 || l.BanThreshold < 0 || l.BanWindow < 0 ||
		l.BanDuration < 0 || l.MaxSubscriptions < 0 || l.MaxTopicLength < 0 || l.MaxTopicLevels < 0 {
		return errors.New("broker: SetLimits: negative limit")
	}
	l = l.withDefaults()
	s.mu.Lock() // with serveFrom's check of MaxConnections
	s.lim.Store(&l)
	s.mu.Unlock()
	s.guard.configure(&l)
	return nil
}

// limits returns the limits in force: one atomic load.
func (s *Server) limits() *Limits { return s.lim.Load() }
