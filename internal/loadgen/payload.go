package loadgen

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// The first bytes of every payload: a magic, the run, the publisher, the
// sequence number and the intended send time (Unix nanoseconds). The rest
// of the payload is zero.
const (
	magic0, magic1 = 0x7e, 0x42
	headerSize     = 26
	// MinPayload is the smallest payload size a run accepts.
	MinPayload = 32
)

type stamp struct {
	run  uint32
	pub  uint32
	seq  uint64
	sent int64
}

func putStamp(b []byte, s stamp) {
	b[0], b[1] = magic0, magic1
	binary.BigEndian.PutUint32(b[2:], s.run)
	binary.BigEndian.PutUint32(b[6:], s.pub)
	binary.BigEndian.PutUint64(b[10:], s.seq)
	binary.BigEndian.PutUint64(b[18:], uint64(s.sent))
}

func getStamp(b []byte) (stamp, bool) {
	if len(b) < headerSize || b[0] != magic0 || b[1] != magic1 {
		return stamp{}, false
	}
	return stamp{
		run:  binary.BigEndian.Uint32(b[2:]),
		pub:  binary.BigEndian.Uint32(b[6:]),
		seq:  binary.BigEndian.Uint64(b[10:]),
		sent: int64(binary.BigEndian.Uint64(b[18:])),
	}, true
}

// expand replaces every %i in pattern by i.
func expand(pattern string, i int) string {
	if !strings.Contains(pattern, "%i") {
		return pattern
	}
	return strings.ReplaceAll(pattern, "%i", strconv.Itoa(i))
}

// seqSet records which sequence numbers of one source arrived, to count
// distinct deliveries and duplicates.
type seqSet struct {
	bits     []uint64
	distinct uint64
	dups     uint64
	maxSeq   uint64
}

func (s *seqSet) add(seq uint64) {
	w := seq >> 6
	if w >= uint64(len(s.bits)) {
		if w > 1<<32 {
			s.dups++ // absurd sequence number: not ours to track
			return
		}
		n := max(2*len(s.bits), int(w)+1, 64)
		nb := make([]uint64, n)
		copy(nb, s.bits)
		s.bits = nb
	}
	m := uint64(1) << (seq & 63)
	if s.bits[w]&m != 0 {
		s.dups++
		return
	}
	s.bits[w] |= m
	s.distinct++
	s.maxSeq = max(s.maxSeq, seq)
}
