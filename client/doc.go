// Package client is Tern's MQTT 3.1, 3.1.1 and 5.0 client library.
//
// Two layers:
//
//   - Conn (Connect over any net.Conn, or Dial by URL) is one connection,
//     without reconnection: when it ends, calls in progress fail.
//   - Client (New, Start) dials Options.Servers in turn, reconnects with
//     exponential backoff and jitter, follows MQTT 5 Server References,
//     resends what was in flight and restores its subscriptions when the
//     server lost its session. Its connection state (disconnected,
//     connecting, connected, reconnecting, closed) is reported to
//     Options.OnState; docs/client.md has the diagram.
//
// Every blocking call takes a context.Context first. Publish returns when
// the QoS flow is complete (written for QoS 0, PUBACK for QoS 1, PUBCOMP
// for QoS 2), or with Options.QueueOffline once queued while offline.
//
// # Protocol state
//
// Packet identifiers, the in-flight window (min of Options.SendWindow and
// the server's Receive Maximum), QoS 1 and 2 as sender and receiver (a QoS
// 2 message is delivered once), the offline queue and resending on
// reconnection are the session.Session state machine that the broker uses
// too (role session.Client). One goroutine drains it: it encodes the
// session's packets into one buffer, advances the session and writes
// without holding the session lock, so reading, acking and keep-alive never
// wait on a write in progress, and handlers never run on it.
//
// # Delivery
//
// Each subscription has its own handler goroutine fed by a bounded queue
// (Options.HandlerQueue), so messages reach a handler in the order
// received and a slow handler delays only its own subscription. The
// acknowledgement (PUBACK, PUBREC) of a QoS 1 or 2 message is sent once
// every matching handler queue accepted it, or with Options.ManualAck once
// the handler calls Message.Ack. Acknowledgements keep the order messages
// were received in, except that one still withheld does not hold back the
// others: flows of different subscriptions stay independent. When a queue is
// full:
//
//   - a QoS 0 message is dropped and counted (Stats.HandlerDrops);
//   - a QoS 1 or 2 message is held with its acknowledgement withheld
//     until the queue has room, so the server's in-flight limit (our
//     Receive Maximum in MQTT 5) bounds the memory held, and the server
//     slows down instead of the client losing messages.
//
// Keep-alive, the acknowledgements of other flows already released and
// outgoing publications never wait for a handler. A handler may call
// Publish, Subscribe and Unsubscribe; it must not call Disconnect (which
// waits for the handlers to end).
//
// # Errors
//
// A refusal by the server is a *ReasonError whose message names the
// reason code in words ("not authorized (0x87)"). Malformed packets and
// protocol violations from the server close the connection (MQTT 5: after
// a DISCONNECT with the reason code) with an error naming the problem, and
// the Client reconnects; nothing from the network can panic the client.
//
// # Enhanced authentication
//
// Options.Auth runs MQTT 5 enhanced authentication during the connection
// handshake: SCRAMSHA256 is built in, and any Authenticator can be
// provided. The server's final data is verified before the connection is
// used. Reauthenticate runs the method again on the live connection.
//
// # Not yet supported
//
// Outbound topic aliases (Options.TopicAliases) are assigned first come,
// first served, and never replaced once the server's maximum is used.
//
// # Durable state
//
// By default the client's queued and in-flight publications live in
// memory. With Options.Store (any store.Store: store/pebble on disk,
// store/memory) every session change is applied to the store before the
// packets it concerns are written, and New restores the state stored under
// Options.ClientID, so a restarted process resends what the previous one
// had not completed (QoS 2 still exactly once when the server kept its
// session).
package client
