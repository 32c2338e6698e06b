// Package auth decides who may connect to the broker and what a connected
// client may publish and subscribe to. It reads Mosquitto's password and ACL
// files as they are, so a Mosquitto installation's files work unchanged. It
// imports the standard library, golang.org/x/crypto, packet and topic only.
//
// # Interfaces
//
// The broker calls two small interfaces:
//
//   - Authenticator.Authenticate(ctx, ConnInfo) (Result, error) once per
//     CONNECT. Result.ConnackCode(level) gives the CONNACK code: 0x86 Bad
//     user name or password / 0x87 Not authorized (MQTT 5), 0x04 / 0x05
//     (3.1 and 3.1.1). (Mosquitto 2.0 answers a wrong password with not
//     authorized; Tern uses the code the specifications define for it.) An
//     error means no decision could be made: answer Server unavailable
//     (0x88; 0x03 before MQTT 5).
//   - Authorizer.Allow(ctx, ClientInfo, Action, topic) bool for each PUBLISH
//     (Publish, the topic name) and each SUBSCRIBE filter (Subscribe, the
//     filter as requested). Refusals: 0x87 in PUBACK/PUBREC/SUBACK at MQTT 5;
//     before MQTT 5 a refused PUBLISH is acknowledged and dropped
//     [MQTT-3.3.5-2] and a refused filter gets 0x80 in SUBACK.
//   - Versioned (optional) on an Authorizer whose rules change (ACL):
//     Generation changes with them, and the broker then checks its
//     subscriptions again at their next delivery.
//
// Implementations: PasswordFile (Mosquitto password_file), ACL (Mosquitto
// acl_file), HTTP (asks a web service, with a timeout and a TTL cache),
// AllowAll, Anonymous (accepts clients without a user name, defers others),
// Chain (first Accept or Deny wins, fails closed), AllOf (every Authorizer
// must allow) and RateLimit (an exponential penalty on failed logins per IP
// address, with an injectable clock). All are safe for concurrent use; the
// file-backed ones reload atomically with Reload. Files.Load builds the pair
// from Mosquitto's password_file, acl_file and allow_anonymous options, with
// the rate limit, and returns a reload function.
//
// # Password files
//
// One "user:hash" per line; '#' starts a comment line; blank lines are
// skipped. As in Mosquitto the user is the text before the first ':' and the
// hash the text up to the next ':', both trimmed of blanks. Hash formats:
//
//   - $7$ITERATIONS$SALT$HASH: PBKDF2-HMAC-SHA512, 64-byte key, written by
//     mosquitto_passwd since Mosquitto 2.0 (101 iterations by default);
//   - $6$SALT$HASH: SHA-512 over the password bytes followed by the salt
//     bytes, Mosquitto 1.x; read only;
//   - $argon2id$v=19$m=KIB,t=PASSES,p=LANES$SALT$HASH: the PHC string, Tern's
//     default for new entries (19 MiB, 2 passes, 1 lane, 16-byte salt).
//
// Salts and hashes of $6$ and $7$ are standard base64 (12-byte salts from
// Mosquitto 2.0, 64-byte ones accepted too); argon2id uses unpadded base64.
// Unlike Mosquitto, which drops bad lines with a log message, a line with an
// unknown or damaged hash, a missing ':' or a user defined twice stops the
// load with file:line. Costs read from a file are bounded (PBKDF2 at most
// 10^7 iterations, argon2id at most 1 GiB) so an entry cannot stall logins.
// Comparisons are constant-time, and an unknown user's password is hashed
// against a decoy entry so the refusal takes as long as a wrong password's.
// At most 2×GOMAXPROCS verifications run at once in the process (argon2id
// takes 19 MiB each); further logins wait, and give up with the context.
// HashPassword, PasswordLines and ValidUsername are what `tern passwd` uses
// to edit files in place, atomically.
//
// # ACL files
//
// Lines (tokens separated by spaces or tabs; trailing blanks ignored):
//
//	topic [read|write|readwrite|deny] FILTER    no ACCESS means readwrite
//	user NAME                                    starts NAME's section
//	pattern [read|write|readwrite|deny] FILTER   for every client, %u and %c substituted
//	# comment
//
// As in Mosquitto 2.0 (src/security_default.c):
//
//   - topic lines before the first user line form the list of clients that
//     connected without a user name (anonymous clients); they do not apply
//     to clients that have one. A client with a user name uses its own
//     section (sections of one name are merged); a user name without a
//     section has only the patterns.
//   - The client's list is checked first, then the patterns. In each, a
//     matching deny refuses at once, whatever the order of the lines; then
//     a grant of the right kind (write for Publish, read for Subscribe and
//     Receive) allows. So a deny wins over a grant of the same list, and a
//     grant in the user's own section wins over a pattern deny. Nothing
//     matching means refused.
//   - Matching is topic.Match, '$' rule included: a filter whose first
//     level is a wildcard does not match "$SYS/...".
//   - %u and %c are replaced anywhere in a pattern, in one pass (matching a
//     topic name does it without allocating). A pattern
//     that uses %u does not apply to a client without a user name. Where
//     Mosquitto 2.0 refuses a client whose user name or client identifier
//     contains '+' or '#' every pattern, Tern skips only the patterns that
//     would substitute a value that is empty or contains '+', '#' or '/'
//     (a '/' would move the pattern to another place in the tree).
//   - Filters are checked as SUBSCRIBE filters at load; a bad one, an
//     unknown keyword or access, or a missing name or filter stops the load
//     with file:line and what was expected.
//
// Subscriptions. Mosquitto 2.0's acl_file does not check SUBSCRIBE at all:
// it accepts any filter and checks read access on each message delivered.
// Tern checks the filter itself, so the broker need not check each delivery:
// Subscribe is allowed when one read grant's filter covers the requested
// filter (every topic name the requested filter matches, the grant matches
// too: "a/#" covers "a/+/b" and "a", "a/+" does not cover "a/#"), and
// refused when a deny's filter intersects it (some name matches both: a deny
// of "a/secret" refuses a subscription to "a/#", where Mosquitto would
// accept it and drop the a/secret messages). "$share/GROUP/" is removed
// before the check. Receive checks a delivered message's topic name like
// Mosquitto's read check, for a broker that wants Mosquitto's behaviour.
//
// # Rate limit
//
// RateLimit wraps an Authenticator. Failed logins (refused with 0x86 or
// 0x87) per client IP address (IPv6: per /64 prefix) beyond Free (3) bar
// the address for Base (1 s), doubling with each further failure up to Max
// (5 min); a barred address is refused with Connection rate exceeded (0x9F;
// 0x05 before MQTT 5) without asking the wrapped Authenticator. Success
// clears the address. Concurrent attempts from an address that has failed
// count against its free failures, and at most 16 run at once per address.
package auth
