// Package interop holds interoperability tests: the broker in package broker,
// served in-process on a loopback port, against real third-party MQTT
// clients (Eclipse Paho's Go client for 3.1.1 and its MQTT 5 client).
// The package has no code of its own; scripts/interop-mosquitto.sh runs the
// same cases with the mosquitto command-line clients against `tern serve`.
package interop
