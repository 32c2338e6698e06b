package store

import (
	"fmt"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// Validate reports the first change of u that no backend could store, with
// ErrInvalid. Backends call it for every update of an Apply before writing
// anything, so a refused call applies nothing. Changes that merely do not
// fit the stored state (a removal of an absent entry) are valid: backends
// apply them as blind writes.
func (u *Update) Validate() error {
	if u.ClientID == "" {
		return fmt.Errorf("empty client identifier: %w", ErrInvalid)
	}
	for i := range u.Changes {
		c := &u.Changes[i]
		switch c.Kind {
		case session.ChangeQueued, session.ChangeInflight:
			if c.Delivery.Msg == nil {
				return fmt.Errorf("client %q change %d (%v): no message: %w", u.ClientID, i, c.Kind, ErrInvalid)
			}
			if c.Kind == session.ChangeInflight && (c.PacketID == 0 || c.Delivery.QoS == packet.QoS0 || c.Delivery.QoS > packet.QoS2) {
				return fmt.Errorf("client %q change %d (%v): packet identifier %d, QoS %d: %w",
					u.ClientID, i, c.Kind, c.PacketID, c.Delivery.QoS, ErrInvalid)
			}
		case session.ChangeRemoved:
		case session.ChangePubrec, session.ChangeAcked, session.ChangeInbound, session.ChangeReleased:
			if c.PacketID == 0 {
				return fmt.Errorf("client %q change %d (%v): packet identifier 0: %w", u.ClientID, i, c.Kind, ErrInvalid)
			}
		default:
			return fmt.Errorf("client %q change %d: unknown kind %d: %w", u.ClientID, i, c.Kind, ErrInvalid)
		}
	}
	return nil
}
