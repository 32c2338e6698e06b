package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// link is one network connection of the engine.
type link struct {
	e         *engine
	nc        net.Conn
	br        *bufio.Reader
	gen       uint64
	version   packet.Version
	keepAlive time.Duration
	aliasMax  uint16
	aliases   map[uint16]string

	// Outbound topic aliases (MQTT 5, Options.TopicAliases), used by the
	// drainer only.
	aliasOutMax uint16
	aliasTopics map[string]uint16
	serverMax   int // the server's Maximum Packet Size (0: none)

	lastSent atomic.Int64 // unix nanoseconds of the last write
	lastRecv atomic.Int64 // unix nanoseconds of the last packet read
	pingAt   atomic.Int64 // when the outstanding PINGREQ went out (0: none)

	once sync.Once
	mu   sync.Mutex
	err  error
	// serverRef is an MQTT 5 Server Reference from the server's DISCONNECT.
	serverRef string
	// reauth receives the outcome of the re-authentication in progress.
	reauth chan error
	done   chan struct{}
}

// handshake sends CONNECT on nc and reads CONNACK, within ctx. A refusal
// is a *ReasonError; the CONNACK is returned with it (for a Server
// Reference).
func handshake(ctx context.Context, nc net.Conn, o *Options, clientID string) (*packet.Connack, *bufio.Reader, error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(o.ConnectTimeout))
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c := &packet.Connect{
		Version:    o.Version,
		CleanStart: o.CleanStart,
		KeepAlive:  keepAliveSecs(o.KeepAlive),
		ClientID:   clientID,
	}
	if o.Username != "" {
		c.UsernameFlag, c.Username = true, o.Username
	}
	if o.Password != nil {
		c.PasswordFlag, c.Password = true, o.Password
	}
	if w := o.Will; w != nil {
		c.WillFlag, c.WillTopic, c.WillPayload, c.WillQoS, c.WillRetain = true, w.Topic, w.Payload, w.QoS, w.Retain
		if w.Payload == nil {
			c.WillPayload = []byte{}
		}
		if w.Properties != nil && o.Version == packet.V5 {
			c.WillProperties = *w.Properties
		}
	}
	if o.Version == packet.V5 {
		if o.ConnectProperties != nil {
			c.Properties = *o.ConnectProperties
		}
		if a := o.Auth; a != nil {
			data, err := a.Initial()
			if err != nil {
				return nil, nil, fmt.Errorf("client: authentication: %w", err)
			}
			c.Properties.AuthMethod = a.Method()
			c.Properties.Set(packet.PropAuthMethod)
			c.Properties.AuthData = data
			if data != nil {
				c.Properties.Set(packet.PropAuthData)
			}
		}
		if o.SessionExpiry > 0 {
			c.Properties.SessionExpiry = uint32(min(o.SessionExpiry/time.Second, math.MaxUint32))
			c.Properties.Set(packet.PropSessionExpiry)
		}
		if o.ReceiveMaximum != math.MaxUint16 {
			c.Properties.ReceiveMaximum = o.ReceiveMaximum
			c.Properties.Set(packet.PropReceiveMaximum)
		}
		if o.MaxPacketSize > 0 {
			c.Properties.MaximumPacketSize = o.MaxPacketSize
			c.Properties.Set(packet.PropMaximumPacketSize)
		}
		if o.TopicAliasMaximum > 0 {
			c.Properties.TopicAliasMaximum = o.TopicAliasMaximum
			c.Properties.Set(packet.PropTopicAliasMaximum)
		}
	}
	// The first packet is CONNECT [MQTT-3.1.0-1] [MQTT5-3.1.0-1].
	b, err := packet.Append(nil, c, o.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("client: CONNECT: %w", err)
	}
	if _, err := nc.Write(b); err != nil {
		return nil, nil, fmt.Errorf("client: writing CONNECT: %w", ctxErr(ctx, err))
	}
	br := bufio.NewReaderSize(nc, 4096)
	var ca *packet.Connack
	for ca == nil {
		p, err := packet.ReadPacket(br, o.Version, int(o.MaxPacketSize))
		if err != nil {
			return nil, nil, fmt.Errorf("client: reading CONNACK: %w", ctxErr(ctx, err))
		}
		switch p := p.(type) {
		case *packet.Connack:
			ca = p
		case *packet.Auth:
			// Enhanced authentication: AUTH packets may precede CONNACK
			// [MQTT5-3.2.0-1].
			if err := authStep(ctx, nc, o, p); err != nil {
				return nil, nil, err
			}
		default: // [MQTT-3.2.0-1] [MQTT5-3.2.0-1]
			return nil, nil, fmt.Errorf("client: expected CONNACK, got %s: %w", p.Type(),
				&packet.Error{Code: packet.ProtocolError, Reason: "first packet from the server is not CONNACK"})
		}
	}
	if ca.ReasonCode != 0 {
		return ca, nil, &ReasonError{Op: "connect", Code: ca.ReasonCode, V3: o.Version != packet.V5, Reason: ca.Properties.ReasonString}
	}
	if a := o.Auth; a != nil && o.Version == packet.V5 {
		if ca.Properties.AuthMethod != a.Method() { // [MQTT5-4.12.0-5]
			return ca, nil, &packet.Error{Code: packet.ProtocolError, Reason: "CONNACK without our authentication method"}
		}
		if err := a.Success(ca.Properties.AuthData); err != nil {
			return ca, nil, fmt.Errorf("client: authentication of the server: %w", err)
		}
	}
	if o.CleanStart && ca.SessionPresent {
		// [MQTT-3.2.2-1] [MQTT5-3.2.2-2]: a new session is never present;
		// the client has no state for it [MQTT5-3.2.2-4].
		return ca, nil, &packet.Error{Code: packet.ProtocolError, Reason: "CONNACK with Session Present after Clean Start"}
	}
	nc.SetDeadline(time.Time{})
	return ca, br, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// newLink wraps a connection whose CONNACK was ca.
func (e *engine) newLink(nc net.Conn, br *bufio.Reader, ca *packet.Connack) *link {
	l := &link{e: e, nc: nc, br: br, version: e.opts.Version, keepAlive: e.opts.KeepAlive,
		aliasMax: e.opts.TopicAliasMaximum, done: make(chan struct{})}
	if l.keepAlive < 0 {
		l.keepAlive = 0
	}
	if e.opts.Version == packet.V5 && ca.Properties.Has(packet.PropServerKeepAlive) {
		l.keepAlive = time.Duration(ca.Properties.ServerKeepAlive) * time.Second // [MQTT5-3.1.2-21] [MQTT5-3.2.2-21]
	}
	if e.opts.Version == packet.V5 {
		l.serverMax = int(ca.Properties.MaximumPacketSize)
		if e.opts.TopicAliases {
			l.aliasOutMax = ca.Properties.TopicAliasMaximum
		}
	}
	l.lastSent.Store(time.Now().UnixNano())
	l.lastRecv.Store(time.Now().UnixNano())
	return l
}

// aliasOut gives p a topic alias: the topic's alias alone once it has one
// on this connection, else a new alias with the topic while the server's
// Topic Alias Maximum allows [MQTT5-3.3.2-9] [MQTT5-3.2.2-17]
// [MQTT5-3.2.2-18]. Aliases are never reused for
// other topics.
func (l *link) aliasOut(p *packet.Publish) {
	if a, ok := l.aliasTopics[p.Topic]; ok {
		p.Topic = ""
		p.Properties.TopicAlias = a
		p.Properties.Set(packet.PropTopicAlias)
		return
	}
	if len(l.aliasTopics) >= int(l.aliasOutMax) {
		return
	}
	p.Properties.TopicAlias = uint16(len(l.aliasTopics) + 1)
	p.Properties.Set(packet.PropTopicAlias)
	if l.serverMax > 0 && packet.Size(p, packet.V5) > l.serverMax {
		p.Properties.Clear(packet.PropTopicAlias) // the 3 bytes do not fit
		p.Properties.TopicAlias = 0
		return
	}
	if l.aliasTopics == nil {
		l.aliasTopics = make(map[string]uint16)
	}
	l.aliasTopics[p.Topic] = p.Properties.TopicAlias
}

// attach makes l the engine's connection and starts its goroutines.
func (e *engine) attach(l *link, ca *packet.Connack) {
	now := time.Now()
	e.mu.Lock()
	for e.draining {
		e.idle.Wait()
	}
	if e.opts.Version == packet.V5 && ca.Properties.AssignedClientID != "" && e.clientID == "" {
		e.clientID = ca.Properties.AssignedClientID
	}
	id := e.clientID
	e.cid.Store(&id)
	fresh := !ca.SessionPresent
	if fresh {
		// The server has no session: ours is discarded [MQTT5-3.2.2-5],
		// except the publications not yet accepted by the server, which
		// are sent again as new ones.
		e.resetSession(now)
	}
	e.gen++
	l.gen = e.gen
	e.link = l
	e.acks = e.acks[:0]
	e.extra = e.extra[:0]
	var ops []*op
	if fresh {
		ops = e.resubscriptions()
	}
	ops = append(ops, e.queuedOps...)
	e.queuedOps = nil
	for _, o := range ops {
		if err := e.sendOp(o); err != nil {
			o.finish(nil, nil, err)
		}
	}
	peer := session.Peer{Version: e.opts.Version}
	if e.opts.Version == packet.V5 {
		peer.ReceiveMaximum = ca.Properties.ReceiveMaximum
		peer.MaximumPacketSize = ca.Properties.MaximumPacketSize
	}
	e.sess.Connected(now, l.gen, peer)
	close(e.up)
	e.mu.Unlock()
	e.wake()
	e.wg.Add(2)
	go l.readLoop()
	go l.keepAliveLoop()
}

// detach ends the engine's use of l (after l closed). Pending SUBSCRIBE
// and UNSUBSCRIBE are sent again on the next connection (Client) or fail.
func (e *engine) detach(l *link) {
	e.mu.Lock()
	if e.link != l {
		e.mu.Unlock()
		return
	}
	e.link = nil
	e.sess.Disconnected(time.Now(), l.gen)
	e.up = make(chan struct{})
	clear(e.acks)
	e.acks = e.acks[:0]
	e.extra = e.extra[:0]
	var failed []*op
	for id, o := range e.ops {
		delete(e.ops, id)
		e.sess.ReleaseID(id)
		if o.done == nil {
			continue // a resubscription: made again if needed
		}
		if e.reconnects {
			e.queuedOps = append(e.queuedOps, o)
		} else {
			failed = append(failed, o)
		}
	}
	if !e.reconnects {
		for m, w := range e.waiters {
			w <- ErrConnectionLost
			delete(e.waiters, m)
		}
	}
	e.mu.Unlock()
	for _, o := range failed {
		o.finish(nil, nil, ErrConnectionLost)
	}
	e.wake()
}

// close closes the connection once, recording why.
func (l *link) close(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		l.mu.Unlock()
		l.nc.Close()
		close(l.done)
	})
}

// Err is why the connection ended (nil: closed by the client).
func (l *link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// fail ends the connection because of err [MQTT-4.8.0-1]; for an MQTT 5
// protocol error the server first gets a DISCONNECT with its reason code
// [MQTT5-4.13.1-1] [MQTT5-3.14.2-1].
func (l *link) fail(err error) {
	var pe *packet.Error
	if l.version == packet.V5 && errors.As(err, &pe) {
		d := &packet.Disconnect{ReasonCode: pe.Code}
		e := l.e
		e.mu.Lock()
		if e.link == l {
			if b, aerr := packet.Append(e.extra, d, l.version); aerr == nil {
				e.extra = b
				e.finAfter = l
				l.mu.Lock()
				if l.err == nil {
					l.err = err
				}
				l.mu.Unlock()
				e.mu.Unlock()
				e.wake()
				time.AfterFunc(time.Second, func() { l.close(err) })
				return
			}
		}
		e.mu.Unlock()
	}
	l.close(err)
}

// write writes b, bounded by the write timeout.
func (l *link) write(b []byte) error {
	l.nc.SetWriteDeadline(time.Now().Add(l.e.opts.WriteTimeout))
	_, err := l.nc.Write(b)
	if err != nil {
		l.close(fmt.Errorf("client: write: %w", err))
		return err
	}
	l.lastSent.Store(time.Now().UnixNano())
	return nil
}

// queue adds a packet for this link (PINGREQ, DISCONNECT).
func (l *link) queue(p packet.Packet, closeAfter bool) bool {
	e := l.e
	e.mu.Lock()
	if e.link != l {
		e.mu.Unlock()
		return false
	}
	if e.finAfter == l {
		e.mu.Unlock()
		return false // DISCONNECT is queued: nothing may follow it
	}
	b, err := packet.Append(e.extra, p, l.version)
	if err == nil {
		e.extra = b
		if closeAfter {
			e.finAfter = l
		}
	}
	e.mu.Unlock()
	e.wake()
	return err == nil
}

func (l *link) keepAliveLoop() {
	defer l.e.wg.Done()
	ka := l.keepAlive
	if ka <= 0 {
		return
	}
	step := max(ka/4, 10*time.Millisecond)
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case now := <-t.C:
			if at := l.pingAt.Load(); at != 0 {
				if now.Sub(time.Unix(0, at)) >= ka {
					l.fail(errors.New("client: keep alive timeout: no PINGRESP from the server"))
					return
				}
				continue
			}
			// A PINGREQ before the keep alive runs out [MQTT-3.1.2-23]
			// [MQTT5-3.1.2-20], and when the server has been silent for
			// one (a client that only sends QoS 0 still notices a dead
			// server).
			if now.Sub(time.Unix(0, l.lastSent.Load())) >= ka*3/4 || now.Sub(time.Unix(0, l.lastRecv.Load())) >= ka {
				l.pingAt.Store(now.UnixNano())
				l.queue(&packet.Pingreq{}, false)
			}
		}
	}
}

// readLoop reads and handles packets until the connection ends.
func (l *link) readLoop() {
	defer l.e.wg.Done()
	err := l.read()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		select {
		case <-l.done:
		default:
			l.e.log.Debug("client: connection ended", "err", err)
		}
	}
	l.fail(err)
}

func (l *link) read() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client: panic reading from the server: %v", r)
		}
	}()
	e := l.e
	var body []byte
	var pub packet.Publish
	var ack packet.Ack
	maxIn := int(e.opts.MaxPacketSize)
	for {
		fh, err := packet.ReadFixedHeader(l.br, maxIn)
		if err != nil {
			return readErr(err)
		}
		if cap(body) < fh.Remaining {
			body = make([]byte, fh.Remaining)
		}
		body = body[:fh.Remaining]
		if _, err := io.ReadFull(l.br, body); err != nil {
			return readErr(err)
		}
		l.lastRecv.Store(time.Now().UnixNano())
		switch fh.Type {
		case packet.PUBLISH:
			if err := pub.Unmarshal(fh.Flags, body, l.version); err != nil {
				return err
			}
			if err := l.alias(&pub); err != nil {
				return err
			}
			e.mu.Lock()
			if e.link == l {
				err = e.sess.ReceivePublish(time.Now(), &pub, nil, packet.Success)
			}
			e.mu.Unlock()
			if err != nil {
				return err
			}
			e.wake()
		case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
			if err := ack.Unmarshal(fh.Type, fh.Flags, body, l.version); err != nil {
				return err
			}
			e.mu.Lock()
			if e.link == l {
				err = e.sess.Receive(time.Now(), &ack)
			}
			e.mu.Unlock()
			if err != nil {
				return err
			}
			e.wake()
		default:
			p, err := packet.Decode(fh, body, l.version)
			if err != nil {
				return err
			}
			if err := l.handle(p); err != nil {
				return err
			}
		}
	}
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("client: connection closed by the server: %w", err)
	}
	return err
}

// alias resolves an MQTT 5 Topic Alias of an inbound PUBLISH.
func (l *link) alias(p *packet.Publish) error {
	if !p.Properties.Has(packet.PropTopicAlias) {
		return nil
	}
	a := p.Properties.TopicAlias
	if a == 0 || a > l.aliasMax { // [MQTT5-3.3.2-10] accepts 1..our maximum
		return &packet.Error{Code: packet.TopicAliasInvalid, Reason: fmt.Sprintf("topic alias %d above our maximum %d", a, l.aliasMax)}
	}
	if p.Topic != "" {
		if l.aliases == nil {
			l.aliases = make(map[uint16]string)
		}
		l.aliases[a] = string([]byte(p.Topic)) // p.Topic aliases the read buffer
		return nil
	}
	t, ok := l.aliases[a]
	if !ok {
		return &packet.Error{Code: packet.ProtocolError, Reason: fmt.Sprintf("unknown topic alias %d", a)}
	}
	p.Topic = t
	return nil
}

// handle processes the packets other than PUBLISH and acknowledgements.
func (l *link) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Suback:
		l.e.onAck(p.PacketID, p.ReasonCodes, &p.Properties)
	case *packet.Unsuback:
		codes := p.ReasonCodes
		if l.version != packet.V5 {
			codes = nil // no reason codes before MQTT 5
		}
		l.e.onAck(p.PacketID, codes, &p.Properties)
	case *packet.Pingresp:
		l.pingAt.Store(0)
	case *packet.Auth:
		return l.onAuth(p)
	case *packet.Disconnect:
		if l.version != packet.V5 {
			return &packet.Error{Code: packet.ProtocolError, Reason: "DISCONNECT from a 3.1.1 server"}
		}
		l.mu.Lock()
		l.serverRef = p.Properties.ServerReference
		l.mu.Unlock()
		err := &ReasonError{Op: "disconnected by the server", Code: p.ReasonCode, Reason: p.Properties.ReasonString}
		l.close(err)
		return err
	default:
		return &packet.Error{Code: packet.ProtocolError, Reason: "unexpected " + p.Type().String() + " from the server"}
	}
	return nil
}

// authStep answers one AUTH from the server during the connection.
func authStep(ctx context.Context, nc net.Conn, o *Options, p *packet.Auth) error {
	a := o.Auth
	if a == nil || o.Version != packet.V5 { // [MQTT5-4.12.0-6]
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH from the server without an authentication method"}
	}
	if p.ReasonCode != packet.ContinueAuthentication {
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH before CONNACK with reason " + p.ReasonCode.String()}
	}
	if p.Properties.AuthMethod != a.Method() { // [MQTT5-4.12.0-5]
		return &packet.Error{Code: packet.ProtocolError, Reason: "AUTH with another authentication method " + strconv.Quote(p.Properties.AuthMethod)}
	}
	data, err := a.Challenge(p.Properties.AuthData)
	if err != nil {
		return fmt.Errorf("client: authentication: %w", err)
	}
	resp := authPacket(packet.ContinueAuthentication, a.Method(), data) // [MQTT5-4.12.0-3]
	b, err := packet.Append(nil, resp, packet.V5)
	if err != nil {
		return fmt.Errorf("client: AUTH: %w", err)
	}
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("client: writing AUTH: %w", ctxErr(ctx, err))
	}
	return nil
}
