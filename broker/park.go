package broker

import (
	"sync/atomic"
	"time"
)

// Parking. An idle connection has no goroutine: when a read would block,
// its goroutine registers the socket with the server's poller and returns
// (the connection is parked). When the socket becomes readable, its keep
// alive expires, or it is closed, the connection is resumed by a new
// goroutine, which reads and handles packets until the socket would block
// again. The poller's sweep (every sweepInterval) wakes the parked
// connections whose keep alive has expired, so a parked connection holds
// no timer. Only plain TCP connections on Linux are parked (see
// poll_linux.go); the others keep a goroutine blocked in Read.

// sweepInterval is the period of the poller's keep alive sweep: a parked
// connection is closed at most this late.
const sweepInterval = 250 * time.Millisecond

// Parking states (parking.state).
const (
	stRunning int32 = iota // a goroutine owns the connection's reading
	stParked               // no goroutine: wake starts one
	stWoken                // running, and woken while parking: read again
	stEnded                // finished
)

// parking is the state of a connection that can be parked. Apart from
// state and token, its fields belong to the goroutine that owns the
// connection (state stRunning or stWoken).
type parking struct {
	fdState
	state atomic.Int32
	token atomic.Uint64 // the poller's registration (0: none)
	held  atomic.Int32  // bytes of an incomplete packet kept while parked
	// deadline of the keep alive, in nanoseconds since the server started
	// (0: none set): one and a half keep alive intervals after the last
	// complete packet [MQTT-3.1.2-24] [MQTT5-3.1.2-22]. Written by the
	// owner; the poller's sweep wakes a parked connection past it.
	deadline atomic.Int64
	parkedAt int64 // when it last parked, in nanoseconds since the server started
}

// wake resumes a parked connection in a new goroutine; a connection that
// is running is told to read again before it parks.
func (c *conn) wake() {
	pk := c.pk
	if pk == nil {
		return
	}
	for {
		switch pk.state.Load() {
		case stParked:
			if pk.state.CompareAndSwap(stParked, stRunning) {
				go c.resume()
				return
			}
		case stRunning:
			if pk.state.CompareAndSwap(stRunning, stWoken) {
				return
			}
		default:
			return
		}
	}
}

// A connection woken within busyGap of parking is busy: when its socket
// has no more bytes it first waits for them in the runtime's poller, for
// at most lingerTime, before it parks, so that a steady stream of packets
// does not go through the poller and a new goroutine for each one.
const (
	busyGap    = 50 * time.Millisecond
	lingerTime = 500 * time.Millisecond
)

// idle runs when a read would block. It parks the connection (true: the
// calling goroutine must return without touching it), after lingering if
// the connection is busy; false without an error means bytes arrived. It
// fails with errKeepAlive once the keep alive deadline has passed.
func (c *conn) idle() (bool, error) {
	pk := c.pk
	now := int64(time.Since(c.srv.started))
	if c.rd.timeout > 0 {
		if d := pk.deadline.Load(); d == 0 {
			pk.deadline.Store(now + int64(c.rd.timeout))
		} else if now >= d {
			return false, errKeepAlive // [MQTT-3.1.2-24] [MQTT5-3.1.2-22]
		}
	}
	if pk.parkedAt != 0 && now-pk.parkedAt < int64(c.srv.busyGap) {
		until := now + int64(c.srv.lingerTime)
		if d := pk.deadline.Load(); d != 0 && d < until {
			until = d
		}
		got, err := c.rd.waitRead(c.srv.started.Add(time.Duration(until)))
		if err != nil || got {
			return false, err
		}
		now = int64(time.Since(c.srv.started))
		if d := pk.deadline.Load(); d != 0 && now >= d {
			return false, errKeepAlive
		}
	}
	pk.parkedAt = now
	return c.park()
}

// park parks the connection after a read would block: true means it is
// parked and the calling goroutine must return without touching it.
// Without a poller the connection goes back to blocking reads.
func (c *conn) park() (bool, error) {
	pk := c.pk
	p := c.srv.poller()
	if p == nil {
		c.rd.pk = nil
		return false, nil
	}
	if err := c.arm(p); err != nil {
		return false, err
	}
	pk.held.Store(int32(c.rd.w - c.rd.r))
	if pk.state.CompareAndSwap(stRunning, stParked) {
		return true, nil
	}
	pk.state.Store(stRunning) // woken while parking
	return false, nil
}

// endParking runs when the connection ends: no wake resumes it any more.
func (c *conn) endParking() {
	pk := c.pk
	if pk == nil {
		return
	}
	pk.state.Store(stEnded)
	if tok := pk.token.Load(); tok != 0 {
		c.srv.poll.unregister(tok)
	}
}
