package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
)

// maxBatch bounds the PUBLISH packets written by one Write.
const maxBatch = 128

type publisher struct {
	l          *link
	r          *run
	topic      string
	window     uint64
	sent       atomic.Uint64
	acked      atomic.Uint64
	ackc       chan struct{} // a token after acknowledgements arrive
	readerDone chan struct{}
}

func newPublisher(l *link, r *run, i int) *publisher {
	p := &publisher{l: l, r: r, topic: expand(r.cfg.Topic, i), window: uint64(min(r.cfg.Inflight, l.recvMax)),
		ackc: make(chan struct{}, 1), readerDone: make(chan struct{})}
	go p.reader()
	return p
}

// reader counts PUBACK and PUBCOMP and answers PUBREC with PUBREL.
func (p *publisher) reader() {
	defer close(p.readerDone)
	var ack packet.Ack
	var out []byte
	for {
		fh, body, err := p.l.next()
		if err != nil {
			if !p.l.closing.Load() {
				p.r.errs.add(fmt.Errorf("publisher connection: %w", err))
			}
			return
		}
		switch fh.Type {
		case packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
			if err := ack.Unmarshal(fh.Type, fh.Flags, body, p.l.v); err != nil {
				p.r.errs.add(fmt.Errorf("bad %s from the broker: %w", fh.Type, err))
				continue
			}
			if ack.ReasonCode.IsError() {
				p.r.errs.add(fmt.Errorf("broker refused a publication: %s (%s reason 0x%02x)", ack.ReasonCode, fh.Type, byte(ack.ReasonCode)))
			}
			if fh.Type == packet.PUBREC && !ack.ReasonCode.IsError() {
				rel := packet.Ack{PacketType: packet.PUBREL, PacketID: ack.PacketID}
				out, _ = rel.Append(out, p.l.v)
			} else {
				p.acked.Add(1)
				select {
				case p.ackc <- struct{}{}:
				default:
				}
			}
		}
		if len(out) > 0 && p.l.r.Buffered() == 0 {
			if err := p.l.write(out); err != nil {
				if !p.l.closing.Load() {
					p.r.errs.add(fmt.Errorf("publisher connection: %w", err))
				}
				return
			}
			out = out[:0]
		}
	}
}

// loop publishes until the duration ends or the count is reached: at a
// fixed rate, each message stamped with its intended send time so that a
// late send shows as latency (no coordinated omission), or flat-out,
// stamped with the actual send time.
func (p *publisher) loop(ctx context.Context, start time.Time, idx int) {
	cfg := &p.r.cfg
	pub := packet.Publish{QoS: cfg.QoS, Topic: p.topic, Payload: make([]byte, cfg.Size)}
	buf := make([]byte, 0, maxBatch*packet.Size(&pub, p.l.v))
	var end time.Time
	if cfg.Duration > 0 {
		end = start.Add(cfg.Duration)
	}
	var interval time.Duration
	first := start
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
		// Spread the publishers' send times over one interval.
		first = start.Add(interval * time.Duration(idx) / time.Duration(max(cfg.Publishers, 1)))
	}
	firstUnix := first.UnixNano()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(until time.Time, ack bool) bool {
		d := time.Until(until)
		if end.IsZero() && d > time.Hour {
			d = time.Hour
		}
		timer.Reset(d)
		var ackc chan struct{}
		if ack {
			ackc = p.ackc
		}
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		case <-ackc:
			if !timer.Stop() {
				<-timer.C
			}
		}
		return true
	}
	var k uint64 // next sequence number
	for {
		now := time.Now()
		if !end.IsZero() && !now.Before(end) || cfg.Count > 0 && k >= uint64(cfg.Count) || ctx.Err() != nil {
			return
		}
		n := uint64(maxBatch)
		if interval > 0 {
			due := uint64(0)
			if !now.Before(first) {
				due = uint64(now.Sub(first)/interval) + 1
			}
			if due <= k {
				if !wait(first.Add(time.Duration(k)*interval), false) {
					return
				}
				continue
			}
			n = min(n, due-k)
		}
		if cfg.Count > 0 {
			n = min(n, uint64(cfg.Count)-k)
		}
		if cfg.QoS > 0 {
			free := p.window - min(p.window, k-p.acked.Load())
			if free == 0 {
				next := end
				if next.IsZero() {
					next = now.Add(time.Hour)
				}
				if !wait(next, true) {
					return
				}
				continue
			}
			n = min(n, free)
		}
		buf = buf[:0]
		sendNow := now.UnixNano()
		for range n {
			st := stamp{run: p.r.id, pub: uint32(idx), seq: k, sent: sendNow}
			if interval > 0 {
				st.sent = firstUnix + int64(k)*int64(interval)
			}
			putStamp(pub.Payload, st)
			if cfg.QoS > 0 {
				pub.PacketID = uint16(k%65535) + 1
			}
			buf, _ = pub.Append(buf, p.l.v)
			k++
		}
		if err := p.l.write(buf); err != nil {
			if !p.l.closing.Load() && ctx.Err() == nil {
				p.r.errs.add(fmt.Errorf("publishing: %w", err))
			}
			return
		}
		p.sent.Store(k)
	}
}
