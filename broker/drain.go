package broker

import (
	"context"
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
)

// DrainOptions configures Server.Drain.
type DrainOptions struct {
	// ServerReference names the server the clients should use instead
	// (e.g. "broker2.example:1883"), sent to MQTT 5 clients in the Server
	// Reference property. Empty: no property; the clients choose.
	ServerReference string
	// Moved sends reason code 0x9D (Server moved: use the other server
	// permanently) instead of 0x9C (Use another server: temporarily).
	Moved bool
	// Rate is the number of clients disconnected per second, so that
	// they do not all reconnect elsewhere at once. Default: 0, all at once.
	Rate float64
}

func (o *DrainOptions) code() packet.ReasonCode {
	if o.Moved {
		return packet.ServerMoved
	}
	return packet.UseAnotherServer
}

// drainPoll is how often Drain looks for connections still to send away.
const drainPoll = 10 * time.Millisecond

// Drain sends the clients to another server: it closes the listeners
// (Serve returns ErrServerClosed; /readyz answers 503), disconnects every
// connected client, at most Rate per second, and returns when no network
// connection is left, or with ctx's error when ctx ends first (the
// remaining connections stay open: call Shutdown).
//
// MQTT 5 clients get DISCONNECT 0x9C (Use another server) or 0x9D (Server
// moved) with the Server Reference; 3.1/3.1.1 clients are closed. A
// connection that sends CONNECT during the drain gets CONNACK 0x9C/0x9D
// with the reference (0x03 Server unavailable before MQTT 5). Sessions are
// detached as on any disconnection by the server: persistent sessions stay
// (in the Store too) until they expire, and wills are published after
// their delay [MQTT5-3.1.2-8]. Drain after Shutdown returns
// ErrServerClosed; a second Drain replaces the options of the first for
// the clients not yet disconnected.
func (s *Server) Drain(ctx context.Context, o DrainOptions) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.drain.Store(&o)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.log.Info("draining", "server_reference", o.ServerReference, "moved", o.Moved, "rate", o.Rate)

	var (
		wg   sync.WaitGroup
		told = map[*conn]bool{}
		next time.Time // when the next client may be disconnected, with a Rate
		tick = time.NewTicker(drainPoll)
		todo []*conn
	)
	defer tick.Stop()
	defer wg.Wait()
	for {
		todo = todo[:0]
		s.mu.Lock()
		left := len(s.conns)
		for c := range s.conns {
			// Connections without CONNECT yet get the CONNACK redirect or
			// their connect timeout.
			if !told[c] && c.attached.Load() {
				todo = append(todo, c)
			}
		}
		s.mu.Unlock()
		if left == 0 {
			s.log.Info("drained")
			return nil
		}
		for _, c := range todo {
			if o.Rate > 0 {
				if wait := time.Until(next); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return ctx.Err()
					case <-t.C:
					}
				}
				next = time.Now().Add(time.Duration(float64(time.Second) / o.Rate))
			}
			told[c] = true
			// In parallel: a client that does not read holds its DISCONNECT
			// up to the write deadline.
			wg.Go(func() { c.redirect(&o) })
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// draining returns the options of a drain in progress, or nil.
func (s *Server) draining() *DrainOptions { return s.drain.Load() }

// redirect ends an attached connection for a drain: DISCONNECT 0x9C or
// 0x9D with the Server Reference to an MQTT 5 client [MQTT5-3.14.2-1],
// after its CONNACK [MQTT5-3.14.0-1], without a property that would
// exceed its Maximum Packet Size [MQTT5-3.1.2-24]; then the connection is
// closed [MQTT5-3.14.4-2].
func (c *conn) redirect(o *DrainOptions) {
	err := &packet.Error{Code: o.code(), Reason: "server draining"}
	if !c.attached.Load() || c.version != packet.V5 {
		c.close(err)
		return
	}
	d := &packet.Disconnect{ReasonCode: o.code()}
	if o.ServerReference != "" {
		d.Properties.ServerReference = o.ServerReference
		d.Properties.Set(packet.PropServerReference)
		if !packet.Fit(d, packet.V5, c.maxOut) {
			d.Properties.ServerReference = ""
			d.Properties.Clear(packet.PropServerReference)
		}
	}
	withReason(&d.Properties, d, c.problemInfo, err.Reason, c.maxOut)
	c.finalWrite(d, err)
}
