// Package conformance maps the normative statements of MQTT 3.1.1 and 5.0
// (docs/spec/*.tsv) to the code and tests that carry their tags:
// [MQTT-x.y.z-n] for 3.1.1 and [MQTT5-x.y.z-n] for 5.0. A tag in a _test.go
// file makes the statement tested; elsewhere, cited.
//
// Every statement has a test or a Note (notes_table.go) saying why not: an
// obligation of the client the server cannot check, a permission not used,
// a duplicate of a tested statement, a feature Tern does not have, or a
// known gap (a Gap may also accompany a test that covers part of it).
// Features (features_table.go) lists the MQTT 5 features with the tests
// that show each works.
//
// Its tests fail when the code cites a statement that does not exist, when
// a statement has neither a test nor a note, when a note is stale, and when
// a feature names a test that does not exist. `go run
// ./internal/conformance/gen` writes docs/conformance.md.
package conformance
