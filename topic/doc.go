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
// Concurrency: every method is safe for concurrent use. Match takes no lock and writes no
// shared memory: it follows atomic pointers through the nodes, whose children and subscribers
// are kept in small copy-on-write slices or, when large, in a sync.Map. Publishes therefore
// proceed in parallel on all cores. Subscribe and Unsubscribe lock one node at a time (two, parent
// then child, when unlinking a node left empty) and cost O(levels of the filter), independent of
// the number of subscriptions, of siblings under one level ("devices/{id}/status" for 100k ids)
// and of subscribers of one filter.
//
// Consistency guarantee: each Subscribe and Unsubscribe is atomic (linearizable). A Match reports
// every entry whose Subscribe returned before the Match began, unless an Unsubscribe of it ran
// concurrently with the Match; it never reports an entry whose Unsubscribe returned before the
// Match began; it reports each entry at most once. An entry added or removed concurrently with
// a Match may or may not be reported, and when a Subscribe replaces V concurrently, fn sees
// either the old or the new V. A Match is not a snapshot: of two entries added concurrently
// with it, it may see the later and miss the earlier. No operation ever loses or duplicates an
// entry of another. Len counts entries and is exact when no Subscribe or Unsubscribe runs.
//
// fn runs on the publisher's goroutine with no lock held, so it may call the Trie's methods,
// but it is on the publish path: it should be quick and not block.
package topic
