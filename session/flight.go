package session

import "time"

// Stage is where an outbound QoS 1 or 2 flow stands.
type Stage uint8

// Stages of an outbound flow.
const (
	AwaitPuback  Stage = 1 // QoS 1 PUBLISH sent, waiting for PUBACK
	AwaitPubrec  Stage = 2 // QoS 2 PUBLISH sent, waiting for PUBREC
	AwaitPubcomp Stage = 3 // QoS 2 PUBREL sent, waiting for PUBCOMP
)

func (s Stage) String() string {
	switch s {
	case AwaitPuback:
		return "await PUBACK"
	case AwaitPubrec:
		return "await PUBREC"
	case AwaitPubcomp:
		return "await PUBCOMP"
	}
	return "invalid stage"
}

// flight is one outbound QoS 1 or 2 flow.
type flight struct {
	id    uint16
	stage Stage
	sent  bool // the PUBLISH has been written at least once: resends set DUP
	// counted: the PUBLISH was written on the current connection, so it
	// uses the peer's send quota until the flow ends [MQTT5-4.9.0-2].
	counted bool
	// deferred: the PUBLISH awaits its resend on this connection until the
	// quota allows (MQTT 5 peer with a smaller Receive Maximum).
	deferred bool
	seq      uint64
	d        Delivery

	retryAt  time.Time     // next timed resend (v3 Retry); zero when none
	interval time.Duration // current retry interval

	prev, next int32 // send order; -1 ends
}

// flights holds the outbound flows in send order in a slot array linked
// into a list, indexed by packet identifier. Slots are recycled through a
// free list, so steady state does not allocate.
type flights struct {
	slots      []flight
	head, tail int32
	free       int32
	n          int
	byID       idTable // id -> slot; reserved ids map to -1
}

func newFlights() flights { return flights{head: -1, tail: -1, free: -1} }

// add appends a flow at the tail and returns its slot.
func (f *flights) add(e flight) int32 {
	var i int32
	if f.free >= 0 {
		i = f.free
		f.free = f.slots[i].next
	} else {
		f.slots = append(f.slots, flight{})
		i = int32(len(f.slots) - 1)
	}
	e.prev, e.next = f.tail, -1
	f.slots[i] = e
	if f.tail >= 0 {
		f.slots[f.tail].next = i
	} else {
		f.head = i
	}
	f.tail = i
	f.n++
	f.byID.put(e.id, i)
	return i
}

// remove unlinks the flow in slot i and frees its identifier.
func (f *flights) remove(i int32) {
	e := &f.slots[i]
	if e.prev >= 0 {
		f.slots[e.prev].next = e.next
	} else {
		f.head = e.next
	}
	if e.next >= 0 {
		f.slots[e.next].prev = e.prev
	} else {
		f.tail = e.prev
	}
	f.byID.del(e.id)
	*e = flight{next: f.free}
	f.free = i
	f.n--
}

// lookup returns the slot of the flow with packet identifier id.
func (f *flights) lookup(id uint16) (int32, bool) {
	i, ok := f.byID.get(id)
	if !ok || i < 0 {
		return -1, false
	}
	return i, true
}
