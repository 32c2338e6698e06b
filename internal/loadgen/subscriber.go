package loadgen

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
)

type subscriber struct {
	l        *link
	filter   string
	run      uint32
	qos      packet.QoS
	errs     *errorList
	received atomic.Uint64 // distinct deliveries so far, for progress

	// Owned by loop until it returns.
	hist     Histogram
	sources  map[uint64]*seqSet // by run<<32 | publisher
	foreign  uint64
	lastRecv int64 // Unix ns
}

// loop receives until the connection closes: it checks each payload's
// stamp, records latency, and acknowledges QoS 1 and 2 deliveries in
// batches (one Write for all the packets already buffered).
func (s *subscriber) loop() {
	var pub packet.Publish
	var ack packet.Ack
	var out []byte
	var last *seqSet
	lastKey := ^uint64(0)
	anyRun := s.run == 0 // subscribers alone take every run's messages
	// The clock is read when new bytes come from the socket and every 16
	// packets of a buffered burst, not for every message.
	var now int64
	var sinceClock int
	for {
		fresh := s.l.r.Buffered() == 0
		fh, body, err := s.l.next()
		if fresh || sinceClock >= 16 {
			now, sinceClock = time.Now().UnixNano(), 0
		}
		sinceClock++
		if err != nil {
			if !s.l.closing.Load() {
				s.l.closing.Store(true) // stop counting this one as live
				s.errs.add(fmt.Errorf("subscriber connection: %w", err))
			}
			return
		}
		switch fh.Type {
		case packet.PUBLISH:
			if err := pub.Unmarshal(fh.Flags, body, s.l.v); err != nil {
				s.errs.add(fmt.Errorf("bad PUBLISH from the broker: %w", err))
				continue
			}
			s.lastRecv = now
			st, ok := getStamp(pub.Payload)
			if !ok || (!anyRun && st.run != s.run) {
				s.foreign++
			} else {
				key := uint64(st.run)<<32 | uint64(st.pub)
				if key != lastKey {
					last = s.sources[key]
					if last == nil {
						last = &seqSet{}
						s.sources[key] = last
					}
					lastKey = key
				}
				d := last.distinct
				last.add(st.seq)
				if last.distinct != d {
					s.hist.Record(now - st.sent)
					s.received.Add(1)
				}
			}
			switch pub.QoS {
			case packet.QoS1:
				ack = packet.Ack{PacketType: packet.PUBACK, PacketID: pub.PacketID}
				out, _ = ack.Append(out, s.l.v)
			case packet.QoS2:
				ack = packet.Ack{PacketType: packet.PUBREC, PacketID: pub.PacketID}
				out, _ = ack.Append(out, s.l.v)
			}
		case packet.PUBREL:
			if err := ack.Unmarshal(fh.Type, fh.Flags, body, s.l.v); err != nil {
				s.errs.add(fmt.Errorf("bad PUBREL from the broker: %w", err))
				continue
			}
			ack = packet.Ack{PacketType: packet.PUBCOMP, PacketID: ack.PacketID}
			out, _ = ack.Append(out, s.l.v)
		}
		if len(out) > 0 && s.l.r.Buffered() == 0 {
			if err := s.l.write(out); err != nil {
				if !s.l.closing.Load() {
					s.errs.add(fmt.Errorf("acknowledging: %w", err))
				}
				return
			}
			out = out[:0]
		}
	}
}
