package session

// qentry is one queued delivery, identified by its sequence number.
type qentry struct {
	seq uint64
	d   Delivery
}

// queue is a FIFO ring of deliveries not yet in flight. It keeps the byte
// and QoS 0 counts that the overflow policy needs. Once grown to its
// working size it does not allocate.
type queue struct {
	buf   []qentry // len is a power of two
	head  int
	n     int
	bytes int // payload bytes of the queued messages
	qos0  int // number of queued QoS 0 deliveries
}

func (q *queue) at(i int) *qentry { return &q.buf[(q.head+i)&(len(q.buf)-1)] }

func (q *queue) push(e qentry) {
	if q.n == len(q.buf) {
		size := 8
		if len(q.buf) > 0 {
			size = 2 * len(q.buf)
		}
		nb := make([]qentry, size)
		for i := 0; i < q.n; i++ {
			nb[i] = *q.at(i)
		}
		q.buf, q.head = nb, 0
	}
	*q.at(q.n) = e
	q.n++
	q.account(&e, 1)
}

func (q *queue) account(e *qentry, sign int) {
	q.bytes += sign * len(e.d.Msg.Payload)
	if e.d.QoS == 0 {
		q.qos0 += sign
	}
}

// remove takes out the entry at position i (0 is the head), moving the
// entries before it back by one, and returns it.
func (q *queue) remove(i int) qentry {
	e := *q.at(i)
	for k := i; k > 0; k-- {
		*q.at(k) = *q.at(k - 1)
	}
	*q.at(0) = qentry{}
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	q.account(&e, -1)
	return e
}

// firstQoS0 returns the position of the oldest QoS 0 entry, or -1.
func (q *queue) firstQoS0() int {
	if q.qos0 == 0 {
		return -1
	}
	for i := 0; i < q.n; i++ {
		if q.at(i).d.QoS == 0 {
			return i
		}
	}
	return -1
}
