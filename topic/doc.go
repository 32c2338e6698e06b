// Package topic implements MQTT topic names and filters: validation, matching, shared
// subscription filters, and Trie, the concurrent subscription index a broker consults on every
// PUBLISH.
//
// # Names and filters
//
// ValidName checks a topic name as carried by PUBLISH and ValidFilter a topic filter as carried
// by SUBSCRIBE and UNSUBSCRIBE (MQTT 3.1.1 section 4.7, MQTT 5.0 section 4.7): both must be
// 1 to 65,535 bytes of well-formed UTF-8 without U+0000; names contain no wildcards; in filters
// '+' occupies a whole level and '#' a whole last level. Empty levels are valid ("/a", "a//b").
// Errors wrap ErrInvalidName or ErrInvalidFilter, never panic, and validating a valid input does
// not allocate.
//
// Match(filter, name) compares level by level, byte for byte, without normalization. '+'
// matches one level, possibly empty; '#' matches the parent level and any number of levels
// below it, so "sport/#" matches "sport", "sport/" and "sport/tennis/player1". Filters starting
// with a wildcard never match names starting with '$' ("#" does not match "$SYS/uptime";
// "$SYS/#" does). Match does not allocate. Results for invalid input are unspecified, but
// there is no panic.
//
// ParseShared recognises MQTT 5.0 shared subscriptions "$share/{ShareName}/{filter}" and
// returns the share name and the inner filter, which is what gets indexed and matched.
//
// # Trie
//
// Trie[K, V] maps filters to subscribers: K identifies a subscriber (for example a session
// pointer), V is its options for one filter. An entry is a (filter, K) pair; Subscribe on an
// existing pair replaces its V. The Trie does not validate filters: validate them first.
//
// Trie.Match(name, fn) calls fn once for every entry whose filter matches name under the rules
// of Match, including the '$' rule. A subscriber with several overlapping filters that all match
// one name (say "a/+" and "a/#") is reported once per filter; the broker decides whether to
// deliver once or per subscription and with which options (MQTT 5.0 section 4.7.1 and 3.3.4).
// Order of the calls is unspecified. Trie.Match allocates nothing itself; only fn may.
//
// Concurrency: every method is safe for concurrent use. Each node of the trie has its own
// read-write lock, held only briefly, one lock at a time on the match path, so publishes
// matching concurrently do not serialise on a global lock. Subscribe and Unsubscribe cost
// O(levels of the filter), independent of the number of subscriptions and of siblings, and
// remove nodes left empty.
//
// Consistency guarantee: each Subscribe and Unsubscribe is atomic. A Match reports every entry
// whose Subscribe returned before the Match began, unless an Unsubscribe (or replacing Subscribe)
// of that entry ran concurrently with the Match; it never reports an entry whose Unsubscribe
// returned before the Match began; it reports each entry at most once. An entry added or
// removed concurrently with a Match may or may not be reported, and when a Subscribe replaces V
// concurrently, fn sees either the old or the new V. Len counts entries and is exact when no
// Subscribe or Unsubscribe is running. No entry is ever lost to a concurrent operation on
// another entry.
//
// fn runs under the read lock of the node holding the entry: it must return quickly, must not
// block, and must not call Subscribe, Unsubscribe or Match on the same Trie (doing so may
// deadlock). Copy what is needed and do slow work after Match returns.
package topic
