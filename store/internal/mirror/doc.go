// Package mirror is the in-memory image of one client's message state that
// the store backends keep (store/memory as its only copy, store/pebble in
// front of its keys): queued deliveries by sequence number, outbound flows
// by packet identifier with their stage and send order, and the inbound
// QoS 2 identifiers awaiting PUBREL.
//
// State.Apply makes each change of a session.Ready.Persist in O(1) and
// tells the backend, through Hooks, which message bodies are referenced
// or released and which entries are written or deleted, so that a durable
// backend writes the same changes in the same order. State.Snapshot gives
// the state back as the session.State that session.State.Apply would
// build. A State is not safe for concurrent use: the backend locks.
package mirror
