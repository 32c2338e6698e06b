// Package packettest holds golden MQTT packets shared by the codec tests of
// package packet and by the tests of the packages above it (the broker sends
// Malformed vectors on a live connection and checks the reason code it gets).
//
// Every vector is written out byte by byte, with a comment naming each field,
// from the OASIS MQTT 3.1.1 and 5.0 specifications; several are the
// specifications' own examples (the CONNECT variable headers of figures 3.6
// and 3-7, the Remaining Length table 2.4 / 1.3). A vector is never produced
// by the codec under test.
//
// The functions build a fresh table on every call, so a test may modify the
// cases it gets without affecting any other test.
package packettest
