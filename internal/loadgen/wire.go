package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
)

// ConnOptions are the MQTT connection settings shared by every client of a
// run.
type ConnOptions struct {
	Addr           string         // host:port
	Version        packet.Version // V31, V311 or V5; default V5
	KeepAlive      time.Duration  // 0: none
	Username       string
	Password       string
	ClientPrefix   string        // client identifiers are prefix + role + index
	ConnectTimeout time.Duration // dial + CONNACK; default 10s
	// ReceiveMaximum is announced in a v5 CONNECT: how many QoS 1/2
	// deliveries the broker may keep in flight towards a subscriber.
	ReceiveMaximum int
	// KeepSession asks for a persistent session: Clean Start 0 (MQTT 5),
	// clean session 0 (3.1, 3.1.1).
	KeepSession bool
	// SessionExpiry is the Session Expiry Interval of an MQTT 5 CONNECT,
	// in whole seconds.
	SessionExpiry time.Duration
}

func (o *ConnOptions) withDefaults() ConnOptions {
	d := *o
	if d.Version == 0 {
		d.Version = packet.V5
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = 10 * time.Second
	}
	if d.ClientPrefix == "" {
		d.ClientPrefix = "tern-bench"
	}
	return d
}

// RefusedError is a CONNACK that refused the connection.
type RefusedError struct {
	Version packet.Version
	Code    packet.ReasonCode
}

func (e *RefusedError) Error() string {
	words := e.Code.String()
	if e.Version != packet.V5 {
		words = packet.ConnackString311(e.Code)
	}
	return fmt.Sprintf("broker refused the connection: %s (CONNACK code 0x%02x)", words, byte(e.Code))
}

// DisconnectError is a DISCONNECT the broker sent.
type DisconnectError struct{ Code packet.ReasonCode }

func (e *DisconnectError) Error() string {
	return fmt.Sprintf("broker disconnected: %s (DISCONNECT reason 0x%02x)", e.Code, byte(e.Code))
}

// errTimeout marks a handshake that took longer than the connect timeout.
var errTimeout = errors.New("timeout")

// errClosed is returned when the broker closed the TCP connection.
var errClosed = errors.New("broker closed the connection")

// mconn is one MQTT connection: a socket, a buffered reader and a reused
// body buffer.
type mconn struct {
	nc        net.Conn
	r         *bufio.Reader
	v         packet.Version
	body      []byte
	recvMax   int // the broker's Receive Maximum (v5), or 65535
	connected time.Duration
}

// nextLocal rotates the source address of loopback connections.
var nextLocal atomic.Uint32

// localAddr spreads connections to an IPv4 loopback address over the
// source addresses 127.0.0.1 to 127.0.0.32, so that tens of thousands of
// connections (and those left in TIME_WAIT by earlier runs) do not exhaust
// one address's ephemeral ports. Other targets use the default.
func localAddr(addr string) net.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+nextLocal.Add(1)%32))}
}

// dial opens a TCP connection and completes CONNECT/CONNACK within the
// connect timeout.
func dial(ctx context.Context, o *ConnOptions, clientID string, readBuf int) (*mconn, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	d := net.Dialer{LocalAddr: localAddr(o.Addr)}
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	m := &mconn{nc: nc, r: bufio.NewReaderSize(nc, readBuf), v: o.Version, recvMax: 65535}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	err = m.handshake(o, clientID)
	stop()
	if err != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no CONNACK from %s within %v: %w", o.Addr, o.ConnectTimeout, errTimeout)
		} else {
			err = ctx.Err()
		}
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	m.connected = time.Since(start)
	return m, nil
}

func (m *mconn) handshake(o *ConnOptions, clientID string) error {
	c := &packet.Connect{Version: o.Version, CleanStart: !o.KeepSession, ClientID: clientID,
		KeepAlive: uint16(min(o.KeepAlive/time.Second, 65535))}
	if o.Version == packet.V5 && o.SessionExpiry > 0 {
		c.Properties.SessionExpiry = uint32(o.SessionExpiry / time.Second)
		c.Properties.Set(packet.PropSessionExpiry)
	}
	if o.Username != "" {
		c.UsernameFlag, c.Username = true, o.Username
	}
	if o.Password != "" {
		c.PasswordFlag, c.Password = true, []byte(o.Password)
	}
	if o.Version == packet.V5 && o.ReceiveMaximum > 0 {
		c.Properties.ReceiveMaximum = uint16(min(o.ReceiveMaximum, 65535))
		c.Properties.Set(packet.PropReceiveMaximum)
	}
	b, err := packet.Append(nil, c, o.Version)
	if err != nil {
		return fmt.Errorf("encoding CONNECT: %w", err)
	}
	if _, err := m.nc.Write(b); err != nil {
		return fmt.Errorf("sending CONNECT to %s: %w", o.Addr, err)
	}
	p, err := m.readPacket()
	if err != nil {
		if errors.Is(err, errClosed) {
			return fmt.Errorf("%s closed the connection before CONNACK (is it an MQTT broker accepting protocol %s?)", o.Addr, o.Version)
		}
		return fmt.Errorf("waiting for CONNACK from %s: %w", o.Addr, err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return fmt.Errorf("%s answered CONNECT with %s, not CONNACK", o.Addr, p.Type())
	}
	if ack.ReasonCode != 0 {
		return &RefusedError{Version: o.Version, Code: ack.ReasonCode}
	}
	if ack.Properties.Has(packet.PropReceiveMaximum) {
		m.recvMax = int(ack.Properties.ReceiveMaximum)
	}
	return nil
}

// next reads one packet's fixed header and body into the reused buffer;
// the body is valid until the next call.
func (m *mconn) next() (packet.FixedHeader, []byte, error) {
	fh, err := packet.ReadFixedHeader(m.r, 0)
	if err != nil {
		return fh, nil, m.readErr(err)
	}
	if cap(m.body) < fh.Remaining {
		m.body = make([]byte, fh.Remaining)
	}
	body := m.body[:fh.Remaining]
	if _, err := io.ReadFull(m.r, body); err != nil {
		return fh, nil, m.readErr(err)
	}
	if fh.Type == packet.DISCONNECT {
		code := packet.Success
		if len(body) > 0 && m.v == packet.V5 {
			code = packet.ReasonCode(body[0])
		}
		return fh, nil, &DisconnectError{Code: code}
	}
	return fh, body, nil
}

func (m *mconn) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return errClosed
	}
	var perr *packet.Error
	if errors.As(err, &perr) {
		return fmt.Errorf("bad packet from the broker: %w", err)
	}
	return err
}

// readPacket reads and fully decodes one packet (for the handshake).
func (m *mconn) readPacket() (packet.Packet, error) {
	fh, body, err := m.next()
	if err != nil {
		return nil, err
	}
	p, err := packet.Decode(fh, slices.Clone(body), m.v)
	if err != nil {
		return nil, fmt.Errorf("bad %s from the broker: %w", fh.Type, err)
	}
	return p, nil
}

// subscribe sends one SUBSCRIBE and waits for its SUBACK.
func (m *mconn) subscribe(filter string, qos packet.QoS, timeout time.Duration) error {
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, Options: packet.SubOptions{QoS: qos}}}}
	b, err := packet.Append(nil, s, m.v)
	if err != nil {
		return fmt.Errorf("encoding SUBSCRIBE %q: %w", filter, err)
	}
	m.nc.SetDeadline(time.Now().Add(timeout))
	defer m.nc.SetDeadline(time.Time{})
	if _, err := m.nc.Write(b); err != nil {
		return fmt.Errorf("sending SUBSCRIBE: %w", err)
	}
	for {
		p, err := m.readPacket()
		if err != nil {
			return fmt.Errorf("waiting for SUBACK: %w", err)
		}
		sa, ok := p.(*packet.Suback)
		if !ok {
			continue // a retained message or a ping answer
		}
		if len(sa.ReasonCodes) != 1 {
			return fmt.Errorf("SUBACK with %d codes for 1 filter", len(sa.ReasonCodes))
		}
		if c := sa.ReasonCodes[0]; c >= 0x80 {
			words := c.String()
			if m.v != packet.V5 {
				words = "failure"
			}
			return fmt.Errorf("broker refused the subscription to %q: %s (SUBACK code 0x%02x)", filter, words, byte(c))
		} else if packet.QoS(c) < qos {
			return fmt.Errorf("broker granted QoS %d for %q, QoS %d was asked", c, filter, qos)
		}
		return nil
	}
}

// disconnect sends DISCONNECT and closes the socket.
func (m *mconn) disconnect() {
	b, _ := packet.Append(nil, &packet.Disconnect{}, m.v)
	m.nc.SetWriteDeadline(time.Now().Add(time.Second))
	m.nc.Write(b)
	m.nc.Close()
}
