// Package scram implements SCRAM-SHA-256 (RFC 5802, RFC 7677) for the
// broker and the client: the key derivation, proofs and signatures, the
// four messages (built and parsed strictly by the RFC 5802 grammar, with
// user names escaped as =2C and =3D), and one conversation state machine
// for each side.
//
// Contract:
//   - Channel binding is not supported: a client sends the GS2 flag "n"
//     and a server accepts "n" or "y", never "p=...".
//   - Passwords are used as their UTF-8 bytes, without SASLprep, which
//     leaves ASCII passwords unchanged.
//   - Every malformed message is an error naming what is wrong; nothing
//     panics on input. A failed proof or signature is ErrAuthFailed (or
//     wraps it), so that callers can tell it from a malformed message.
//   - A Client or a Server is one conversation, not safe for concurrent
//     use.
package scram
