// Package broker is Tern's single-node MQTT 3.1, 3.1.1 and 5.0 broker: the
// listeners, connections, the registry of client sessions, routing,
// retained messages, wills and supervision. The protocol state of each
// client lives in the pure state machine of package session; the broker
// feeds it inputs, drains its outputs and moves bytes.
//
// # Use
//
//	srv, err := broker.New(broker.Config{})    // zero Config: documented defaults
//	go srv.Serve(ln)                             // one call per listener
//	...
//	err = srv.Drain(ctx, broker.DrainOptions{ServerReference: "b2:1883"}) // optional: stop accepting, DISCONNECT 0x9C to v5 clients, wait until none is left
//	err = srv.Shutdown(ctx)                      // stop accepting, DISCONNECT 0x8B to v5 clients, close, wait
//
// # Connections and client sessions
//
// A connection (the original design's network process) has a reader
// goroutine while bytes arrive. On Linux an idle plain TCP connection has
// none: when a non-blocking read would block, the connection is parked on
// the server's epoll instance and its goroutine ends; readiness, the end of
// its keep alive (swept by the poller) or its close starts a new one
// (Config.DisableParking keeps one reader goroutine per connection, as TLS,
// WebSocket and wrapped connections always have). A connection woken soon
// after parking waits a while in the runtime's poller before parking again.
// The reader takes a pooled buffer only while bytes are pending (or a
// packet is incomplete), so an idle connection holds no read buffer. There
// is no parked writer goroutine: a writer starts when output
// becomes pending and ends when it is drained; an atomic flag lets only one
// run at a time. The reader never writes to the socket, so it never blocks
// on a client that does not read while its own writes wait to be read.
//
// A client session (the design's logical client process) is a
// session.Session behind the client's own mutex, with its subscriptions
// and will. It outlives connections: Clean Session 0 (3.1/3.1.1) or a v5
// Session Expiry Interval keeps it after the connection ends, and a timer
// removes it, with its queue and its store record, when the interval
// passes (for 3.1/3.1.1: Config.PersistentClientExpiration, never by
// default). A CONNECT with a client identifier
// in use takes the session over: the old connection is closed (v5:
// DISCONNECT 0x8E) and each attachment carries a new generation number, so
// the old connection's late events cannot detach its successor. An empty
// client identifier gets an assigned one (v5 Assigned Client Identifier;
// 3.1.1 only with Clean Session 1, else CONNACK 0x02; 3.1 requires 1 to 23
// characters).
//
// # The contract with session
//
// Every input (Receive, Send, Connected, Disconnected, Tick) is called with
// the client's mutex held and time.Now() read by the broker, and every
// drain of Ready happens under that mutex too, in the order session
// requires: persist Ready.Persist (when a Store is configured), encode
// Ready.Packets, take Ready.Deliver, Advance; the bytes are written and the
// messages routed after the mutex is released. The writer drains what
// routing handed to the session; the reader drains what it received
// itself, queueing its packets ahead of anything drained later, so the
// order of packets on the wire is the order the session produced them.
//
// # One PUBLISH from socket to socket
//
//  1. The publisher's reader reads the fixed header (checked against
//     MaxPacketSize before the body is read) and the body, and decodes it
//     with packet.Publish.Unmarshal into a value reused for every packet.
//  2. It validates the topic and calls session.Receive under the
//     publisher's lock; the session copies the message once into an
//     immutable session.Message and produces the PUBACK or PUBREC.
//  3. Still on the reader, it drains the publisher's session under the
//     same lock: persists the changes, encodes the acknowledgement at the
//     end of the connection's control queue (pooled) and Advances; the
//     connection's writer is kicked to write it.
//  4. Outside any session lock the reader routes the message: sets or
//     clears the retained message (the store's retained index; an in-memory
//     store when Config.Store is nil), matches the topic in the topic.Trie
//     keyed by client session, and merges overlapping subscriptions of one
//     client into one delivery with the maximum QoS of the matching
//     subscriptions and all their subscription identifiers [MQTT-3.3.5-1].
//  5. For each subscriber it locks that session only, calls Send with the
//     QoS downgraded to the subscription's, unlocks and kicks the
//     subscriber's writer. A publisher never writes to another client's
//     socket, so a slow consumer cannot block it.
//  6. The subscriber's writer drains its session and encodes every ready
//     packet into one buffer: one Write syscall per batch.
//
// With a Store, a QoS 1 or 2 PUBLISH is acknowledged only after its fan-out
// is persisted. The reader drains the publisher's session and, while it
// routes, each subscriber's: the packets take their place in each
// connection's control queue at once (so the order on every connection is
// the order the sessions produced them) but the queue is held back from
// the writer; the changes are collected and persisted by one Apply,
// atomic across the publisher's acceptance and the subscribers' flights;
// then the queues are released, the acknowledgement among them. A
// delivery that is queued rather than sent is persisted at once, under its
// session's lock, so that no later change of it (moved into flight by an
// acknowledgement or a reconnection) reaches the store first. An
// acknowledged message is thus in the store for every subscriber.
//
// # Bounds and drops
//
// The session's queue is the only buffer and is bounded (MaxQueued,
// MaxQueuedBytes). QoS 0 messages for a connected consumer whose writer
// has not written them are bounded by the same limits; when that bound is
// reached while the consumer's writer is runnable but not writing (busy
// publishers hold the processors), the publisher yields to it a few times
// before dropping, so CPU contention alone does not turn into drops. The bytes a reader
// queues for a writer blocked on a client that does not read are bounded
// too: past the bound the reader waits (the client's publishing then meets
// backpressure), and after 30 seconds the client is disconnected.
//
// Every drop (queue full, QoS 0 offline, larger than the client's Maximum
// Packet Size, expired, slow consumer) is counted in Stats.Dropped; drops
// for a slow consumer are logged at debug level.
//
// # Wills
//
// A will is published when the connection ends without a normal DISCONNECT
// (network error, keep alive timeout, protocol error, takeover), and after
// a v5 DISCONNECT with reason 0x04; not after DISCONNECT 0x00. A v5 Will
// Delay Interval defers it until the delay or the end of the session,
// whichever comes first, and a reconnection in time cancels it. Wills are
// not published while the server shuts down.
//
// # Authentication and authorization
//
// Config.Authenticator is asked once per CONNECT (after the packet is
// checked, before any session is touched); a refusal is answered with
// Result.ConnackCode and an error of the Authenticator with Server
// unavailable (0x88; 0x03 before MQTT 5), then the connection is closed.
// Config.Authorizer is asked for the will topic at CONNECT (a refusal is
// Not authorized), for each PUBLISH (refused: PUBACK/PUBREC 0x87 in MQTT 5;
// acknowledged and dropped before) and for each SUBSCRIBE filter (SUBACK
// 0x87, 0x80 before MQTT 5). When the Authorizer's rules change
// (auth.Versioned, e.g. an ACL file reloaded), each subscription is checked
// again at its next matching delivery (cached with the rules' generation:
// one atomic load per matching subscription otherwise), and the messages of
// one no longer allowed are skipped until a later change allows it again;
// subscriptions restored from a Store at start-up are not checked again.
// Every
// refusal is counted in Stats and logged with the client, its address and
// the topic (the first ten of a connection at info level, the others at
// debug level, so a client that keeps trying does not flood the log).
//
// # Listeners
//
// Serve takes any net.Listener. LoadCertificates gives a tls.Config (TLS
// 1.2 at least; with a client CA, mutual TLS) whose certificate and CA are
// replaced by Reload for new handshakes, open connections untouched.
// IdentityListener takes the verified client certificate's Common Name as
// the user name instead of asking the Authenticator. WebSocketListener
// accepts MQTT over WebSocket (path /mqtt, subprotocol "mqtt", binary
// messages) with or without TLS. ProxyProtocolListener reads the PROXY
// protocol header (v1 or v2) of connections from a load balancer: the
// client's address in it is the connection's RemoteAddr.
//
// ServeWith serves a listener with its own ListenerOptions: an
// Authenticator, an Authorizer and enhanced authentication methods that
// replace Config's for its clients, and its Durability (DurabilityMemory:
// acknowledgements and deliveries do not wait for the store's sync). The
// options travel with the connection, not in a wrapper around it, so plain
// TCP connections are still parked. A subscription is authorized for an
// identity (user name and listener): a session resumed under another
// identity, and one restored from the store, has its subscriptions
// authorized again for the resuming connection before they deliver.
//
// # Limits
//
// MaxConnections closes a connection beyond it at accept, before any
// read; MaxClientIDLength refuses a longer client identifier with CONNACK
// 0x85 (0x02 before MQTT 5); PublishRate and PublishBurst are a token
// bucket per connection, checked by its reader without a lock: a client
// publishing faster is disconnected (DISCONNECT 0x96 Message rate too high
// in MQTT 5). ConnectionRate is a token bucket of new connections per
// client address, checked at accept (closed beyond); BanThreshold
// violations (failed logins, broken limits) within BanWindow ban the
// address, and the client identifier for its own violations, for
// BanDuration: closed at accept, or CONNACK 0x8A Banned (0x05 before MQTT
// 5) for a client identifier. MaxSubscriptions (SUBACK 0x97),
// MaxTopicLength and MaxTopicLevels (SUBACK 0x8F, DISCONNECT 0x90) bound
// what a client asks for; SlowConsumerTimeout disconnects with 0x97 a
// client whose queue keeps overflowing (a sweep over the sessions, off the
// delivery path). Each refusal is logged and counted. SetLimits changes
// the limits of Limits while the server runs.
//
// # Observability
//
// Every Config.SysInterval (0: never; tern serve: 10 s) the $SYS/broker/... topics, with
// Mosquitto's names (version, uptime, clients/connected, clients/total,
// messages/received, messages/sent, bytes/received, bytes/sent,
// subscriptions/count, retained messages/count, load/.../1min, 5min, 15min
// as Mosquitto's damped per-minute rates ...), are published retained at
// QoS 0 when their value changed; a '#' or '+' filter does not match them.
// Collector is a Prometheus collector of the counters, read at scrape time,
// and AdminHandler serves /metrics, /healthz and /readyz. The counters cost
// one atomic add per packet read, per PUBLISH encoded and per batch
// written, on counters of the connection itself (summed at scrape time,
// folded into the totals when it ends); queue depths are summed over the
// sessions at scrape time.
//
// # Supervision and bad input
//
// A panic in a connection's reader or writer is recovered, logged with its
// stack, client identifier and remote address, counted, and closes only
// that connection. A malformed packet or a protocol violation closes the
// connection, after DISCONNECT with the reason code (0x81, 0x82 or the
// decoder's) for an MQTT 5 client. One log line is written per connect and
// per disconnect, with the client identifier, address and reason.
//
// A CONNECT with Clean Session 0 / Clean Start 0 but another protocol
// level than the stored session's starts a new session (Session Present
// 0). A Store passed in Config is owned by the caller: Shutdown does not
// close it.
//
// # Shared subscriptions
//
// $share/{group}/{filter} works for 3.1.1 and 5.0 clients. A message goes
// to one connected member of each matching group, chosen by
// Config.SharePolicy (round robin by default, random, or a hash of the
// topic); with no member connected it waits in an offline member's
// session. No retained messages are sent on a shared subscribe. When a
// member's session ends, the QoS 1 and 2 messages the group gave it and
// it did not receive (queued, QoS 1 in flight, QoS 2 not yet sent) go to
// the remaining members; a QoS 2 message already sent goes to no other
// member [MQTT5-4.8.2-5]. The hand-over recognises those messages by
// their topic matching one of the member's shared filters.
//
// # Topic aliases
//
// v5 clients may define Config.TopicAliasMaximum inbound aliases per
// connection (default 10): an alias above it is DISCONNECT 0x94, an empty
// topic with an unmapped alias DISCONNECT 0x82. Aliases are never
// forwarded. Outbound, a client announcing a Topic Alias Maximum gets
// aliases assigned by the server, at most min(its maximum,
// TopicAliasMaximum), the oldest replaced when the table is full.
//
// # Capabilities and redirection
//
// Config turns optional features off (Maximum QoS, retained messages,
// wildcard, shared subscriptions, subscription identifiers), imposes a
// Server Keep Alive or returns Response Information; v5 clients learn it
// from CONNACK, and a packet using a feature that is off gets the reason
// code of section 3.2.2.3. Reason Strings (DISCONNECT, refused CONNACK)
// are sent unless the client set Request Problem Information 0. With
// Config.ServerReference every CONNECT is refused with 0x9C or 0x9D.
//
// # Enhanced authentication
//
// A v5 CONNECT with an Authentication Method runs the matching
// Config.EnhancedAuth method (NewSCRAMSHA256: SCRAM-SHA-256 as in RFC
// 5802/7677) through AUTH 0x18 exchanges before CONNACK, which carries
// the method and the final data; an unknown method gets CONNACK 0x8C, a
// failed exchange 0x87. Re-authentication (AUTH 0x19, then 0x18 both
// ways, AUTH 0x00 on success) runs while other packets flow; its failure
// is DISCONNECT 0x87.
package broker
