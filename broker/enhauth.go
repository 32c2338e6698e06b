package broker

import (
	"bytes"
	"fmt"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// EnhancedAuth is one MQTT 5 enhanced authentication method (section
// 4.12), chosen by the Authentication Method of a CONNECT. NewSCRAMSHA256
// returns one.
type EnhancedAuth interface {
	// Method is the Authentication Method name, e.g. "SCRAM-SHA-256".
	Method() string
	// Start begins the exchange for one CONNECT.
	Start(clientID string) AuthExchange
}

// AuthExchange is one client's authentication in progress.
type AuthExchange interface {
	// Next takes the client's Authentication Data (of CONNECT, then of
	// each AUTH) and returns the server's. With done, the client is
	// authenticated as username and out goes in CONNACK; else out goes in
	// an AUTH 0x18 and the client's answer comes with the next call. An
	// error refuses the client (CONNACK 0x87).
	Next(in []byte) (out []byte, done bool, username string, err error)
}

// enhancedAuth runs the AUTH exchange of a CONNECT with an Authentication
// Method, before CONNACK; on success the method and the final data are
// kept for CONNACK [MQTT5-4.12.0-5] and c.authz is set. The CONNECT's read
// deadline (ConnectTimeout) bounds the whole exchange.
func (s *Server) enhancedAuth(c *conn, p *packet.Connect, id string) (code packet.ReasonCode, why string, err error) {
	method := p.Properties.AuthMethod
	var ea EnhancedAuth
	for _, e := range c.enhancedAuths() {
		if e.Method() == method {
			ea = e
			break
		}
	}
	if ea == nil { // [MQTT5-4.12.0-1]
		return packet.BadAuthenticationMethod, fmt.Sprintf("authentication method %q is not supported", method), nil
	}
	ex := ea.Start(id)
	in := p.Properties.AuthData
	for {
		out, done, user, xerr := ex.Next(in)
		if xerr != nil { // [MQTT5-4.12.0-4]
			s.stats.auth.connectRefused.Add(1)
			s.violation(c, "", "failed login")
			return packet.NotAuthorized, xerr.Error(), nil
		}
		if done {
			c.enh = &enhanced{method: method, data: out}
			c.authz = auth.ClientInfo{ClientID: id, Username: user}
			return 0, "", nil
		}
		// [MQTT5-4.12.0-2] AUTH 0x18 with the method and the server's data.
		a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		a.Properties.AuthMethod, a.Properties.AuthData = method, out
		a.Properties.Set(packet.PropAuthMethod)
		a.Properties.Set(packet.PropAuthData)
		c.writeDirect(a, packet.V5)
		fh, body, rerr := c.readPacket()
		if rerr != nil {
			return 0, "", fmt.Errorf("reading AUTH: %w", rerr)
		}
		if fh.Type != packet.AUTH {
			return packet.ProtocolError, fmt.Sprintf("%s during authentication", fh.Type), nil
		}
		pk, derr := packet.Decode(fh, body, packet.V5)
		if derr != nil {
			return packet.MalformedPacket, derr.Error(), nil
		}
		ap := pk.(*packet.Auth)
		// [MQTT5-4.12.0-3] 0x18 and [MQTT5-4.12.0-5] the same method.
		if ap.ReasonCode != packet.ContinueAuthentication || ap.Properties.AuthMethod != method {
			return packet.ProtocolError, "AUTH without reason 0x18 or with another method", nil
		}
		in = bytes.Clone(ap.Properties.AuthData) // body is reused
	}
}

// enhanced is the state of a connection authenticated by an enhanced
// authentication method: allocated only for those.
type enhanced struct {
	method string       // the method
	data   []byte       // its final data, for CONNACK
	reauth AuthExchange // a re-authentication in progress (reader only)
}

// onAuth handles AUTH after CONNACK: re-authentication [MQTT5-4.12.1-1]
// with the method of the CONNECT, the exchange continuing over AUTH 0x18
// packets while other packets flow; success is AUTH 0x00, failure
// DISCONNECT 0x87 [MQTT5-4.12.1-2]. Without a method in CONNECT, AUTH is a
// protocol error [MQTT5-4.12.0-7].
func (c *conn) onAuth(p *packet.Auth) error {
	if c.enh == nil {
		return protocolError("AUTH without an authentication method")
	}
	if p.Properties.AuthMethod != c.enh.method { // [MQTT5-4.12.0-5]
		return protocolError("AUTH with another authentication method")
	}
	switch {
	case p.ReasonCode == packet.ReAuthenticate && c.enh.reauth == nil:
		for _, e := range c.enhancedAuths() {
			if e.Method() == c.enh.method {
				c.enh.reauth = e.Start(c.authz.ClientID)
			}
		}
		if c.enh.reauth == nil {
			return &packet.Error{Code: packet.BadAuthenticationMethod, Reason: "authentication method no longer configured"}
		}
	case p.ReasonCode == packet.ContinueAuthentication && c.enh.reauth != nil:
	default:
		return protocolError("AUTH %s out of sequence", p.ReasonCode)
	}
	out, done, user, err := c.enh.reauth.Next(bytes.Clone(p.Properties.AuthData))
	if err != nil {
		c.enh.reauth = nil
		c.srv.stats.auth.connectRefused.Add(1)
		return &packet.Error{Code: packet.NotAuthorized, Reason: "re-authentication failed: " + err.Error()}
	}
	a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
	if done {
		c.enh.reauth = nil
		a.ReasonCode = packet.Success
		if user != c.authz.Username {
			c.authz.Username = user
			if cl := c.cl; cl != nil {
				cl.mu.Lock()
				if cl.conn == c { // not taken over
					c.srv.rebindSubsLocked(cl, c)
				}
				cl.mu.Unlock()
			}
		}
	}
	a.Properties.AuthMethod, a.Properties.AuthData = c.enh.method, out
	a.Properties.Set(packet.PropAuthMethod)
	a.Properties.Set(packet.PropAuthData)
	c.queue(a)
	return nil
}
