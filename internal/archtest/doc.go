// Package archtest enforces the module's dependency table (docs/architecture.md)
// as a test, so a forbidden import fails the build of the test suite rather
// than a code review.
//
// Rules, by package (paths relative to the module):
//
//	packet, topic      standard library only
//	internal/scram     standard library only (shared by broker and client)
//	session            standard library and packet; no net, no goroutines, no time.Now
//	store/...          standard library, packet, topic, session, store, storage engines
//	broker/...         must not import client or cluster
//	client/...         must not import broker or cluster
//	cluster/...        the only package that may import NATS
//	every non-test package: no peer MQTT clients or brokers (paho, mochi-mqtt); those are for tests only
package archtest
