package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
)

// readBufSize is the size of the pooled buffers a connection reads into
// while bytes are arriving. An idle connection holds none.
const readBufSize = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// bodyClasses are the size classes of pooled packet bodies larger than what
// fits in the read buffer.
var bodyClasses = [...]int{16 << 10, 64 << 10, 256 << 10, 1 << 20}

var bodyPools [len(bodyClasses)]sync.Pool

// getBody returns a buffer of at least n bytes and its class (-1: not pooled).
func getBody(n int) ([]byte, int) {
	for i, size := range bodyClasses {
		if n <= size {
			if p, ok := bodyPools[i].Get().(*[]byte); ok {
				return (*p)[:n], i
			}
			return make([]byte, n, size), i
		}
	}
	return make([]byte, n), -1
}

func putBody(b []byte, class int) {
	if class >= 0 {
		b = b[:cap(b)]
		bodyPools[class].Put(&b)
	}
}

// reader reads packets from a connection. While the connection is idle it
// holds no buffer: the blocking read of the next packet's first bytes goes
// into a small array inside the reader, and a pooled buffer is taken only
// when more bytes are pending, and returned once they are consumed.
type reader struct {
	nc      net.Conn
	pk      *parking // reads that do not block (nil: blocking reads only)
	small   [16]byte
	buf     []byte  // small[:] or a pooled buffer; data is buf[r:w]
	pooled  *[]byte // the pooled buffer behind buf, if any
	r, w    int
	timeout time.Duration // read deadline applied before blocking (0: none)
	now     time.Time     // when the last read that returned bytes ended: the clock of the packets it read
	body    []byte        // the current packet body, when not aliasing buf
	class   int
}

func newReader(nc net.Conn) *reader {
	rd := &reader{nc: nc, class: -1}
	rd.buf = rd.small[:]
	return rd
}

// release returns the pooled buffer once all its bytes are consumed.
func (rd *reader) release() {
	if rd.pooled != nil {
		readBufPool.Put(rd.pooled)
		rd.pooled = nil
	}
	rd.buf = rd.small[:]
	rd.r, rd.w = 0, 0
}

// fill reads more bytes after the buffered ones have all been consumed.
func (rd *reader) fill() error {
	// The read that may block goes into the small array: an idle
	// connection holds no pooled buffer (and no body of a large packet).
	// readBody takes one when a packet needs more bytes, and reads ahead
	// into it.
	rd.doneBody()
	rd.release()
	if rd.timeout > 0 {
		if err := rd.nc.SetReadDeadline(time.Now().Add(rd.timeout)); err != nil {
			return err
		}
	}
	n, err := rd.nc.Read(rd.buf)
	rd.w = n
	if n > 0 {
		rd.now = time.Now()
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	rd.release()
	return err
}

// ReadByte implements io.ByteReader for packet.ReadFixedHeader.
func (rd *reader) ReadByte() (byte, error) {
	if rd.r == rd.w {
		if err := rd.fill(); err != nil {
			return 0, err
		}
	}
	b := rd.buf[rd.r]
	rd.r++
	return b, nil
}

// readBody returns the next n bytes. The slice is valid until the next call
// of readBody or doneBody.
func (rd *reader) readBody(n int) ([]byte, error) {
	rd.doneBody()
	if n == 0 {
		return nil, nil
	}
	if rd.w-rd.r >= n {
		b := rd.buf[rd.r : rd.r+n : rd.r+n]
		rd.r += n
		return b, nil
	}
	// Move into a buffer large enough for the whole body and read the rest,
	// with read-ahead when the body fits in a pooled read buffer.
	if n <= readBufSize && rd.pooled == nil {
		p := readBufPool.Get().(*[]byte)
		m := copy(*p, rd.buf[rd.r:rd.w])
		rd.pooled, rd.buf, rd.r, rd.w = p, *p, 0, m
	}
	if n <= len(rd.buf) {
		if rd.r+n > len(rd.buf) { // compact
			m := copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.r, rd.w = 0, m
		}
		for rd.w-rd.r < n {
			if rd.timeout > 0 {
				if err := rd.nc.SetReadDeadline(time.Now().Add(rd.timeout)); err != nil {
					return nil, err
				}
			}
			m, err := rd.nc.Read(rd.buf[rd.w:])
			rd.w += m
			if m > 0 {
				rd.now = time.Now()
			}
			if err != nil && rd.w-rd.r < n {
				return nil, err
			}
		}
		b := rd.buf[rd.r : rd.r+n : rd.r+n]
		rd.r += n
		return b, nil
	}
	body, class := getBody(n)
	m := copy(body, rd.buf[rd.r:rd.w])
	rd.release()
	if rd.timeout > 0 {
		if err := rd.nc.SetReadDeadline(time.Now().Add(rd.timeout)); err != nil {
			putBody(body, class)
			return nil, err
		}
	}
	if _, err := io.ReadFull(rd.nc, body[m:]); err != nil {
		putBody(body, class)
		return nil, err
	}
	rd.now = time.Now()
	rd.body, rd.class = body, class
	return body, nil
}

// doneBody releases the body returned by the last readBody, and the read
// buffer if it has been consumed.
func (rd *reader) doneBody() {
	if rd.body != nil {
		putBody(rd.body, rd.class)
		rd.body, rd.class = nil, -1
	}
	if rd.r == rd.w && rd.pooled != nil {
		rd.release()
	}
}

// errWouldBlock is returned by parking.read when the socket has no bytes.
var errWouldBlock = errors.New("read would block")

// fillNow makes sure the next packet is buffered whole, reading what the
// socket holds without blocking; false means it would block. The bytes of
// an incomplete packet stay buffered (in a pooled buffer only while a
// packet is incomplete); an idle connection holds no buffer. A packet
// larger than the read buffer is reported ready once its fixed header is
// buffered: readBody reads its body, blocking.
func (rd *reader) fillNow() (bool, error) {
	if rd.body != nil {
		putBody(rd.body, rd.class)
		rd.body, rd.class = nil, -1
	}
	for {
		need := rd.need()
		if need == 0 {
			return true, nil
		}
		if rd.r == rd.w {
			rd.r, rd.w = 0, 0
			if rd.pooled == nil { // read a burst of packets at once
				rd.pooled = readBufPool.Get().(*[]byte)
				rd.buf = *rd.pooled
			}
		} else if rd.w+need > len(rd.buf) {
			// Make room: move the incomplete packet to the front of a
			// pooled buffer (readBufSize holds it, see need).
			if rd.pooled == nil {
				p := readBufPool.Get().(*[]byte)
				m := copy(*p, rd.buf[rd.r:rd.w])
				rd.pooled, rd.buf, rd.r, rd.w = p, *p, 0, m
			} else {
				m := copy(rd.buf, rd.buf[rd.r:rd.w])
				rd.r, rd.w = 0, m
			}
		}
		n, err := rd.pk.read(rd.buf[rd.w:])
		rd.w += n
		if n > 0 {
			rd.now = time.Now()
			continue
		}
		if rd.r == rd.w {
			rd.release() // idle: no buffer
		}
		if err == errWouldBlock {
			return false, nil
		}
		return false, err
	}
}

// waitRead waits in the runtime's poller until the socket has bytes, or
// until the deadline (false).
func (rd *reader) waitRead(until time.Time) (bool, error) {
	if rd.r == rd.w {
		rd.release()
	}
	if err := rd.nc.SetReadDeadline(until); err != nil {
		return false, err
	}
	n, err := rd.nc.Read(rd.buf[rd.w:])
	rd.w += n
	if rd.timeout == 0 { // readBody reads without a deadline then
		rd.nc.SetReadDeadline(time.Time{})
	}
	if n > 0 {
		return true, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return false, err
}

// need returns how many more bytes the next packet needs to be buffered
// whole (the bytes of its fixed header when the length is not known yet),
// or 0 when it is, or when it is larger than the read buffer, or when its
// fixed header is malformed (ReadFixedHeader reports it).
func (rd *reader) need() int {
	b := rd.buf[rd.r:rd.w]
	if len(b) < 2 {
		return 2 - len(b)
	}
	rem := 0
	for i := 1; ; i++ {
		if i == 5 {
			return 0 // malformed
		}
		if i == len(b) {
			return 1
		}
		rem |= int(b[i]&0x7f) << (7 * (i - 1))
		if b[i] < 0x80 {
			total := 1 + i + rem
			if total > readBufSize {
				return 0
			}
			return max(0, total-len(b))
		}
	}
}

// publishBuffered reports whether the next packet is a PUBLISH whose bytes
// are all buffered: handling it needs no read.
func (rd *reader) publishBuffered() bool {
	b := rd.buf[rd.r:rd.w]
	if len(b) < 2 || packet.Type(b[0]>>4) != packet.PUBLISH {
		return false
	}
	rem := 0
	for i := 1; i < 5 && i < len(b); i++ {
		rem |= int(b[i]&0x7f) << (7 * (i - 1))
		if b[i] < 0x80 {
			return 1+i+rem <= len(b)
		}
	}
	return false
}

// close releases every buffer.
func (rd *reader) close() {
	rd.doneBody()
	rd.release()
}
