package auth

import (
	"context"
	"net"

	"github.com/tern-mq/tern/packet"
)

// ConnInfo is what a CONNECT packet and its connection tell about a client.
type ConnInfo struct {
	ClientID    string
	Username    string
	HasUsername bool // the CONNECT's User Name Flag
	Password    []byte
	HasPassword bool     // the CONNECT's Password Flag
	RemoteAddr  net.Addr // the peer's address; the rate limit keys on its IP
	Level       byte     // protocol level: 3 (3.1), 4 (3.1.1) or 5 (5.0)
}

// ClientInfo identifies an authenticated client to an Authorizer. An empty
// Username means the client connected without a user name (anonymous).
type ClientInfo struct {
	ClientID string
	Username string
}

// Decision is the outcome of an authentication.
type Decision uint8

const (
	// Defer means no opinion: in a Chain the next Authenticator decides.
	Defer Decision = iota
	// Accept lets the client in.
	Accept
	// Deny refuses the connection with Result.Code.
	Deny
)

// Result is the answer of an Authenticator.
type Result struct {
	Decision Decision
	// Code is the MQTT 5 CONNACK reason code of a refusal:
	// packet.BadUsernameOrPassword (0x86), packet.NotAuthorized (0x87), or
	// packet.ConnectionRateExceeded (0x9F) from RateLimit. Success for Accept.
	Code packet.ReasonCode
	// Reason explains a refusal for the server's log. It names no secret and
	// need not be sent to the client.
	Reason string
}

// Accepted is the Result that lets a client in.
var Accepted = Result{Decision: Accept, Code: packet.Success}

// Denied returns a refusal with the given MQTT 5 reason code and log text.
func Denied(code packet.ReasonCode, reason string) Result {
	return Result{Decision: Deny, Code: code, Reason: reason}
}

// OK reports whether the client is accepted.
func (r Result) OK() bool { return r.Decision == Accept }

// ConnackCode returns the CONNACK code to send at protocol level level:
// Success when accepted; for a refusal the MQTT 5 reason code at level 5,
// and at levels 3 and 4 (which know return codes 0 to 5 only) 0x04 "bad user
// name or password" for 0x86 and 0x05 "not authorized" for every other
// refusal [MQTT-3.2.2-6] [MQTT5-3.2.2-8]. A Defer that reached the broker is
// treated as a refusal (not authorized).
func (r Result) ConnackCode(level byte) packet.ReasonCode {
	if r.Decision == Accept {
		return packet.Success
	}
	code := r.Code
	if !code.IsError() {
		code = packet.NotAuthorized
	}
	if level == 5 {
		return code
	}
	if code == packet.BadUsernameOrPassword {
		return packet.ConnRefusedBadUsernamePassword
	}
	return packet.ConnRefusedNotAuthorized311
}

// Authenticator decides whether a client may connect. A non-nil error means
// the decision could not be made (a backend is unreachable, the context
// ended); the broker then refuses the client with Server unavailable (0x88,
// 0x03 at levels 3 and 4) and logs the error. Implementations must be safe
// for concurrent use and must not keep c.Password.
type Authenticator interface {
	Authenticate(ctx context.Context, c ConnInfo) (Result, error)
}

// Action is what a client asks to do with a topic.
type Action uint8

const (
	// Publish is a PUBLISH from the client to a topic name (Mosquitto's write access).
	Publish Action = iota + 1
	// Subscribe is a SUBSCRIBE by the client to a topic filter (Mosquitto's
	// read access); the filter as requested, "$share/group/" included or not.
	Subscribe
	// Receive is the delivery of a message published on a topic name to the
	// client (read access checked per message, as Mosquitto 2 does). A broker
	// that checks Subscribe need not check Receive.
	Receive
)

func (a Action) String() string {
	switch a {
	case Publish:
		return "publish"
	case Subscribe:
		return "subscribe"
	case Receive:
		return "receive"
	}
	return "unknown action"
}

// Authorizer decides whether a connected client may publish to a topic name
// or subscribe to a topic filter. A refused PUBLISH is answered with Not
// authorized (0x87) in PUBACK/PUBREC at level 5; at levels 3 and 4 it is
// acknowledged as usual and dropped, or the connection closed [MQTT-3.3.5-2]; a refused SUBSCRIBE gets 0x87 in SUBACK at level 5 and the failure
// code 0x80 at levels 3 and 4. Implementations must be safe for concurrent use
// and cheap: Allow runs on the publish path.
type Authorizer interface {
	Allow(ctx context.Context, c ClientInfo, action Action, topic string) bool
}

// AllowAll accepts every connection and allows every action: the behaviour
// without any configuration.
type AllowAll struct{}

// Authenticate accepts every client.
func (AllowAll) Authenticate(context.Context, ConnInfo) (Result, error) { return Accepted, nil }

// Allow allows everything.
func (AllowAll) Allow(context.Context, ClientInfo, Action, string) bool { return true }

// Anonymous accepts the clients that connect without a user name and defers
// the others: Chain{Anonymous{}, passwords} is Mosquitto's allow_anonymous
// true with a password_file.
type Anonymous struct{}

// Authenticate accepts a client without a user name and defers the others.
func (Anonymous) Authenticate(_ context.Context, c ConnInfo) (Result, error) {
	if !c.HasUsername {
		return Accepted, nil
	}
	return Result{Decision: Defer}, nil
}

// Chain asks its Authenticators in order; the first that accepts or denies
// decides. An error stops the chain. When all defer (or the chain is empty)
// the client is refused with Not authorized: a chain fails closed.
type Chain []Authenticator

// Authenticate runs the chain.
func (ch Chain) Authenticate(ctx context.Context, c ConnInfo) (Result, error) {
	for _, a := range ch {
		r, err := a.Authenticate(ctx, c)
		if err != nil {
			return Result{}, err
		}
		if r.Decision != Defer {
			return r, nil
		}
	}
	return Denied(packet.NotAuthorized, "no authenticator accepted the client"), nil
}

// Versioned is implemented by an Authorizer whose rules change while the
// broker runs (ACL, on Reload): Generation returns a different value after
// each change, so that the broker checks again what it allowed before:
// a subscription is checked again at delivery once the generation
// changed, and its messages skipped if it is no longer allowed.
type Versioned interface {
	Generation() uint64
}

// Generation returns the sum of the generations of the Versioned
// Authorizers of all: it changes when one of them changes.
func (all AllOf) Generation() uint64 {
	var g uint64
	for _, a := range all {
		if v, ok := a.(Versioned); ok {
			g += v.Generation()
		}
	}
	return g
}

// AllOf allows an action only when every one of its Authorizers allows it.
// An empty AllOf allows everything.
type AllOf []Authorizer

// Allow asks every Authorizer, stopping at the first refusal.
func (all AllOf) Allow(ctx context.Context, c ClientInfo, action Action, topic string) bool {
	for _, a := range all {
		if !a.Allow(ctx, c, action, topic) {
			return false
		}
	}
	return true
}
