package storetest

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// RunReopen checks that a durable backend keeps everything across Close and
// open: open(dir) opens the store kept in directory dir (empty the first
// time). Run it in addition to Run. The memory backend does not keep data
// across Close and does not run it.
func RunReopen(t *testing.T, open func(dir string) store.Store) {
	t.Helper()
	t.Run("Everything", func(t *testing.T) { testReopen(t, open) })
	t.Run("Model", func(t *testing.T) { testReopenModel(t, open) })
}

// reopener opens the store of one directory, closing the previous handle
// first.
type reopener struct {
	t    *testing.T
	dir  string
	open func(dir string) store.Store
	cur  store.Store
}

func newReopener(t *testing.T, open func(dir string) store.Store) *reopener {
	r := &reopener{t: t, dir: t.TempDir(), open: open}
	r.cur = open(r.dir)
	return r
}

func (r *reopener) reopen() store.Store {
	must(r.t, r.cur.Close())
	r.cur = r.open(r.dir)
	return r.cur
}

// testReopen: records, message state, shared bodies, retained messages,
// deletions and MaxMessageID survive Close and open.
func testReopen(t *testing.T, open func(dir string) store.Store) {
	r := newReopener(t, open)
	defer func() { closeStore(t, r.cur) }()
	st := r.cur

	a, b := sampleRecord("a"), sampleRecord("b")
	b.Will = nil
	must(t, st.SaveSession(bg, a))
	must(t, st.SaveSession(bg, b))
	must(t, st.SaveSession(bg, sampleRecord("deleted")))
	must(t, st.DeleteSession(bg, "deleted"))

	// One message queued to two sessions, one QoS 2 flow half done, an
	// inbound identifier awaiting PUBREL.
	shared := &session.Message{ID: 40, Topic: "shared", Payload: []byte("s"), QoS: packet.QoS2,
		Properties: &packet.Properties{ContentType: "text/plain", Present: 1 << packet.PropContentType}}
	pa := newPeer("a", session.Config{Version: packet.V5, SendWindow: 1})
	pb := newPeer("b", session.Config{Version: packet.V311})
	pa.connect(t0, packet.V5, 0)
	must(t, pa.s.Send(t0, session.Delivery{Msg: shared, QoS: packet.QoS2, SubIDs: []uint32{3}}))
	must(t, pa.s.Send(t0, session.Delivery{Msg: &session.Message{ID: 41, Topic: "q", Payload: []byte("q"), QoS: packet.QoS1}, QoS: packet.QoS1}))
	must(t, pb.s.Send(t0, session.Delivery{Msg: shared, QoS: packet.QoS1, Retain: true}))
	must(t, pa.inbound(t0, packet.QoS2, &session.Message{ID: 42, Topic: "in", Payload: []byte("in"), QoS: packet.QoS2}))
	persist(t, st, pa, pb)
	pa.ackOne(t, t0, 0, false) // PUBREC: now awaiting PUBCOMP
	persist(t, st, pa)
	peers := []*peer{pa, pb}

	r1, r2 := msg(50, "r/1", "one"), msg(51, "r/2", "two")
	r1.Expires = time.Now().Add(24 * time.Hour).Round(0) // kept with its expiry
	must(t, st.SetRetained(bg, r1))
	must(t, st.SetRetained(bg, r2))
	must(t, st.SetRetained(bg, msg(52, "r/2", ""))) // cleared
	must(t, st.SetRetained(bg, msg(53, "$SYS/r", "sys")))

	statsBefore, err := st.Stats(bg)
	must(t, err)
	for range 2 { // twice: opening must not change what it opens
		st = r.reopen()
		checkRecords(t, st, []store.SessionRecord{a, b})
		for _, p := range peers {
			checkPeer(t, st, p)
		}
		checkBodies(t, st, peers)
		checkMatch(t, st, "#", []*session.Message{r1})
		checkMatch(t, st, "$SYS/#", []*session.Message{msg(53, "$SYS/r", "sys")})
		stats, err := st.Stats(bg)
		must(t, err)
		if stats != statsBefore {
			t.Fatalf("Stats after reopening: %+v, before: %+v", stats, statsBefore)
		}
		if id, err := st.MaxMessageID(bg); err != nil || id < 53 {
			t.Fatalf("MaxMessageID after reopening = %d, %v; want at least 53", id, err)
		}
	}

	// The shared body is reclaimed after reopening when its last
	// reference goes.
	for _, p := range peers {
		stored, err := st.LoadState(bg, p.id)
		must(t, err)
		s, err := session.Restore(p.cfg, stored)
		must(t, err)
		p.s = s
		p.connect(t0, p.v, 0)
	}
	persist(t, st, peers...)
	for _, p := range peers {
		for len(p.s.State().Inflight) > 0 {
			p.ackOne(t, t0, 0, false)
			persist(t, st, p)
		}
	}
	checkBodies(t, st, peers)
	st = r.reopen()
	checkBodies(t, st, peers)
	for _, p := range peers {
		checkPeer(t, st, p)
	}
}

// testReopenModel: random sessions whose store is closed and opened again
// at random points.
func testReopenModel(t *testing.T, open func(dir string) store.Store) {
	runs(t, 30, func(g *gen) {
		r := newReopener(t, open)
		defer func() { closeStore(t, r.cur) }()
		m := newModel(g, r.cur, r.reopen)
		for range g.intRange(1, 40) {
			m.step()
		}
		// A final restart: everything persisted comes back.
		m.st = r.reopen()
		for _, p := range m.peers {
			checkPeer(g, m.st, p)
		}
		checkBodies(g, m.st, m.peers)
	})
}
