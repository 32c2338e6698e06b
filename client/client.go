package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
)

// State is the state of a Client's connection.
type State uint8

// Connection states; see the diagram in docs/client.md.
const (
	Disconnected State = iota // created, Start not yet called
	Connecting                // first connection attempts
	Connected                 // a connection is up
	Reconnecting              // the connection was lost; waiting or dialling again
	Closed                    // Disconnect was called or Start's context ended
)

var stateNames = [...]string{"disconnected", "connecting", "connected", "reconnecting", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// StateChange is one transition. Err tells why a connection attempt
// failed or a connection ended (nil for a normal end).
type StateChange struct {
	From, To State
	Server   string // the URL being dialled or connected to
	Err      error
	// SessionPresent is the CONNACK's, on entering Connected.
	SessionPresent bool
}

// Client is a managed MQTT client: it dials the servers in turn,
// reconnects with exponential backoff and jitter, resends what was in
// flight and restores its subscriptions when the server lost its session.
type Client struct {
	e *engine

	mu      sync.Mutex
	state   State
	started bool
	cancel  context.CancelFunc
	link    *link
	done    chan struct{}
	stopped bool
}

// New returns a Client; Start connects it. With Options.Store, New
// restores the message state stored under Options.ClientID.
func New(opts Options) (*Client, error) {
	if len(opts.Servers) == 0 {
		return nil, errors.New("client: no server URL")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	e := newEngine(o, true)
	if o.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), o.ConnectTimeout)
		defer cancel()
		if err := e.restore(ctx); err != nil {
			e.shutdown(ErrClosed)
			return nil, err
		}
	}
	return &Client{e: e, done: make(chan struct{})}, nil
}

// Start begins connecting in the background and returns at once. The
// client runs until Disconnect, or until ctx ends (then the connection
// is closed without DISCONNECT, so the server publishes the will).
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("client: already started")
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	go c.run(ctx)
	return nil
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// AwaitConnection waits until the client is connected.
func (c *Client) AwaitConnection(ctx context.Context) error {
	for {
		c.e.mu.Lock()
		up, closed, cerr := c.e.up, c.e.closed, c.e.closeErr
		if c.e.link != nil {
			c.e.mu.Unlock()
			return nil
		}
		c.e.mu.Unlock()
		if closed {
			return cerr
		}
		select {
		case <-up:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Done is closed once the client is closed and all its goroutines ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// ClientID is the client identifier in use (assigned by the server when
// Options.ClientID was empty; empty before the first connection).
func (c *Client) ClientID() string { return c.e.currentID() }

// Publish sends m and returns when its QoS flow is complete: when written
// for QoS 0, on PUBACK for QoS 1 and PUBCOMP for QoS 2, across
// reconnections. While disconnected it waits for the connection, or with
// Options.QueueOffline returns once m is queued. A refusal by the server
// is a *ReasonError; a publication dropped by the client (queue full,
// larger than the server's Maximum Packet Size) a *DropError. When ctx ends
// first, Publish returns its error but the publication is not withdrawn.
func (c *Client) Publish(ctx context.Context, m Message) error { return c.e.publish(ctx, &m) }

// Subscribe subscribes to the filters and returns the granted QoS or
// reason code of each; a refused filter gives a *ReasonError (the others
// are subscribed). The subscriptions are made again after a reconnection
// to a server that lost the session.
func (c *Client) Subscribe(ctx context.Context, subs ...Subscription) ([]packet.ReasonCode, error) {
	return c.e.subscribe(ctx, nil, subs)
}

// SubscribeProps is Subscribe with MQTT 5 SUBSCRIBE properties.
func (c *Client) SubscribeProps(ctx context.Context, props *packet.Properties, subs ...Subscription) ([]packet.ReasonCode, error) {
	return c.e.subscribe(ctx, props, subs)
}

// Unsubscribe removes the subscriptions and their handlers.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) ([]packet.ReasonCode, error) {
	return c.e.unsubscribe(ctx, filters)
}

// Request publishes payload to topic with a Response Topic and
// Correlation Data (MQTT 5) and returns the first response.
func (c *Client) Request(ctx context.Context, topic string, payload []byte) (*Message, error) {
	return c.e.request(ctx, Message{Topic: topic, Payload: payload, QoS: packet.QoS1})
}

// RequestMessage is Request with a whole message (QoS, properties); its
// Response Topic and Correlation Data are set by the client.
func (c *Client) RequestMessage(ctx context.Context, m Message) (*Message, error) {
	return c.e.request(ctx, m)
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats { return c.e.stats() }

// Disconnect sends DISCONNECT with reason (MQTT 5: packet.Success, or
// packet.DisconnectWithWill to have the will published), closes the
// connection and stops the client. Calls in progress fail with ErrClosed.
func (c *Client) Disconnect(ctx context.Context, reason packet.ReasonCode) error {
	c.mu.Lock()
	if !c.started {
		c.started = true
		c.mu.Unlock()
		c.e.shutdown(ErrClosed)
		c.setState(Closed, "", nil, false)
		close(c.done)
		return nil
	}
	c.stopped = true
	l := c.link
	c.mu.Unlock()
	if l != nil {
		l.queue(&packet.Disconnect{ReasonCode: reason}, true)
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) setState(s State, server string, err error, present bool) {
	c.mu.Lock()
	from := c.state
	c.state = s
	c.mu.Unlock()
	if from == s && err == nil {
		return
	}
	if f := c.e.opts.OnState; f != nil {
		f(StateChange{From: from, To: s, Server: server, Err: err, SessionPresent: present})
	}
}

// run is the connection manager: dial, handshake, attach, wait for the
// end, back off, again.
func (c *Client) run(ctx context.Context) {
	e := c.e
	defer func() {
		e.shutdown(ErrClosed)
		c.setState(Closed, "", nil, false)
		close(c.done)
	}()
	bo := backoff{min: e.opts.MinBackoff, max: e.opts.MaxBackoff}
	servers := e.opts.Servers
	next := 0
	redirect := ""
	state := Connecting
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return
		}
		server := servers[next%len(servers)]
		if redirect != "" {
			server, redirect = redirect, ""
		} else {
			next++
		}
		c.setState(state, server, nil, false)
		l, ca, err := c.dial(ctx, server)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Info("client: connection attempt failed", "server", server, "err", err)
			redirect = serverReference(server, ca)
			c.setState(state, server, err, false)
			if !c.sleep(ctx, bo.next()) {
				return
			}
			continue
		}
		start := time.Now()
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			l.close(nil)
			return
		}
		c.link = l
		c.mu.Unlock()
		e.attach(l, ca)
		e.log.Info("client: connected", "server", server, "session_present", ca.SessionPresent)
		c.setState(Connected, server, nil, ca.SessionPresent)
		select {
		case <-l.done:
		case <-ctx.Done():
			l.close(nil)
		}
		<-l.done
		e.detach(l)
		c.mu.Lock()
		c.link = nil
		stopped := c.stopped
		c.mu.Unlock()
		lerr := l.Err()
		if stopped || ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		if ref := l.serverRef; ref != "" {
			redirect = referenceURL(server, ref) // MQTT 5.0 section 4.11 (Server Redirection)
		}
		l.mu.Unlock()
		e.log.Info("client: connection lost", "server", server, "err", lerr)
		state = Reconnecting
		c.setState(Reconnecting, server, lerr, false)
		if time.Since(start) > e.opts.MaxBackoff {
			bo.reset()
		}
		if !c.sleep(ctx, bo.next()) {
			return
		}
	}
}

func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dial connects to server and runs the handshake.
func (c *Client) dial(ctx context.Context, server string) (*link, *packet.Connack, error) {
	e := c.e
	u, err := ParseURL(server)
	if err != nil {
		return nil, nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, e.opts.ConnectTimeout)
	defer cancel()
	nc, err := e.opts.dial(dctx, u)
	if err != nil {
		return nil, nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), err)
	}
	e.mu.Lock()
	id := e.clientID
	e.mu.Unlock()
	ca, br, err := handshake(dctx, nc, &e.opts, id)
	if err != nil {
		nc.Close()
		return nil, ca, err
	}
	return e.newLink(nc, br, ca), ca, nil
}

// serverReference returns the server to try next after a refused CONNECT
// carrying an MQTT 5 Server Reference (Use another server, Server moved).
func serverReference(cur string, ca *packet.Connack) string {
	if ca == nil || !ca.Properties.Has(packet.PropServerReference) {
		return ""
	}
	switch ca.ReasonCode {
	case packet.UseAnotherServer, packet.ServerMoved:
		return referenceURL(cur, ca.Properties.ServerReference)
	}
	return ""
}

// referenceURL turns a Server Reference (host[:port], possibly a list
// separated by spaces; the first is used) into a URL with the scheme of
// the current server.
func referenceURL(cur, ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.IndexByte(ref, ' '); i >= 0 {
		ref = ref[:i]
	}
	if ref == "" {
		return ""
	}
	if strings.Contains(ref, "://") {
		return ref
	}
	scheme := "mqtt"
	if u, err := ParseURL(cur); err == nil {
		scheme = u.Scheme
	}
	return (&url.URL{Scheme: scheme, Host: ref}).String()
}
