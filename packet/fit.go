package packet

// Fit makes p fit in max bytes, a peer's Maximum Packet Size, by removing
// the Reason String and then the User Properties, which MQTT 5 lets a
// sender drop rather than exceed the limit: CONNACK [MQTT5-3.2.2-19]
// [MQTT5-3.2.2-20], PUBACK [MQTT5-3.4.2-2] [MQTT5-3.4.2-3], PUBREC
// [MQTT5-3.5.2-2] [MQTT5-3.5.2-3], PUBREL [MQTT5-3.6.2-2] [MQTT5-3.6.2-3],
// PUBCOMP [MQTT5-3.7.2-2] [MQTT5-3.7.2-3], SUBACK [MQTT5-3.9.2-1]
// [MQTT5-3.9.2-2], UNSUBACK [MQTT5-3.11.2-1] [MQTT5-3.11.2-2], DISCONNECT
// [MQTT5-3.14.2-3] [MQTT5-3.14.2-4] and AUTH [MQTT5-3.15.2-2]
// [MQTT5-3.15.2-3]. It reports whether p fits. p is changed only when that
// makes it fit; other packets (PUBLISH above all, which must then not be
// sent [MQTT5-3.1.2-24] [MQTT5-3.1.2-25]) are never changed. max <= 0 means
// no limit.
func Fit(p Packet, v Version, max int) bool {
	if max <= 0 || Size(p, v) <= max {
		return true
	}
	if v != V5 {
		return false
	}
	var props *Properties
	switch x := p.(type) {
	case *Connack:
		props = &x.Properties
	case *Ack:
		props = &x.Properties
	case *Suback:
		props = &x.Properties
	case *Unsuback:
		props = &x.Properties
	case *Disconnect:
		props = &x.Properties
	case *Auth:
		props = &x.Properties
	default:
		return false
	}
	saved := *props
	if props.Has(PropReasonString) {
		props.Clear(PropReasonString)
		props.ReasonString = ""
		if Size(p, v) <= max {
			return true
		}
	}
	if len(props.User) > 0 || props.Has(PropUserProperty) {
		props.Clear(PropUserProperty)
		props.User = nil
		if Size(p, v) <= max {
			return true
		}
	}
	*props = saved
	return false
}
