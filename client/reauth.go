package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tern-mq/tern/packet"
)

// Reauthenticate runs MQTT 5 re-authentication on the current connection
// with Options.Auth [MQTT5-4.12.1-1]: AUTH 0x19 with the method's initial
// data, AUTH 0x18 both ways while the server asks, and the server's AUTH
// 0x00, whose data Options.Auth checks. Other packets flow meanwhile. It
// returns nil once the server has accepted the client and the client the
// server. A refusal by the server is its DISCONNECT (a *ReasonError, e.g.
// not authorized 0x87) and ends the connection; so does a server whose
// final data does not pass the check [MQTT5-4.12.1-2].
func (c *Conn) Reauthenticate(ctx context.Context) error { return c.e.reauthenticate(ctx) }

// Reauthenticate is Conn.Reauthenticate on the current connection; without
// one it returns ErrNotConnected.
func (c *Client) Reauthenticate(ctx context.Context) error { return c.e.reauthenticate(ctx) }

var errReauthBusy = errors.New("client: a re-authentication is already in progress")

func (e *engine) reauthenticate(ctx context.Context) error {
	a := e.opts.Auth
	if a == nil || e.opts.Version != packet.V5 {
		return errors.New("client: re-authentication needs MQTT 5 and Options.Auth")
	}
	e.mu.Lock()
	l := e.link
	e.mu.Unlock()
	if l == nil {
		return ErrNotConnected
	}
	done := make(chan error, 1)
	l.mu.Lock()
	if l.reauth != nil {
		l.mu.Unlock()
		return errReauthBusy
	}
	l.reauth = done
	l.mu.Unlock()
	data, err := a.Initial()
	if err == nil && !l.queue(authPacket(packet.ReAuthenticate, a.Method(), data), false) {
		err = ErrConnectionLost
	}
	if err != nil {
		l.finishReauth(nil)
		return fmt.Errorf("client: re-authentication: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-l.done:
		if err := l.Err(); err != nil {
			return fmt.Errorf("client: re-authentication: %w", err)
		}
		return fmt.Errorf("client: re-authentication: %w", ErrConnectionLost)
	case <-ctx.Done():
		// The exchange goes on; its end clears l.reauth.
		return ctx.Err()
	}
}

// finishReauth ends the re-authentication in progress with err.
func (l *link) finishReauth(err error) {
	l.mu.Lock()
	if l.reauth != nil {
		l.reauth <- err
		l.reauth = nil
	}
	l.mu.Unlock()
}

// onAuth handles an AUTH from the server after CONNACK: a step of the
// re-authentication in progress. Anything else is a protocol error.
func (l *link) onAuth(p *packet.Auth) error {
	a := l.e.opts.Auth
	l.mu.Lock()
	busy := l.reauth != nil
	l.mu.Unlock()
	if a == nil || !busy {
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH from the server without a re-authentication in progress"}
	}
	if p.Properties.AuthMethod != a.Method() { // [MQTT5-4.12.0-5]
		err := &packet.Error{Code: packet.ProtocolError, Reason: "AUTH with another authentication method " + strconv.Quote(p.Properties.AuthMethod)}
		l.finishReauth(err)
		return err
	}
	switch p.ReasonCode {
	case packet.ContinueAuthentication:
		data, err := a.Challenge(p.Properties.AuthData)
		if err != nil {
			err = fmt.Errorf("client: re-authentication: %w", err)
			l.finishReauth(err)
			return &packet.Error{Code: packet.UnspecifiedError, Reason: err.Error()}
		}
		l.queue(authPacket(packet.ContinueAuthentication, a.Method(), data), false) // [MQTT5-4.12.0-3]
	case packet.Success:
		if err := a.Success(p.Properties.AuthData); err != nil {
			// [MQTT5-4.12.1-2] a failed re-authentication closes the
			// connection, after DISCONNECT.
			err = fmt.Errorf("client: re-authentication: authentication of the server: %w", err)
			l.finishReauth(err)
			return &packet.Error{Code: packet.UnspecifiedError, Reason: err.Error()}
		}
		l.finishReauth(nil)
	default:
		err := &packet.Error{Code: packet.ProtocolError, Reason: "AUTH with reason " + p.ReasonCode.String()}
		l.finishReauth(err)
		return err
	}
	return nil
}

// authPacket is an AUTH with reason code, method and data (none if nil).
func authPacket(code packet.ReasonCode, method string, data []byte) *packet.Auth {
	a := &packet.Auth{ReasonCode: code}
	a.Properties.AuthMethod = method
	a.Properties.Set(packet.PropAuthMethod)
	if data != nil {
		a.Properties.AuthData = data
		a.Properties.Set(packet.PropAuthData)
	}
	return a
}
