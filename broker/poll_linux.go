//go:build linux

package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller is the server's epoll instance of parked connections, armed one
// shot per park. It is itself waited on through the runtime's network
// poller (an epoll file descriptor is readable when it has events), so its
// goroutine holds no thread while waiting. Events name connections by a
// slot and generation, never by pointer or file descriptor: an event that
// arrives after its connection ended finds nothing.
type poller struct {
	epfd    int
	file    *os.File
	raw     syscall.RawConn
	log     *slog.Logger
	started time.Time // the server's start: keep alive deadlines count from it
	done    chan struct{}

	mu    sync.Mutex
	slots []pollSlot
	free  []uint32
}

type pollSlot struct {
	c   *conn
	gen uint32
}

func newPoller(log *slog.Logger, started time.Time) (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{epfd: fd, file: f, raw: raw, log: log, started: started, done: make(chan struct{})}
	go p.run()
	return p, nil
}

// run waits for events and wakes their connections, until close.
func (p *poller) run() {
	defer close(p.done)
	evs := make([]unix.EpollEvent, 256)
	var n int
	var werr error
	wait := func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), evs, 0)
			if werr != unix.EINTR {
				return n > 0 || werr != nil
			}
		}
	}
	var batch []*conn
	next := time.Now().Add(sweepInterval)
	for {
		n, werr = 0, nil
		p.file.SetReadDeadline(next)
		if err := p.raw.Read(wait); errors.Is(err, os.ErrDeadlineExceeded) {
			batch = p.sweep(batch)
			next = time.Now().Add(sweepInterval)
			continue
		} else if err != nil {
			return // closed
		}
		if werr != nil {
			p.log.Error("epoll_wait: parked connections are not resumed", "err", werr)
			return
		}
		p.mu.Lock()
		for i := range n {
			tok := uint64(uint32(evs[i].Pad))<<32 | uint64(uint32(evs[i].Fd))
			if c := p.lookupLocked(tok); c != nil {
				batch = append(batch, c)
			}
		}
		p.mu.Unlock()
		for i, c := range batch {
			c.wake()
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// sweep wakes the parked connections whose keep alive deadline has
// passed; they find it and end.
func (p *poller) sweep(batch []*conn) []*conn {
	now := int64(time.Since(p.started))
	p.mu.Lock()
	for i := range p.slots {
		if c := p.slots[i].c; c != nil && c.pk.state.Load() == stParked {
			if d := c.pk.deadline.Load(); d != 0 && now >= d {
				batch = append(batch, c)
			}
		}
	}
	p.mu.Unlock()
	for i, c := range batch {
		c.wake()
		batch[i] = nil
	}
	return batch[:0]
}

// close stops the poller once no connection is parked.
func (p *poller) close() {
	p.file.Close()
	<-p.done
}

// register gives c a slot; the token names it in events.
func (p *poller) register(c *conn) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var i uint32
	if n := len(p.free); n > 0 {
		i = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		p.slots = append(p.slots, pollSlot{gen: 1})
		i = uint32(len(p.slots) - 1)
	}
	p.slots[i].c = c
	return uint64(p.slots[i].gen)<<32 | uint64(i)
}

func (p *poller) unregister(tok uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := uint32(tok)
	if int(i) < len(p.slots) && p.slots[i].gen == uint32(tok>>32) {
		p.slots[i].c = nil
		p.slots[i].gen++
		if p.slots[i].gen == 0 {
			p.slots[i].gen = 1
		}
		p.free = append(p.free, i)
	}
}

func (p *poller) lookupLocked(tok uint64) *conn {
	i := uint32(tok)
	if int(i) < len(p.slots) && p.slots[i].gen == uint32(tok>>32) {
		return p.slots[i].c
	}
	return nil
}

// fdState is what a parkable connection needs of its socket: the raw
// connection, and one reused function run on the file descriptor under
// RawConn.Control, which keeps the descriptor from being closed (and its
// number reused) while it runs.
type fdState struct {
	raw   syscall.RawConn
	fdFn  func(fd uintptr)
	buf   []byte
	errno error
	ev    unix.EpollEvent
	n     int32
	op    int32 // fdRead, or an EPOLL_CTL_ operation
	epfd  int32
}

const fdRead = -1

// newParking returns the parking state of nc, or nil when nc is not parked
// (anything but a plain TCP connection).
func newParking(nc net.Conn) *parking {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	pk := &parking{}
	pk.raw = raw
	pk.fdFn = func(fd uintptr) {
		if pk.op == fdRead {
			for {
				n, errno := unix.Read(int(fd), pk.buf)
				pk.n, pk.errno = int32(n), errno
				if pk.errno != unix.EINTR {
					return
				}
			}
		}
		pk.errno = unix.EpollCtl(int(pk.epfd), int(pk.op), int(fd), &pk.ev)
	}
	return pk
}

// read reads what the socket holds without blocking: errWouldBlock when
// nothing, io.EOF when the peer closed.
func (pk *parking) read(b []byte) (int, error) {
	pk.op, pk.buf = fdRead, b
	err := pk.raw.Control(pk.fdFn)
	pk.buf = nil
	if err != nil {
		return 0, err
	}
	switch {
	case pk.errno == unix.EAGAIN:
		return 0, errWouldBlock
	case pk.errno != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", pk.errno)}
	case pk.n == 0:
		return 0, io.EOF
	}
	return int(pk.n), nil
}

// arm registers the socket with p, or re-arms it, for one readiness event.
func (c *conn) arm(p *poller) error {
	pk := c.pk
	tok := pk.token.Load()
	pk.op = unix.EPOLL_CTL_MOD
	if tok == 0 {
		tok = p.register(c)
		pk.token.Store(tok)
		pk.op = unix.EPOLL_CTL_ADD
	}
	pk.epfd = int32(p.epfd)
	pk.ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
	if err := pk.raw.Control(pk.fdFn); err != nil {
		return err
	}
	if pk.errno != nil {
		return &net.OpError{Op: "epoll_ctl", Net: "tcp", Err: os.NewSyscallError("epoll_ctl", pk.errno)}
	}
	return nil
}

// disarm removes the socket from the poller before it is closed; any
// goroutine may call it.
func (c *conn) disarm() {
	if c.pk == nil || c.pk.token.Load() == 0 {
		return
	}
	epfd := c.srv.poll.epfd
	c.pk.raw.Control(func(fd uintptr) { unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}
