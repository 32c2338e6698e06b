// Package conformance maps the normative statements of MQTT 3.1.1 and 5.0
// (docs/spec/*.tsv) to the code and tests that carry their tags:
// [MQTT-x.y.z-n] for 3.1.1 and [MQTT5-x.y.z-n] for 5.0. Its test fails when
// the code cites a statement that does not exist, and `go run
// ./internal/conformance/gen` writes docs/conformance.md.
package conformance
