package session

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// [MQTT-3.3.1-1]: 3.1.1 timed retry resends unacknowledged PUBLISH with DUP and PUBREL, the interval doubling up to Max.
func TestMQTT_3_3_1_1_TimedRetry311(t *testing.T) {
	s := newConnected(Config{Version: packet.V311, Retry: Retry{Initial: time.Second, Max: 4 * time.Second}}, v3peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	mustNil(t, s.Send(t0, dlv(msg("b", 2))))
	drain(s)
	if d, ok := s.Deadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	at := func(d time.Duration, want string) {
		t.Helper()
		s.Tick(t0.Add(d))
		expect(t, drain(s).Packets, want)
	}
	at(500*time.Millisecond, "")
	at(time.Second, "PUBLISH(1,a,q1,dup) PUBLISH(2,b,q2,dup)")
	at(2*time.Second, "")
	at(3*time.Second, "PUBLISH(1,a,q1,dup) PUBLISH(2,b,q2,dup)") // interval 2s
	mustNil(t, s.Receive(t0.Add(3*time.Second), ack(packet.PUBREC, 2)))
	expect(t, drain(s).Packets, "PUBREL(2)") // PUBREL armed at 3s with the initial 1s
	at(4*time.Second, "PUBREL(2)")
	at(6*time.Second, "PUBREL(2)")
	at(7*time.Second, "PUBLISH(1,a,q1,dup)") // 3s + 4s: capped at Max
	at(10*time.Second, "PUBREL(2)")          // 6s + 4s (capped)
	at(11*time.Second, "PUBLISH(1,a,q1,dup)")
	if st := s.Stats(); st.Resent != 9 {
		t.Fatalf("resent %d", st.Resent)
	}
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 1)))
	mustNil(t, s.Receive(t0, ack(packet.PUBCOMP, 2)))
	drain(s)
	at(time.Hour, "")
	// Disconnected: no retries.
	mustNil(t, s.Send(t0, dlv(msg("c", 1))))
	drain(s)
	s.Disconnected(t0, 1)
	if _, ok := s.Deadline(); ok {
		t.Fatal("deadline while disconnected")
	}
	s.Tick(t0.Add(2 * time.Hour))
	if s.HasReady() {
		t.Fatal("retry while disconnected")
	}
}

// [MQTT5-4.4.0-1]: MQTT 5 never resends except on reconnection, whatever Retry says.
func TestMQTT5_4_4_0_1_NoTimedRetry(t *testing.T) {
	s := newConnected(Config{Version: packet.V5, Retry: Retry{Initial: time.Second}}, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	drain(s)
	s.Tick(t0.Add(time.Hour))
	if s.HasReady() {
		t.Fatal("MQTT 5 session resent on a timer")
	}
	if _, ok := s.Deadline(); ok {
		t.Fatal("MQTT 5 session has a retry deadline")
	}
}

// Restore(State()) gives an equivalent session; State.Apply of every Persist rebuilds the same State.
func TestStateRestoreApply(t *testing.T) {
	s := New(Config{Version: packet.V5, SendWindow: 2})
	var stored State
	persist := func() {
		for _, c := range drain(s).Persist {
			mustNil(t, stored.Apply(c))
		}
	}
	s.Connected(t0, 1, v5peer)
	for _, m := range []*Message{msg("a", 1), msg("b", 2), msg("c", 1), msg("d", 2)} {
		mustNil(t, s.Send(t0, dlv(m)))
	}
	mustNil(t, s.Receive(t0, pub(7, 2, "in")))
	persist()
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 2)))
	persist()
	s.Disconnected(t0, 1)
	persist()

	st := s.State()
	if len(st.Inflight) != 2 || st.Inflight[1].Stage != AwaitPubcomp || len(st.Queue) != 2 || len(st.InboundQoS2) != 1 {
		t.Fatalf("state %+v", st)
	}
	if got, want := stateString(stored), stateString(st); got != want {
		t.Fatalf("applied state\n got  %s\n want %s", got, want)
	}
	r, err := Restore(Config{Version: packet.V5, SendWindow: 2}, st)
	mustNil(t, err)
	for _, x := range []*Session{s, r} {
		x.Connected(t0, 2, v5peer)
		mustNil(t, x.Receive(t0, ack(packet.PUBACK, 1)))
		mustNil(t, x.Receive(t0, pub(7, 2, "in")))
	}
	a, b := drain(s), drain(r)
	if show(a.Packets) != show(b.Packets) || len(a.Deliver) != len(b.Deliver) {
		t.Fatalf("restored differs:\n %s\n %s", show(a.Packets), show(b.Packets))
	}
	// The PUBREL-stage flow carried over does not use the new connection's quota [MQTT5-4.9.0-2].
	expect(t, a.Packets, "PUBLISH(1,a,q1,dup) PUBREL(2) PUBLISH(3,c,q1) PUBLISH(4,d,q2) PUBREC(7)")

	if _, err := Restore(Config{}, State{Inflight: []InflightEntry{{PacketID: 0}}}); err == nil {
		t.Fatal("identifier 0 restored")
	}
	if _, err := Restore(Config{}, State{Inflight: []InflightEntry{{PacketID: 1, Stage: AwaitPubcomp, Delivery: dlv(msg("a", 1))}}}); err == nil {
		t.Fatal("QoS 1 flow awaiting PUBCOMP restored")
	}
}

// ReserveID shares the identifier space with PUBLISH flows.
func TestReserveID(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	id, err := s.ReserveID()
	mustNil(t, err)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	rd := drain(s)
	if id != 1 || rd.Packets[0].PacketID != 2 {
		t.Fatalf("reserved %d, publish %d", id, rd.Packets[0].PacketID)
	}
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 1))) // not a PUBLISH flow
	if s.Stats().UnknownAcks != 1 {
		t.Fatal("PUBACK matched a reserved identifier")
	}
	s.ReleaseID(id)
	s.ReleaseID(2) // a flow, not reserved: untouched
	if s.Stats().InFlight != 1 {
		t.Fatal("ReleaseID freed a flow")
	}
	s.nextID = 1
	mustNil(t, s.Send(t0, dlv(msg("b", 1))))
	expect(t, drain(s).Packets, "PUBLISH(1,b,q1)")
}
