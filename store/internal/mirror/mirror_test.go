package mirror

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// recorder notes the hook calls and counts references by message ID.
type recorder struct {
	calls []string
	refs  map[uint64]int
}

func (r *recorder) Ref(m *session.Message) *session.Message {
	r.refs[m.ID]++
	r.calls = append(r.calls, fmt.Sprintf("ref %d", m.ID))
	return m
}
func (r *recorder) Unref(m *session.Message) {
	r.refs[m.ID]--
	r.calls = append(r.calls, fmt.Sprintf("unref %d", m.ID))
}
func (r *recorder) PutQueued(seq uint64, _ session.Delivery) {
	r.calls = append(r.calls, fmt.Sprintf("put queue %d", seq))
}
func (r *recorder) DeleteQueued(seq uint64) {
	r.calls = append(r.calls, fmt.Sprintf("del queue %d", seq))
}
func (r *recorder) PutFlight(id uint16, f Flight) {
	r.calls = append(r.calls, fmt.Sprintf("put flight %d %v", id, f.Stage))
}
func (r *recorder) DeleteFlight(id uint16) {
	r.calls = append(r.calls, fmt.Sprintf("del flight %d", id))
}
func (r *recorder) PutInbound(id uint16) {
	r.calls = append(r.calls, fmt.Sprintf("put inbound %d", id))
}
func (r *recorder) DeleteInbound(id uint16) {
	r.calls = append(r.calls, fmt.Sprintf("del inbound %d", id))
}

// A message queued, sent at QoS 2 and completed: the body is referenced
// before its queue entry lets go of it, every entry written is deleted in
// the end, and the references balance. Changes that do not fit change
// nothing.
func TestApplyHooks(t *testing.T) {
	msg := &session.Message{ID: 7, Topic: "t"}
	d := session.Delivery{Msg: msg, QoS: packet.QoS2}
	var m State
	r := &recorder{refs: map[uint64]int{}}
	m.Apply(r, []session.Change{
		{Kind: session.ChangeQueued, Seq: 1, Delivery: d},
		{Kind: session.ChangeInflight, Seq: 1, PacketID: 3, Delivery: d},
		{Kind: session.ChangeAcked, PacketID: 9},    // unknown flow
		{Kind: session.ChangeReleased, PacketID: 5}, // unknown identifier
		{Kind: session.ChangeInbound, PacketID: 5, Delivery: session.Delivery{QoS: packet.QoS2}},
	})
	snap := m.Snapshot()
	want := session.State{NextID: 4, NextSeq: 2, InboundQoS2: []uint16{5},
		Inflight: []session.InflightEntry{{PacketID: 3, Stage: session.AwaitPubrec, Seq: 1, Sent: true, Delivery: d}}}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("snapshot %+v, want %+v", snap, want)
	}
	m.Apply(r, []session.Change{
		{Kind: session.ChangePubrec, PacketID: 3},
		{Kind: session.ChangeAcked, PacketID: 3},
		{Kind: session.ChangeReleased, PacketID: 5},
	})
	wantCalls := []string{
		"ref 7", "put queue 1",
		"ref 7", "unref 7", "del queue 1", "put flight 3 " + session.AwaitPubrec.String(),
		"put inbound 5",
		"put flight 3 " + session.AwaitPubcomp.String(), "unref 7", "del flight 3", "del inbound 5",
	}
	if !reflect.DeepEqual(r.calls, wantCalls) {
		t.Fatalf("hook calls\n%q\nwant\n%q", r.calls, wantCalls)
	}
	if r.refs[7] != 0 || len(m.Queue)+len(m.Flights)+len(m.Inbound) != 0 {
		t.Fatalf("references %v, state %+v", r.refs, m)
	}
}
