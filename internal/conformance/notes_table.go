package conformance

// Notes explains, for each statement without a test, why it has none. Keys
// are tags as cited in code (3.1.1 "MQTT-x.y.z-n", 5.0 "MQTT5-x.y.z-n").
var Notes = map[string]Note{
	"MQTT-7.0.0-1": {Kind: NotApplicable, Text: "Tern does not connect to other servers (no bridging), so it is an MQTT server only; " +
		"the client package is a separate MQTT client, checked by its own tests."},
}
