package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// Reasons a connection ends, besides protocol errors.
var (
	errShutdown    = &packet.Error{Code: packet.ServerShuttingDown, Reason: "server shutting down"}
	errTakenOver   = &packet.Error{Code: packet.SessionTakenOver, Reason: "session taken over"}
	errKeepAlive   = &packet.Error{Code: packet.KeepAliveTimeout, Reason: "keep alive timeout"}
	errNormal      = errors.New("client disconnected")
	errPanic       = &packet.Error{Code: packet.ImplementationSpecificError, Reason: "internal error"}
	errConnTimeout = errors.New("no CONNECT within the connect timeout")
)

func protocolError(format string, args ...any) error {
	return &packet.Error{Code: packet.ProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// conn is one network connection: the design's network process. Its reader
// goroutine lives as long as the connection; a writer goroutine runs only
// while output is pending.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     *reader
	pk     *parking // nil: never parked (see park.go)
	remote string

	// Set by the reader when CONNECT is accepted, before any writer can run
	// for the client; read-only afterwards.
	cl          *client
	gen         uint64
	version     packet.Version
	problemInfo bool // a Reason String may be sent (set with cl)
	maxOut      int  // the client's Maximum Packet Size (0: none)
	authz       auth.ClientInfo
	bucket      tokenBucket // publish rate limit, reader only
	ctr         connCounters
	denials     int            // refusals of the Authorizer, reader only
	slots       *listenerSlots // its listener's open connections (Server.mu)
	lst         *listenerState // its listener's options (nil: none)
	who         *aclWho        // the identity its subscriptions are authorized for, reader only

	aliases  []string   // inbound topic aliases, by alias; the reader's only
	outAlias outAliases // outbound topic aliases (cl.mu held)
	enh      *enhanced  // enhanced authentication, if the client uses it

	mu       sync.Mutex // guards ctl, stopped, waiters
	flushed  *sync.Cond // signalled (with mu) when a writer ends a flush; made by the first wait
	waiters  int        // readers waiting on flushed
	hq       holdQueue  // holds on ctl: the writer stops at the first
	ctl      *[]byte    // encoded packets queued for the writer (CONNACK, SUBACK, acks ...), pooled
	stopped  bool       // the reader has ended: start no more writers
	closeErr error      // why the connection was closed, set once with closed

	wmu        sync.Mutex // held while writing to nc
	writing    atomic.Bool
	writeSince atomic.Int64 // when the writer's current nc.Write began (Unix ns); 0: not in Write
	dirty      atomic.Bool
	closed     atomic.Bool
	// attached is set once CONNECT is accepted: cl, gen and version may
	// then be read by other goroutines.
	attached atomic.Bool
	writeFn  func()
	pipe     pipeline // durable publications whose commit is in flight

	// Reused by the writer that holds the writing flag, and by the reader.
	deliver  []*session.Message
	rdeliver []*session.Message
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, rd: newReader(nc)}
	if !s.cfg.DisableParking {
		c.pk = newParking(nc)
		c.rd.pk = c.pk
	}
	c.writeFn = c.writer
	return c
}

func (c *conn) clientID() string {
	if c.cl == nil {
		return ""
	}
	return c.cl.id
}

// close closes the network connection once; the reader then ends and cleans
// up. err tells why.
func (c *conn) close(err error) {
	if c.closed.CompareAndSwap(false, true) {
		c.mu.Lock()
		c.closeErr = err
		if c.waiters > 0 {
			c.flushed.Broadcast()
		}
		c.mu.Unlock()
		c.disarm()
		c.nc.Close()
		c.wake() // a parked connection ends in a new goroutine
	}
}

// finalWrite writes p (a DISCONNECT) after any write in progress, bounded
// by a short deadline, then closes the connection with err.
func (c *conn) finalWrite(p packet.Packet, err error) {
	if c.closed.Load() {
		return
	}
	b, eerr := packet.Append(nil, p, c.version)
	if eerr == nil && packet.Fit(p, c.version, c.maxOut) {
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.wmu.Lock()
		if !c.closed.Load() {
			c.nc.Write(b)
		}
		// Closed before a writer waiting for wmu can write after the
		// DISCONNECT.
		c.close(err)
		c.wmu.Unlock()
		return
	}
	c.close(err)
}

// disconnectWith ends the connection, sending DISCONNECT with the reason
// code of err first to an MQTT 5 client.
func (c *conn) disconnectWith(err error) {
	if !c.attached.Load() || c.version != packet.V5 {
		c.close(err)
		return
	}
	if pe, ok := errors.AsType[*packet.Error](err); ok { // no reflection, unlike errors.As
		d := &packet.Disconnect{ReasonCode: pe.Code}
		withReason(&d.Properties, d, c.problemInfo, pe.Reason, c.maxOut)
		c.finalWrite(d, err)
		return
	}
	c.close(err)
}

// shutdown is called by Server.Shutdown.
func (c *conn) shutdown() { c.disconnectWith(errShutdown) }

// readLoop is the connection's first reader goroutine: it reads CONNECT,
// then packets until the connection ends or is parked.
func (c *conn) readLoop() {
	var reason error
	var parked bool
	defer c.finish(&reason, &parked) // recovers a panic
	if reason = c.run(); reason == nil {
		reason, parked = c.loop()
	}
}

// resume is the reader goroutine of a connection woken from parking.
func (c *conn) resume() {
	var reason error
	var parked bool
	defer c.finish(&reason, &parked)
	reason, parked = c.loop()
}

// recovered logs and counts a panic of a connection goroutine.
func (s *Server) recovered(c *conn, where string, r any) error {
	s.stats.panics.Add(1)
	s.log.Error("panic in connection", "where", where, "client", c.clientID(),
		"remote", c.remote, "panic", r, "stack", string(debug.Stack()))
	return errPanic
}

// finish runs when a reader goroutine returns: unless it parked the
// connection, it closes the connection, detaches the session and logs one
// line.
func (c *conn) finish(reason *error, parked *bool) {
	if r := recover(); r != nil {
		*reason = c.srv.recovered(c, "reader", r)
	} else if *parked {
		return
	}
	c.pipe.end() // a session taken over waits for this reader's commits
	err := *reason
	if !c.closed.Load() {
		c.disconnectWith(err)
	}
	c.mu.Lock()
	c.stopped = true
	if c.closeErr != nil && (err == nil || isNetErr(err)) {
		err = c.closeErr // the reason we closed it for
	}
	c.mu.Unlock()
	c.endParking()
	c.rd.close()
	if cl := c.cl; cl != nil && c.attached.Load() {
		c.srv.stats.connected.Add(-1)
		cl.detach(c, err)
		c.srv.log.LogAttrs(c.srv.ctx, slog.LevelInfo, "client disconnected", slog.String("client", cl.id),
			slog.String("remote", c.remote), slog.String("reason", reasonText(err)))
	} else {
		c.srv.log.Debug("connection closed before CONNECT", "remote", c.remote, "reason", reasonText(err))
	}
	c.srv.removeConn(c)
	c.srv.wg.Done()
}

func isNetErr(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}

func reasonText(err error) string {
	switch {
	case err == nil:
		return "closed"
	case errors.Is(err, io.EOF):
		return "connection closed by client"
	}
	return err.Error()
}

// run reads and handles CONNECT; nil means the client is connected.
func (c *conn) run() error {
	if a := c.nc.RemoteAddr(); a != nil {
		c.remote = a.String()
	}
	// [MQTT-3.1.0-1] the first packet must be CONNECT, within ConnectTimeout.
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.ConnectTimeout))
	fh, body, err := c.readPacket()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errConnTimeout
		}
		return err
	}
	if fh.Type != packet.CONNECT { // [MQTT-3.1.0-1]
		return protocolError("first packet is %s, not CONNECT", fh.Type)
	}
	p, err := packet.Decode(fh, body, 0)
	if err != nil {
		return c.connectFailed(p, err)
	}
	if err := c.srv.connect(c, p.(*packet.Connect)); err != nil {
		return err
	}
	return nil
}

// loop reads and handles packets after CONNECT, until the connection ends
// (the error says why) or is parked (parked true: the goroutine must
// return). A connection that cannot be parked waits in rd.fill called from
// here, with a shallow stack. (The runtime keeps a goroutine parked in a
// network read at a 4 KiB stack: it shrinks a stack only when less than a
// quarter of it, guard included, is used.)
func (c *conn) loop() (err error, parked bool) {
	for {
		if c.rd.pk != nil {
			ready, err := c.rd.fillNow()
			if err != nil {
				return readErr(err), false
			}
			if !ready {
				if parked, err := c.idle(); err != nil || parked {
					return err, parked
				}
				continue
			}
			if c.pk.deadline.Load() != 0 {
				c.pk.deadline.Store(0) // a packet arrived: keep alive restarts at the next park
			}
		} else if c.rd.r == c.rd.w {
			if err := c.rd.fill(); err != nil {
				return readErr(err), false
			}
		}
		if err := c.next(); err != nil {
			return err, false
		}
	}
}

func readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errKeepAlive // [MQTT-3.1.2-24] [MQTT5-3.1.2-22]
	}
	return err
}

// next reads and handles one packet.
func (c *conn) next() error {
	fh, body, err := c.readPacket()
	if err != nil {
		return readErr(err)
	}
	return c.handle(fh, body)
}

func (c *conn) readPacket() (packet.FixedHeader, []byte, error) {
	fh, err := packet.ReadFixedHeader(c.rd, c.srv.cfg.MaxPacketSize)
	if err != nil {
		return fh, nil, err
	}
	body, err := c.rd.readBody(fh.Remaining)
	if err == nil {
		c.ctr.bytesIn.Add(int64(fh.Size() + fh.Remaining))
	}
	return fh, body, err
}

// connectFailed answers a CONNECT that could not be decoded.
func (c *conn) connectFailed(p packet.Packet, err error) error {
	var pe *packet.Error
	cp, _ := p.(*packet.Connect)
	if errors.As(err, &pe) && pe.Code == packet.UnsupportedProtocolVersion && cp != nil {
		// Answer in the format the client most likely understands:
		// [MQTT-3.1.2-2] return code 0x01 for levels below 5, [MQTT5-3.1.2-2]
		// reason code 0x84 for levels above.
		if cp.Version > packet.V5 {
			c.writeDirect(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion}, packet.V5)
		} else {
			c.writeDirect(&packet.Connack{ReasonCode: packet.ConnRefusedProtocolVersion311}, packet.V311)
		}
		return err
	}
	if cp != nil && cp.Version == packet.V5 && errors.As(err, &pe) {
		// [MQTT5-3.1.4-1] a malformed v5 CONNECT gets a CONNACK with the reason.
		c.writeDirect(&packet.Connack{ReasonCode: pe.Code}, packet.V5)
	}
	return err // [MQTT-3.1.4-1] close without CONNACK
}

// writeDirect writes one packet before the connection has a session (no
// writer can run yet).
func (c *conn) writeDirect(p packet.Packet, v packet.Version) {
	b, err := packet.Append(nil, p, v)
	if err != nil {
		c.srv.log.Debug("encoding", "packet", p.Type(), "err", err)
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.ConnectTimeout))
	c.wmu.Lock()
	c.nc.Write(b)
	c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Time{})
}

// handle dispatches one packet after CONNECT.
func (c *conn) handle(fh packet.FixedHeader, body []byte) error {
	if h := c.srv.testHook.Load(); h != nil {
		(*h)(fh.Type)
	}
	cl := c.cl
	switch fh.Type {
	case packet.PUBLISH:
		sc := getScratch()
		defer putScratch(sc)
		if err := sc.pub.Unmarshal(fh.Flags, body, c.version); err != nil {
			return err
		}
		return c.onPublish(&sc.pub)
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		sc := getScratch()
		defer putScratch(sc)
		if err := sc.ack.Unmarshal(fh.Type, fh.Flags, body, c.version); err != nil {
			return err
		}
		now := c.rd.now // one clock read per socket read, not per packet
		if err := cl.receive(now, &sc.ack, nil, 0); err != nil {
			return err
		}
		return c.afterReceive(now)
	case packet.PINGREQ:
		if len(body) != 0 {
			return &packet.Error{Code: packet.MalformedPacket, Reason: "PINGREQ with a body"}
		}
		c.queue(&packet.Pingresp{})
		return nil
	}
	p, err := packet.Decode(fh, body, c.version)
	if err != nil {
		return err
	}
	switch p := p.(type) {
	case *packet.Subscribe:
		return c.srv.subscribe(c, p)
	case *packet.Unsubscribe:
		return c.srv.unsubscribe(c, p)
	case *packet.Disconnect:
		return c.onDisconnect(p)
	case *packet.Connect: // [MQTT-3.1.0-2] [MQTT5-3.1.0-2]
		return protocolError("second CONNECT")
	case *packet.Auth:
		return c.onAuth(p)
	}
	return protocolError("%s is not sent to a server", fh.Type)
}

// onPublish handles a decoded PUBLISH.
func (c *conn) onPublish(p *packet.Publish) error {
	if err := c.srv.checkPublish(p); err != nil {
		return err
	}
	if c.version == packet.V5 && p.Properties.Has(packet.PropTopicAlias) {
		if err := c.resolveAlias(p); err != nil {
			return err
		}
	}
	if err := validName(p.Topic); err != nil {
		return err
	}
	now := c.rd.now // one clock read per socket read, not per packet
	if !c.allowPublish(now) {
		return errRateTooHigh
	}
	if !c.srv.allow(c, auth.Publish, p.Topic) {
		// Not authorized (0x87) in a v5 PUBACK/PUBREC; before MQTT 5 acknowledged
		// as usual and dropped [MQTT-3.3.5-2].
		if err := c.cl.receive(now, p, nil, packet.NotAuthorized); err != nil {
			return err
		}
		return c.afterReceive(now)
	}
	reason := packet.Success
	if c.version == packet.V5 && p.QoS > 0 && !c.srv.hasSubscribers(p.Topic) {
		reason = packet.NoMatchingSubscribers // [MQTT5-3.4.2-1] in PUBACK or PUBREC
	}
	m := c.srv.newMessage(now, p)
	if c.srv.store != nil && p.QoS > 0 {
		return c.publishDurably(now, p, m, reason)
	}
	if err := c.cl.receive(now, p, m, reason); err != nil {
		return err
	}
	c.srv.stats.received.Add(1)
	c.ctr.recvQoS[p.QoS].Add(1)
	return c.afterReceive(now)
}

// publishDurably handles a QoS 1 or 2 PUBLISH when a Store is configured:
// the message is accepted and routed, the publisher's acceptance and the
// subscribers' deliveries are persisted with one Apply, and its PUBACK or
// PUBREC, queued behind a hold, is written once that Apply is durable:
// an acknowledged message is in the store for every subscriber. The reader
// does not wait for the sync (see submit).
func (c *conn) publishDurably(now time.Time, p *packet.Publish, m *session.Message, reason packet.ReasonCode) error {
	cl := c.cl
	b := getFanout()
	deliver, err := c.receiveHeld(now, p, m, reason, b)
	if err != nil {
		b.finish(c.srv, nil) // the session refused it: nothing held
		return err
	}
	c.srv.stats.received.Add(1)
	c.ctr.recvQoS[p.QoS].Add(1)
	for i, dm := range deliver {
		c.srv.routeAt(dm, cl, now, b)
		deliver[i] = nil
	}
	c.rdeliver = deliver[:0]
	// One Apply, atomic, for the publisher's acceptance and every
	// subscriber's delivery (a crash cannot keep one without the other).
	if err := c.submit(b); err != nil {
		return err
	}
	return c.waitBacklog()
}

// receiveHeld hands a PUBLISH to the session and drains it in the same
// critical section, its packets (the acknowledgement) held in the control
// queue and its changes collected in b until b is committed.
func (c *conn) receiveHeld(now time.Time, p *packet.Publish, m *session.Message, reason packet.ReasonCode, b *fanout) ([]*session.Message, error) {
	cl := c.cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if err := cl.sess.ReceivePublish(now, p, m, reason); err != nil {
		return nil, err
	}
	if cl.conn != c {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.ctlLen()
	var out []byte
	if c.ctl != nil {
		out = *c.ctl
	}
	// Messages a writer took from the session before this one (a PUBLISH
	// the session accepted from a connection it took over): routed first.
	out, deliver := c.drain(cl, out, cl.takeLater(c.rdeliver[:0]), false, b)
	c.setCtl(out)
	b.holdFrom(c, n)
	return deliver, nil
}

// newMessage copies p into an immutable message. Without properties (every
// MQTT 3 message) topic and payload share one allocation.
func (s *Server) newMessage(now time.Time, p *packet.Publish) *session.Message {
	var m *session.Message
	if p.Properties.Present != 0 || !p.Properties.Empty() {
		m = session.NewMessage(now, p)
		if m.Properties != nil { // a client sends none [MQTT5-3.3.4-6]
			m.Properties.SubscriptionIDs = nil
			m.Properties.Clear(packet.PropSubscriptionID)
		}
	} else {
		b := make([]byte, len(p.Topic)+len(p.Payload))
		n := copy(b, p.Topic)
		copy(b[n:], p.Payload)
		m = &session.Message{Payload: b[n:len(b):len(b)], QoS: p.QoS, Retain: p.Retain}
		if n > 0 {
			m.Topic = unsafe.String(unsafe.SliceData(b), n) // b[:n] is never written again
		}
	}
	m.ID = s.messageID() // a stored body needs an identifier
	return m
}

// onDisconnect handles DISCONNECT from the client.
func (c *conn) onDisconnect(p *packet.Disconnect) error {
	cl := c.cl
	cl.mu.Lock()
	if c.version == packet.V5 && p.Properties.Has(packet.PropSessionExpiry) {
		if cl.expiry == 0 && p.Properties.SessionExpiry != 0 {
			cl.mu.Unlock() // section 3.14.2.2.2: a protocol error
			return protocolError("DISCONNECT sets a session expiry after CONNECT set none")
		}
		cl.expiry = cl.srv.capExpiry(p.Properties.SessionExpiry)
	}
	// [MQTT-3.1.2-10] [MQTT5-3.1.2-10] [MQTT5-3.14.4-3] DISCONNECT 0x00
	// discards the will; in MQTT 5 any other reason code (0x04 Disconnect
	// with Will Message, or an error) leaves it to be published.
	if c.version != packet.V5 || p.ReasonCode == packet.Success {
		cl.will = nil
	}
	cl.mu.Unlock()
	if p.ReasonCode != packet.Success {
		return &disconnectReason{code: p.ReasonCode}
	}
	return errNormal
}

// disconnectReason is the end of a connection by a client's DISCONNECT.
type disconnectReason struct{ code packet.ReasonCode }

func (d *disconnectReason) Error() string {
	return "client disconnected: " + d.code.String()
}

// queue appends a control packet for the writer. Only the reader calls it.
func (c *conn) queue(p packet.Packet) {
	if err := c.appendCtl(p); err != nil {
		c.srv.log.Error("encoding", "client", c.clientID(), "packet", p.Type(), "err", err)
		return
	}
	c.kick()
}

// scratch holds the packet values decoded into or encoded from on the hot
// path; pooled so that an idle connection does not hold them.
type scratch struct {
	pub packet.Publish
	ack packet.Ack
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	// Drop references into buffers; keep the slices' capacity. Clearing
	// the large Properties only when used keeps the common case cheap.
	sc.pub.Topic, sc.pub.Payload = "", nil
	if pr := &sc.pub.Properties; pr.Present != 0 || len(pr.User) > 0 || len(pr.SubscriptionIDs) > 0 ||
		pr.ContentType != "" || pr.ResponseTopic != "" || pr.CorrelationData != nil {
		*pr = packet.Properties{User: pr.User[:0], SubscriptionIDs: pr.SubscriptionIDs[:0]}
	}
	if pr := &sc.ack.Properties; pr.Present != 0 || len(pr.User) > 0 {
		*pr = packet.Properties{User: pr.User[:0]}
	}
	scratchPool.Put(sc)
}

// receive hands a packet from the client to its session: an
// acknowledgement, or a PUBLISH with its message (nil: the session copies
// it) and the reason code for its PUBACK or PUBREC.
func (cl *client) receive(now time.Time, p packet.Packet, m *session.Message, reason packet.ReasonCode) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if pub, ok := p.(*packet.Publish); ok {
		return cl.sess.ReceivePublish(now, pub, m, reason)
	}
	return cl.sess.Receive(now, p)
}
