package session

import (
	"time"

	"github.com/tern-mq/tern/packet"
)

// HasReady reports whether Ready has something and no Ready is
// outstanding (returned and not yet advanced).
func (s *Session) HasReady() bool {
	return !s.outstanding && len(s.changes)+len(s.packets)+len(s.deliver)+len(s.done) > 0
}

// Ready returns the output accumulated since the last Advance and marks it
// outstanding. Its slices belong to the session and stay valid and
// unchanged until Advance; calls made meanwhile (Send, Receive,
// Disconnected...) accumulate for the next Ready. Called again before
// Advance it returns the same outstanding Ready.
func (s *Session) Ready() Ready {
	if s.outstanding {
		return s.rd
	}
	s.rd = Ready{
		Gen:     s.gen,
		Persist: s.changes[:len(s.changes):len(s.changes)],
		Packets: s.packets[:len(s.packets):len(s.packets)],
		Deliver: s.deliver[:len(s.deliver):len(s.deliver)],
		Done:    s.done[:len(s.done):len(s.done)],
	}
	s.rdAcks = s.inUnacked
	s.outstanding = true
	return s.rd
}

// Advance confirms the outstanding Ready was handled: persisted, sent,
// delivered. Its slices are reused afterwards.
func (s *Session) Advance() {
	if !s.outstanding {
		return
	}
	s.changes = shift(s.changes, len(s.rd.Persist))
	s.packets = shift(s.packets, len(s.rd.Packets))
	s.deliver = shift(s.deliver, len(s.rd.Deliver))
	s.done = shift(s.done, len(s.rd.Done))
	s.inUnacked -= s.rdAcks
	s.rdAcks = 0
	s.rd = Ready{}
	s.outstanding = false
	s.release()
}

// Buffers grown beyond these sizes by a burst are released once empty, so
// an idle session holds little memory.
const (
	keepReady = 1024 // Ready slice elements
	keepSlots = 256  // in-flight slots and queue ring entries
)

func (s *Session) release() {
	if len(s.changes) == 0 && cap(s.changes) > keepReady {
		s.changes = nil
	}
	if len(s.packets) == 0 && cap(s.packets) > keepReady {
		s.packets = nil
	}
	if len(s.deliver) == 0 && cap(s.deliver) > keepReady {
		s.deliver = nil
	}
	if len(s.done) == 0 && cap(s.done) > keepReady {
		s.done = nil
	}
	if s.q.n == 0 && len(s.q.buf) > keepSlots {
		s.q = queue{}
	}
	if s.fl.byID.n == 0 && len(s.fl.slots) > keepSlots {
		s.fl = newFlights()
	}
}

func shift[T any](buf []T, n int) []T {
	m := copy(buf, buf[n:])
	clear(buf[m:])
	return buf[:m]
}

// Tick resends, for 3.1/3.1.1 connections with Config.Retry, the PUBLISH
// (with DUP set) or PUBREL of every flow unacknowledged for its current
// interval, then doubles that interval up to Retry.Max. It does nothing
// for MQTT 5, which resends only on reconnection [MQTT5-4.4.0-1].
func (s *Session) Tick(now time.Time) {
	if !s.retryOn() || s.retryAt.IsZero() || now.Before(s.retryAt) {
		return
	}
	s.retryAt = time.Time{}
	for i := s.fl.head; i >= 0; i = s.fl.slots[i].next {
		e := &s.fl.slots[i]
		if e.retryAt.IsZero() {
			continue
		}
		if !now.Before(e.retryAt) {
			next := 2 * e.interval
			if mx := s.cfg.Retry.Max; mx > 0 && next > mx {
				next = mx
			}
			if e.stage == AwaitPubcomp {
				s.pubrel(now, i, true, next)
			} else {
				s.publish(now, i, true, next) // [MQTT-3.3.1-1]
			}
			continue // publish/pubrel re-armed and updated s.retryAt
		}
		if s.retryAt.IsZero() || e.retryAt.Before(s.retryAt) {
			s.retryAt = e.retryAt
		}
	}
}

// Deadline returns when Tick next has work, for 3.1/3.1.1 connections with
// Config.Retry; ok is false when there is none.
func (s *Session) Deadline() (t time.Time, ok bool) {
	if !s.retryOn() || s.retryAt.IsZero() {
		return time.Time{}, false
	}
	return s.retryAt, true
}

// Stats returns the session's gauges and counters.
func (s *Session) Stats() Stats {
	st := s.stats
	st.Queued = s.q.n
	st.QueuedBytes = s.q.bytes
	st.InFlight = s.fl.n
	st.InboundPending = s.in.n
	return st
}

// Version is the protocol level of the current (or last) connection.
func (s *Session) Version() packet.Version { return s.version }

// Window is the outbound in-flight limit of the current (or last)
// connection.
func (s *Session) Window() int { return s.window }
