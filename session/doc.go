// Package session is the MQTT session state machine shared by the broker
// (one Session per client) and the client (one Session per connection to
// a broker). It owns packet identifier allocation, the outbound in-flight
// window, the offline queue and its overflow policy, the QoS 1 and QoS 2
// flows in both directions, resending on reconnection and (3.1/3.1.1 only)
// timed retries.
//
// # Shape
//
// A Session is a pure state machine in the style of etcd raft's RawNode:
// it performs no I/O, starts no goroutines, never reads the clock (time is
// passed in) and is not safe for concurrent use; callers serialise access.
// Inputs are method calls:
//
//	Connected(now, gen, peer)   a connection of generation gen is attached
//	Disconnected(now, gen)      it ended (a stale gen is ignored)
//	Send(now, delivery)         an application message for the peer
//	Receive(now, packet)        PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP from the peer
//	ReceivePublish(now, p, m, reason)  the same for PUBLISH, with the caller's message and verdict
//	Tick(now)                   timed retries (3.1/3.1.1 with Config.Retry)
//
// Outputs accumulate and are drained with Ready and confirmed with
// Advance. The caller handles a Ready in this order:
//
//  1. PERSIST Ready.Persist (durably, if it promises durability);
//  2. SEND Ready.Packets, in order, on the connection of generation
//     Ready.Gen (drop them if that connection is gone);
//  3. DELIVER Ready.Deliver (inbound messages: to the router, or to the
//     application) and handle Ready.Done (outbound deliveries that ended);
//  4. call Advance.
//
// Steps 2 and 3 are independent of each other: a broker that acknowledges
// a PUBLISH only once the deliveries it routed are stored routes
// Ready.Deliver first (the subscribers' Persist going into the same store
// write as this one), then writes Ready.Packets.
//
// Between Ready and Advance HasReady is false and the Ready's slices stay
// unchanged, so the caller may release its lock while writing and other
// inputs (Send from publishers, for instance) may go on; they are returned
// by the next Ready. Call Ready/Advance whenever HasReady is true, also
// while disconnected (Persist and Done still accumulate).
//
// Outbound packets carry no bytes: Outbound.Publish and Outbound.Ack fill
// reused packet structs for the encoder. Steady state does not allocate:
// the Ready slices, the queue ring and the in-flight slots are reused.
//
// # Outbound
//
// Send is FIFO: while anything is queued, new deliveries of every QoS queue
// behind it, so no message overtakes an earlier one (ordered topics
// [MQTT-4.6.0-5] [MQTT5-4.6.0-5]). QoS 0 is written as soon as it reaches
// the head of the queue and is not counted in the window. QoS 1 and 2 go in
// flight with a fresh packet identifier, unique among the outbound flows and
// never 0, wrapping after 65535, while fewer PUBLISH packets written on the
// current connection are unacknowledged than the window (the send quota of
// MQTT 5, section 4.9: a PUBREL resent for a flow of an earlier connection
// uses none). The window is min(peer's Receive Maximum,
// Config.SendWindow) for MQTT 5 and Config.SendWindow for 3.1/3.1.1.
//
// The queue is bounded by Config.MaxQueued and Config.MaxQueuedBytes. When
// full, room is made by dropping the oldest queued QoS 0 delivery, else (an
// incoming QoS 0 delivery is then dropped itself) the oldest queued one.
// While disconnected QoS 0 deliveries are dropped unless Config.QueueQoS0.
// A delivery larger than the peer's Maximum Packet Size is dropped
// [MQTT5-3.1.2-24]; one whose Message.Expires has passed while queued is
// dropped. Every drop is counted in Stats.Dropped by DropReason and
// reported in Ready.Done.
//
// A flow ends on PUBACK, on PUBCOMP, or on a PUBACK/PUBREC with a reason
// code of 0x80 or more (MQTT 5); it is reported in Ready.Done. PUBACK and
// PUBCOMP with unknown identifiers are ignored and counted
// (Stats.UnknownAcks); PUBREC with an unknown identifier is answered with
// PUBREL (reason 0x92 in MQTT 5).
//
// On Connected every unacknowledged PUBLISH is written again, in the
// original order, with its identifier and DUP set when it had been written
// before, and PUBREL for flows whose PUBREC was received. For an MQTT 5
// peer whose Receive Maximum is now smaller, the PUBLISH resends beyond it
// wait, in order, for earlier flows to end; new messages queue behind
// them. MQTT 5 resends only then; for 3.1/3.1.1 Config.Retry adds timed
// resends while connected (Tick, Deadline), the interval doubling up to
// Retry.Max.
//
// # Inbound
//
// An accepted QoS 1 PUBLISH is delivered and acknowledged with PUBACK. A
// QoS 2 PUBLISH with a new identifier is delivered and acknowledged with
// PUBREC, and its identifier awaits PUBREL; any PUBLISH with an identifier
// awaiting PUBREL gets PUBREC again and is not delivered again. PUBREL
// releases the identifier and is answered with PUBCOMP (reason 0x92 in
// MQTT 5 for an unknown identifier). ReceivePublish's reason lets the
// broker refuse a message (0x87 Not authorized...) or report 0x10 No
// matching subscribers. More unacknowledged QoS 1/2 PUBLISH than
// Config.ReceiveMaximum is a *packet.Error with code 0x93, on which the broker
// disconnects.
//
// # Persistence
//
// Ready.Persist lists Changes which, applied in order to a State
// (State.Apply), keep a stored copy of the session current. State returns a
// snapshot and Restore rebuilds a disconnected Session from one; restoring
// a session's own State gives a session that behaves the same. A State
// rebuilt from Changes equals the session's State except for two details
// that do not matter for correctness: InflightEntry.Sent is true for every
// flow (the change is stored before the PUBLISH is sent, so a resend sets
// DUP), and NextSeq is only known to exceed every stored sequence number.
// Counters (Stats), reserved identifiers (ReserveID) and retry timers are
// not part of the state. Inbound QoS 1/2
// messages are recorded (ChangeInbound) but not kept in State: the session
// only remembers QoS 2 identifiers awaiting PUBREL.
package session
