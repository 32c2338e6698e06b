package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/tern-mq/tern/packet"
)

// Relay is the machine's ceiling for the benchmarks: a server that speaks
// just enough MQTT for the load generator (CONNACK, SUBACK, the QoS
// acknowledgements, PINGRESP) and copies every PUBLISH frame, unchanged,
// to every connection that has subscribed, without parsing topics,
// matching filters, sessions or queues. Writes to a subscriber are
// batched; a subscriber that falls behind holds the publishers back
// (nothing is dropped).
type Relay struct {
	mu   sync.Mutex
	subs []*relayConn
	wg   sync.WaitGroup
}

// relayConn is one connection; pending holds the bytes waiting for its
// writer.
type relayConn struct {
	nc      net.Conn
	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte
	closed  bool
}

// relayBacklog is the pending bytes past which a publisher waits.
const relayBacklog = 1 << 20

// Serve accepts connections on ln until ctx ends.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var conns sync.Map
	defer func() {
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		r.wg.Wait()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		conns.Store(nc, nil)
		c := &relayConn{nc: nc}
		c.cond = sync.NewCond(&c.mu)
		r.wg.Add(2)
		go func() { defer r.wg.Done(); c.writer() }()
		go func() {
			defer r.wg.Done()
			r.read(c)
			conns.Delete(nc)
			nc.Close()
			r.mu.Lock()
			// Copy on write: readers range over the slice they loaded.
			r.subs = slices.DeleteFunc(slices.Clone(r.subs), func(s *relayConn) bool { return s == c })
			r.mu.Unlock()
			c.mu.Lock()
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
		}()
	}
}

// queue appends b to c's pending bytes, waiting while the backlog is full
// unless wait is false.
func (c *relayConn) queue(b []byte, wait bool) {
	c.mu.Lock()
	for wait && len(c.pending) > relayBacklog && !c.closed {
		c.cond.Wait()
	}
	if !c.closed {
		c.pending = append(c.pending, b...)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

func (c *relayConn) writer() {
	var buf []byte
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		buf, c.pending = c.pending, buf[:0]
		c.cond.Broadcast()
		c.mu.Unlock()
		if _, err := c.nc.Write(buf); err != nil {
			c.nc.Close()
			return
		}
	}
}

func (r *Relay) read(c *relayConn) {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	v := packet.V5
	var frame, out []byte
	flush := func() {
		if len(out) > 0 {
			c.queue(out, false)
			out = out[:0]
		}
	}
	for {
		fh, err := packet.ReadFixedHeader(br, 0)
		if err != nil {
			return
		}
		if size := fh.Size() + fh.Remaining; cap(frame) < size {
			frame = make([]byte, size)
		} else {
			frame = frame[:size]
		}
		frame[0] = byte(fh.Type)<<4 | fh.Flags
		n := copy(frame[1:], vbi(fh.Remaining))
		body := frame[1+n:]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		switch fh.Type {
		case packet.CONNECT:
			p, err := packet.Decode(fh, body, 0)
			if err != nil {
				return
			}
			v = p.(*packet.Connect).Version
			out, _ = packet.Append(out, &packet.Connack{}, v)
		case packet.SUBSCRIBE:
			p, err := packet.Decode(fh, body, v)
			if err != nil {
				return
			}
			s := p.(*packet.Subscribe)
			sa := &packet.Suback{PacketID: s.PacketID}
			for _, sub := range s.Subscriptions {
				sa.ReasonCodes = append(sa.ReasonCodes, packet.ReasonCode(sub.Options.QoS))
			}
			out, _ = packet.Append(out, sa, v)
			r.mu.Lock()
			r.subs = append(slices.Clip(r.subs), c)
			r.mu.Unlock()
		case packet.PUBLISH:
			if q := packet.QoS(fh.Flags >> 1 & 3); q > 0 && len(body) >= 2 {
				// The packet identifier follows the topic.
				tl := int(body[0])<<8 | int(body[1])
				if len(body) >= 4+tl {
					t := packet.PUBACK
					if q == 2 {
						t = packet.PUBREC
					}
					a := packet.Ack{PacketType: t, PacketID: uint16(body[2+tl])<<8 | uint16(body[3+tl])}
					out, _ = a.Append(out, v)
				}
			}
			r.mu.Lock()
			subs := r.subs
			r.mu.Unlock()
			for _, s := range subs {
				s.queue(frame, true)
			}
		case packet.PUBREL, packet.PUBREC:
			var a packet.Ack
			if a.Unmarshal(fh.Type, fh.Flags, body, v) == nil {
				t := packet.PUBCOMP
				if fh.Type == packet.PUBREC {
					t = packet.PUBREL
				}
				a = packet.Ack{PacketType: t, PacketID: a.PacketID}
				out, _ = a.Append(out, v)
			}
		case packet.PINGREQ:
			out, _ = packet.Append(out, &packet.Pingresp{}, v)
		case packet.DISCONNECT:
			flush()
			return
		}
		if br.Buffered() == 0 {
			flush()
		}
	}
}

func vbi(n int) []byte {
	var b [4]byte
	i := 0
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b[i] = c
		i++
		if n == 0 {
			return b[:i]
		}
	}
}
