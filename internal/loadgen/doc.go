// Package loadgen is the MQTT load generator behind `tern bench`. It
// speaks MQTT through the packet codec directly (no client library), so
// that on a small machine the generator costs as little CPU as possible.
//
// Run drives a scenario: subscribers connect and subscribe, then
// publishers publish, each at a fixed rate (evenly paced, open loop) or
// flat-out, QoS 1 and 2 with a bounded in-flight window per publisher
// (capped by the broker's Receive Maximum). Every payload carries the run,
// the publisher, a sequence number and the send time, so subscribers count
// distinct deliveries, duplicates and losses and record end-to-end
// latency. At a fixed rate the send time written is the intended one,
// which corrects for coordinated omission: a publisher held back by the
// broker sees the delay as latency instead of sending less. Latency uses
// one clock only when publishers and subscribers share a process.
//
// Connect opens many connections at a rate and holds them, measuring the
// connect rate, failures (with the CONNACK reason in words) and, given the
// broker's process id, its resident memory per connection.
//
// Histogram is a small log-linear (HDR-style) histogram with a relative
// precision of 1/128.
//
// Measurements of the broker process (CPU time, RSS) read /proc and so
// work on Linux only.
package loadgen
