package broker

import (
	"fmt"
	"net"

	"github.com/tern-mq/tern/auth"
)

// Durability says when a QoS 1 or 2 PUBLISH received on a listener is
// acknowledged, with a Store configured.
type Durability string

// Durabilities of a listener.
const (
	// DurabilityDefault is the server's: DurabilitySync.
	DurabilityDefault Durability = ""
	// DurabilitySync: PUBACK and PUBREC (and the deliveries the message
	// causes) go out once the store made the message and the session
	// changes it causes durable (with the on-disk store in sync mode: after
	// the fsync of its group commit).
	DurabilitySync Durability = "sync"
	// DurabilityMemory: PUBACK and PUBREC (and the deliveries) go out as
	// soon as the message is routed; the store still receives the write,
	// which becomes durable later. A crash may lose an acknowledged
	// message. Without a store every listener is in memory mode.
	DurabilityMemory Durability = "memory"
)

// ListenerOptions are the settings of one listener that differ from the
// server's Config; the zero value changes nothing. They apply to the
// connections the listener accepts: no wrapper around the connection is
// involved, so plain TCP connections stay eligible for parking.
type ListenerOptions struct {
	// Name identifies the listener in the log (default: its address).
	Name string
	// Authenticator and Authorizer replace Config's for the clients that
	// connect through this listener (nil: Config's). A session resumed
	// through another listener, or by another user, has its subscriptions
	// authorized again, under the new listener's Authorizer, before their
	// next delivery.
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer
	// EnhancedAuth replaces Config.EnhancedAuth (nil: Config's; an empty
	// non-nil slice: no enhanced authentication on this listener).
	EnhancedAuth []EnhancedAuth
	// Durability of the PUBLISH packets received on the listener.
	Durability Durability
}

// listenerState is what a connection keeps of its listener's options
// (nil: the listener has none).
type listenerState struct {
	name   string
	authn  auth.Authenticator // nil: Config's
	authz  auth.Authorizer    // nil: Config's
	enh    []EnhancedAuth
	hasEnh bool // enh replaces Config's
	memory bool // acknowledge without waiting for the store
}

// ServeWith is Serve for a listener with its own options o.
func (s *Server) ServeWith(ln net.Listener, o ListenerOptions) error {
	switch o.Durability {
	case DurabilityDefault, DurabilitySync, DurabilityMemory:
	default:
		ln.Close()
		return fmt.Errorf("broker: listener durability %q: want sync or memory", o.Durability)
	}
	st := &listenerState{name: o.Name, authn: o.Authenticator, authz: o.Authorizer,
		enh: o.EnhancedAuth, hasEnh: o.EnhancedAuth != nil, memory: o.Durability == DurabilityMemory}
	if st.name == "" {
		st.name = ln.Addr().String()
	}
	if v, ok := o.Authorizer.(auth.Versioned); ok {
		s.addACLVersion(v)
	}
	return s.serve(ln, st)
}

// authenticator returns the Authenticator of c's listener.
func (c *conn) authenticator() auth.Authenticator {
	if c.lst != nil && c.lst.authn != nil {
		return c.lst.authn
	}
	return c.srv.cfg.Authenticator
}

// authorizer returns the Authorizer of the listener st (nil: Config's).
func (s *Server) authorizer(st *listenerState) auth.Authorizer {
	if st != nil && st.authz != nil {
		return st.authz
	}
	return s.cfg.Authorizer
}

// enhancedAuths returns the enhanced authentication methods of c's
// listener.
func (c *conn) enhancedAuths() []EnhancedAuth {
	if c.lst != nil && c.lst.hasEnh {
		return c.lst.enh
	}
	return c.srv.cfg.EnhancedAuth
}

// memoryDurability reports whether c's PUBLISH packets are acknowledged
// without waiting for the store.
func (c *conn) memoryDurability() bool { return c.lst != nil && c.lst.memory }
