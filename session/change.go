package session

import "github.com/tern-mq/tern/packet"

// ChangeKind says what a Change records.
type ChangeKind uint8

// Change kinds. Applied in order to a State, they rebuild the session (see
// State.Apply).
const (
	// ChangeQueued: Delivery was appended to the queue as entry Seq.
	ChangeQueued ChangeKind = iota + 1
	// ChangeInflight: Delivery (entry Seq, which may never have been
	// queued) went in flight with PacketID, stage AwaitPuback or
	// AwaitPubrec by its QoS; it is removed from the queue if there. The
	// next identifier to try becomes PacketID+1.
	ChangeInflight
	// ChangeRemoved: queued entry Seq left the queue without going in
	// flight: written as QoS 0 (Drop == DropNone) or dropped (Drop).
	ChangeRemoved
	// ChangePubrec: the flow PacketID received PUBREC; it is now
	// AwaitPubcomp.
	ChangePubrec
	// ChangeAcked: the flow PacketID ended: PUBACK, PUBCOMP, a PUBREC or
	// PUBACK with Reason >= 0x80, or dropped (Drop). PacketID is free.
	ChangeAcked
	// ChangeInbound: an inbound QoS 1 or 2 PUBLISH was accepted:
	// Delivery.Msg with Delivery.QoS, PacketID the peer's identifier. For
	// QoS 2 the identifier now awaits PUBREL. The message is also in the
	// same Ready's Deliver; a store that wants to survive a crash between
	// acknowledging and routing keeps it until routed.
	ChangeInbound
	// ChangeReleased: PUBREL for inbound PacketID; it no longer awaits.
	ChangeReleased
)

var changeNames = [...]string{"invalid", "queued", "inflight", "removed", "pubrec", "acked", "inbound", "released"}

func (k ChangeKind) String() string {
	if int(k) < len(changeNames) {
		return changeNames[k]
	}
	return "invalid"
}

// Change is one state change for a store. Fields not listed for its Kind
// are zero.
type Change struct {
	Kind     ChangeKind
	Seq      uint64
	PacketID uint16
	Reason   packet.ReasonCode
	Drop     DropReason
	Delivery Delivery
}
