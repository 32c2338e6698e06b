// Package store is the persistence seam of the broker: the interface every
// storage backend implements, and the contract they keep. Backends live in
// sub-packages (store/memory keeps everything in memory); store/storetest is
// the conformance suite every backend must pass.
//
// # What is stored
//
// Three kinds of data, independent of each other:
//
//   - Session records (SessionRecord): client identifier, protocol version,
//     session expiry, subscriptions and a pending will. Saved whole (upsert)
//     when one of them changes, loaded all at once at startup.
//   - Message state of a session: the queued, in-flight and inbound QoS 2
//     messages and packet identifiers, as the session state machine (package
//     session) reports them in Ready.Persist. The store applies those changes
//     and gives back a session.State equal to what the session's own State()
//     returned, for session.Restore.
//   - Retained messages, one per topic name, matched against topic filters
//     when a subscription is made. They are not part of any session: deleting
//     a session never deletes them ([MQTT-3.1.2-7]).
//
// # Applying changes
//
// Apply takes Updates: a client identifier and the changes of one
// session.Ready.Persist. The store keeps what session.State.Apply would keep:
// queued deliveries by sequence number, outbound flows by packet identifier
// with their stage, the QoS 2 identifiers awaiting PUBREL and the next packet
// identifier. LoadState gives it back as a session.State for session.Restore.
// Changes are stored as blind writes: one that does not fit the stored state
// (the acknowledgement of an unknown flow, say) changes nothing, as the
// deletion of an absent key would. Input no backend could store (an empty
// client identifier, an unknown change kind, a queued or in-flight change
// without a message, an in-flight change with packet identifier 0) fails the
// whole call with ErrInvalid before anything is applied.
//
// An inbound message (ChangeInbound) is not kept: it becomes durable through
// the subscribers' queued deliveries. The broker routes an inbound QoS 1 or 2
// PUBLISH before handling the publisher's Ready and persists the subscribers'
// changes and the publisher's in the same Apply call, before the PUBACK or
// PUBREC is sent; the call is atomic, so after a crash either the message is
// queued for every subscriber and acknowledged, or neither, and the
// publisher sends it again.
//
// Apply is variadic; a caller on a hot path passes a slice it reuses
// (st.Apply(ctx, updates...)), since arguments built at the call escape
// through the interface and are allocated.
//
// # Ordering and atomicity
//
// Every method is safe for concurrent use. Calls on one client take effect in
// the order they are made as long as the caller does not make them
// concurrently; the broker serialises the calls of one session (the session
// state machine is single-threaded anyway). Calls on different clients run
// concurrently and do not wait for each other beyond what the backend's
// batching imposes.
//
// Each Apply call is atomic: all of its changes take effect or none do, also
// across a crash, also when one call carries changes of several sessions (a
// fan-out). After a restart, the message state of a session is the result of
// applying, in order, a prefix of the Apply calls made for it: every call that
// returned nil, possibly followed by calls that returned an error or were in
// progress at the crash, never part of a call. A call that returns an error
// other than ErrInvalid may or may not have taken effect.
//
// A read (LoadSessions, LoadState, MatchRetained, Stats) sees every write
// that returned before the read began.
//
// # Durability
//
// A backend is durable when every write (SaveSession, DeleteSession, Apply,
// SetRetained) that returned nil survives the process being killed (kill -9)
// and, for a backend that syncs to disk, the machine losing power; storetest's
// RunReopen checks what comes back after Close and open. The broker acknowledges a QoS 1 or QoS 2 PUBLISH
// (PUBACK, PUBREC) only after the Apply call that queued the message to its
// subscribers returned. A durable backend batches: concurrent calls are
// committed together with one sync (group commit), each caller waiting for the
// sync that covers its write, so the cost of a sync is shared by every session
// writing at that moment. The memory backend is not durable: its data lives
// until Close.
//
// # Message bodies
//
// A message fanned out to many sessions is one *session.Message, immutable,
// identified by Message.ID. A backend stores its body (topic, payload,
// properties, expiry) once, however many sessions and Apply calls reference
// it, and its queue entries refer to it by ID. It counts the references and
// reclaims the body when the last one goes (delivery completed, message
// dropped or expired, session deleted); Stats.Messages counts the bodies
// stored. Two messages with the same ID are the same message: the broker
// allocates IDs, starting above MaxMessageID after a restart. ID 0 means "not
// shared": such a message is stored with each entry that references it.
// LoadState may return one *session.Message shared by every state that
// references its ID; callers must not modify it.
//
// # Retained messages
//
// SetRetained stores a message under its topic name, replacing the previous
// one; a message with an empty payload removes the topic's retained message
// and is not stored ([MQTT-3.3.1-10], [MQTT-3.3.1-11], [MQTT5-3.3.1-6],
// [MQTT5-3.3.1-7]). MatchRetained calls fn for every retained message whose
// topic name matches a filter, under the rules of topic.Match: '+' one level,
// '#' the parent level and everything below, and a filter starting with a
// wildcard never matches a name starting with '$' ([MQTT-4.7.2-1],
// [MQTT5-4.7.2-1]). A message whose Expires has passed is not reported
// [MQTT5-3.3.2-5] and may be deleted. Backends index retained messages by
// topic level, so a filter with a literal prefix does not visit the topics
// outside that prefix. fn is not called under a lock of the store: it may
// call the store.
//
// # Writing a durable backend
//
// A key-value layout that fits the contract, one write batch per Apply call:
//
//	record/{client}              SessionRecord
//	queue/{client}/{seq}         message ID (or the body, for ID 0), QoS, retain, subscription IDs
//	flight/{client}/{packet id}  send order, seq, stage, message ID, QoS, retain, subscription IDs
//	inbound/{client}/{packet id} (empty)
//	next/{client}                next packet identifier, next sequence number, next send order
//	body/{message id}            topic, payload, QoS, retain, properties, expiry, reference count
//	retained/{topic}             the retained message
//
// Each change is a put or a delete of one or two keys and a reference count
// update, so Apply costs O(changes), not O(state). Flights come back in send
// order (the order of their ChangeInflight), the queue in sequence order.
// Concurrent Apply calls are gathered by a single committer into one batch
// and one sync; a caller whose context ends while it waits gets the context's
// error. At open, the backend may load the retained messages into a
// topic-level index in memory. storetest.Run and storetest.RunReopen are the
// acceptance tests; storetest.Bench measures it.
//
// # Errors and contexts
//
// Errors are wrapped with %w and name the operation and the client or topic;
// test them with errors.Is against ErrClosed, ErrInvalid and the context's
// errors. A call whose context is already done does nothing and returns an
// error wrapping ctx.Err(). A call whose context ends while it waits for a
// sync returns an error wrapping ctx.Err(), and its write may or may not
// become durable (as for a crash); it is never partly applied.
package store
