package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// authCounters count the refusals of the Authenticator and the Authorizer.
type authCounters struct {
	connectRefused  atomic.Int64 // CONNECT refused by the Authenticator
	connectErrors   atomic.Int64 // the Authenticator could not decide
	publishDenied   atomic.Int64 // PUBLISH (and wills) refused by the Authorizer
	subscribeDenied atomic.Int64 // SUBSCRIBE filters refused by the Authorizer
	// subscriptionsRevoked counts subscriptions found no longer authorized
	// after the Authorizer's rules changed.
	subscriptionsRevoked atomic.Int64
}

// authenticate asks the Authenticator about a CONNECT. It returns nil when
// the client is accepted; otherwise the CONNACK with the refusal has been
// written and the error tells why. id is the client identifier the session
// will have (assigned when the CONNECT's is empty).
func (s *Server) authenticate(c *conn, p *packet.Connect, id string) error {
	v5 := p.Version == packet.V5
	if err := s.checkClientID(c, p); err != nil {
		return err
	}
	username := p.Username
	var r auth.Result
	var err error
	if ic, ok := c.nc.(*identityConn); ok {
		// The verified client certificate authenticates the client.
		if cn, ok := ic.certUsername(); ok {
			r, username = auth.Accepted, cn
		} else {
			r = auth.Denied(packet.NotAuthorized, "no verified client certificate with the identity field ("+string(ic.from)+")")
		}
	} else if authn := c.authenticator(); isAllowAll(authn) {
		r = auth.Accepted // the default: no context (and its timer) per CONNECT
	} else {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
		r, err = authn.Authenticate(ctx, auth.ConnInfo{
			ClientID:    id,
			Username:    p.Username,
			HasUsername: p.UsernameFlag,
			Password:    p.Password,
			HasPassword: p.PasswordFlag,
			RemoteAddr:  c.nc.RemoteAddr(),
			Level:       byte(p.Version),
		})
		cancel()
	}
	var code packet.ReasonCode
	var why string
	switch {
	case err != nil:
		// [MQTT-3.2.2-6] [MQTT5-3.2.2-8] no decision: Server unavailable.
		s.stats.auth.connectErrors.Add(1)
		code, why = packet.ConnRefusedServerUnavailable, "authentication failed: "+err.Error()
		if v5 {
			code = packet.ServerUnavailable
		}
		s.log.Error("authentication error", "client", id, "remote", c.remote, "username", p.Username, "err", err)
	case !r.OK():
		s.stats.auth.connectRefused.Add(1)
		s.violation(c, "", "failed login")
		code, why = r.ConnackCode(byte(p.Version)), r.Reason
		s.log.Warn("connection refused", "client", id, "remote", c.remote, "username", username,
			"code", connackText(code, v5), "reason", r.Reason)
	default:
		c.authz = auth.ClientInfo{ClientID: id, Username: username}
		if p.WillFlag && !s.allow(c, auth.Publish, p.WillTopic) {
			code, why = packet.ConnRefusedNotAuthorized311, "will topic not authorized"
			if v5 {
				code = packet.NotAuthorized
			}
			break
		}
		return nil
	}
	// [MQTT-3.2.2-5] [MQTT5-3.1.4-2] [MQTT5-4.13.2-1] close after a refusing CONNACK.
	c.writeDirect(&packet.Connack{ReasonCode: code}, p.Version)
	return fmt.Errorf("CONNECT refused (%s): %s", connackText(code, v5), why)
}

// allow asks the Authorizer whether the client of c may do action on
// topic; a refusal is counted and logged.
func (s *Server) allow(c *conn, action auth.Action, topic string) bool {
	if s.authorizer(c.lst).Allow(s.ctx, c.authz, action, topic) {
		return true
	}
	if action == auth.Subscribe {
		s.stats.auth.subscribeDenied.Add(1)
	} else {
		s.stats.auth.publishDenied.Add(1)
	}
	// A client that keeps trying does not flood the log: the first
	// refusals of a connection are logged at info level, the rest at debug.
	c.denials++
	level := slog.LevelInfo
	if c.denials > logDenials {
		level = slog.LevelDebug
	}
	if s.log.Enabled(s.ctx, level) {
		s.log.Log(s.ctx, level, "not authorized", "action", action.String(), "client", c.authz.ClientID,
			"username", c.authz.Username, "remote", c.remote, "topic", topic, "refusals", c.denials)
	}
	return false
}

// isAllowAll reports whether a is auth.AllowAll.
func isAllowAll(a auth.Authenticator) bool {
	_, all := a.(auth.AllowAll)
	return all
}

// logDenials is the number of refusals per connection logged at info level.
const logDenials = 10

// deniedCode is the SUBACK code of a refused filter: 0x87 Not authorized
// in MQTT 5, the failure code 0x80 before [MQTT-3.9.3-2].
func deniedCode(v packet.Version) packet.ReasonCode {
	if v == packet.V5 {
		return packet.NotAuthorized
	}
	return packet.SubackFailure311
}
