package client

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/tern-mq/tern/packet"
)

// Conn is one MQTT connection over one net.Conn, without reconnection:
// the low layer. When the connection ends, calls in progress fail with
// ErrConnectionLost (or the server's reason) and Done is closed.
type Conn struct {
	e      *engine
	l      *link
	ca     *packet.Connack
	closed chan struct{}
	err    error
}

// Dial connects to the first of opts.Servers that accepts the connection.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	if len(opts.Servers) == 0 {
		return nil, errors.New("client: no server URL")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range o.Servers {
		u, _ := ParseURL(s)
		dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
		nc, err := o.dial(dctx, u)
		if err == nil {
			var c *Conn
			c, err = connect(dctx, nc, o)
			cancel()
			if err == nil {
				return c, nil
			}
		} else {
			cancel()
		}
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Connect runs the MQTT connection handshake on nc (already connected to
// a server: TCP, TLS or anything else) and returns the connection.
// opts.Servers is not used. nc is closed when Connect fails.
func Connect(ctx context.Context, nc net.Conn, opts Options) (*Conn, error) {
	o, err := opts.withDefaults()
	if err != nil {
		nc.Close()
		return nil, err
	}
	return connect(ctx, nc, o)
}

func connect(ctx context.Context, nc net.Conn, o Options) (*Conn, error) {
	ca, br, err := handshake(ctx, nc, &o, o.ClientID)
	if err != nil {
		nc.Close()
		return nil, err
	}
	e := newEngine(o, false)
	if o.Store != nil {
		if err := e.restore(ctx); err != nil {
			e.shutdown(ErrClosed)
			nc.Close()
			return nil, err
		}
	}
	l := e.newLink(nc, br, ca)
	e.attach(l, ca)
	c := &Conn{e: e, l: l, ca: ca, closed: make(chan struct{})}
	go func() {
		<-l.done
		e.detach(l)
		err := l.Err()
		if err == nil {
			err = ErrClosed
		}
		e.shutdown(fmt.Errorf("%w: %w", ErrConnectionLost, err))
		c.err = l.Err()
		close(c.closed)
	}()
	return c, nil
}

// Connack returns the server's CONNACK (Session Present, and in MQTT 5
// its properties: Receive Maximum, Maximum Packet Size, Assigned Client
// Identifier, Response Information ...).
func (c *Conn) Connack() *packet.Connack { return c.ca }

// ClientID is the client identifier in use (assigned by an MQTT 5 server
// when Options.ClientID was empty).
func (c *Conn) ClientID() string { return c.e.currentID() }

// Publish sends m and returns when its QoS flow is complete: when written
// for QoS 0, on PUBACK for QoS 1 and PUBCOMP for QoS 2. A refusal by the
// server (MQTT 5 reason code 0x80 or above) is a *ReasonError.
func (c *Conn) Publish(ctx context.Context, m Message) error { return c.e.publish(ctx, &m) }

// Subscribe subscribes to the filters and returns the granted QoS or
// reason code of each; a refused filter gives a *ReasonError (the others
// are subscribed). Handlers are installed before the SUBSCRIBE is sent.
func (c *Conn) Subscribe(ctx context.Context, subs ...Subscription) ([]packet.ReasonCode, error) {
	return c.e.subscribe(ctx, nil, subs)
}

// SubscribeProps is Subscribe with MQTT 5 SUBSCRIBE properties
// (Subscription Identifier, User Properties).
func (c *Conn) SubscribeProps(ctx context.Context, props *packet.Properties, subs ...Subscription) ([]packet.ReasonCode, error) {
	return c.e.subscribe(ctx, props, subs)
}

// Unsubscribe removes the subscriptions and their handlers.
func (c *Conn) Unsubscribe(ctx context.Context, filters ...string) ([]packet.ReasonCode, error) {
	return c.e.unsubscribe(ctx, filters)
}

// Request publishes payload to topic with a Response Topic and
// Correlation Data (MQTT 5) and returns the first response.
func (c *Conn) Request(ctx context.Context, topic string, payload []byte) (*Message, error) {
	return c.e.request(ctx, Message{Topic: topic, Payload: payload, QoS: packet.QoS1})
}

// Disconnect sends DISCONNECT with reason (MQTT 5; packet.Success is a
// normal disconnection, packet.DisconnectWithWill asks the server to
// publish the will) and closes the connection.
func (c *Conn) Disconnect(ctx context.Context, reason packet.ReasonCode) error {
	c.l.queue(&packet.Disconnect{ReasonCode: reason}, true)
	select {
	case <-c.l.done:
	case <-ctx.Done():
		c.l.close(nil)
	}
	select {
	case <-c.closed:
		return nil
	case <-ctx.Done():
		return ctx.Err() // a handler has not returned
	}
}

// Done is closed when the connection has ended and every goroutine of the
// Conn has returned.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Err is why the connection ended, after Done: nil after Disconnect.
func (c *Conn) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

// Stats returns the client's counters.
func (c *Conn) Stats() Stats { return c.e.stats() }
