package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest encoded length of a topic name or filter in bytes [MQTT-4.7.3-3]
// [MQTT5-4.7.3-3].
const MaxLen = 65535

// Errors returned (wrapped, with detail) by ValidName, ValidFilter and ParseShared.
// A server answers ErrInvalidName with reason code 0x90 (Topic Name invalid) and
// ErrInvalidFilter with 0x8F (Topic Filter invalid).
var (
	ErrInvalidName   = errors.New("invalid topic name")
	ErrInvalidFilter = errors.New("invalid topic filter")
)

const sharePrefix = "$share/"

// ValidName reports whether name is a valid topic name for PUBLISH: non-empty [MQTT-4.7.3-1]
// [MQTT5-4.7.3-1], no '+' or '#' [MQTT-4.7.1-1] [MQTT5-4.7.0-1], at most 65,535 bytes
// [MQTT-4.7.3-3] [MQTT5-4.7.3-3], well-formed UTF-8 [MQTT-1.5.3-1] [MQTT5-1.5.4-1] without U+0000
// [MQTT-4.7.3-2] [MQTT5-4.7.3-2]. It returns a descriptive error wrapping ErrInvalidName, or nil
// if name is valid. It does not allocate for a valid name.
func ValidName(name string) error {
	if len(name) == 0 { // [MQTT-4.7.3-1] [MQTT5-4.7.3-1]
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxLen { // [MQTT-4.7.3-3] [MQTT5-4.7.3-3]
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidName, len(name), MaxLen)
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == 0: // [MQTT-4.7.3-2] [MQTT5-4.7.3-2]
			return fmt.Errorf("%w: null character at byte %d", ErrInvalidName, i)
		case c == '+' || c == '#': // [MQTT-4.7.1-1] [MQTT5-4.7.0-1]
			return fmt.Errorf("%w: wildcard %q at byte %d", ErrInvalidName, c, i)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(name) { // [MQTT-1.5.3-1] [MQTT5-1.5.4-1]
		return fmt.Errorf("%w: not well-formed UTF-8", ErrInvalidName)
	}
	return nil
}

// ValidFilter reports whether filter is a valid topic filter: non-empty [MQTT-4.7.3-1]
// [MQTT5-4.7.3-1], '#' only alone in the last level [MQTT-4.7.1-2] [MQTT5-4.7.1-1], '+' alone in
// its level [MQTT-4.7.1-3] [MQTT5-4.7.1-2], at most 65,535 bytes [MQTT-4.7.3-3] [MQTT5-4.7.3-3],
// well-formed UTF-8 [MQTT-1.5.3-1] [MQTT5-1.5.4-1] without U+0000 [MQTT-4.7.3-2] [MQTT5-4.7.3-2].
// Empty levels are allowed ("a//b", "/a", "a/"). A shared subscription filter is checked as an
// ordinary filter here; use ParseShared to check its share name. It returns a descriptive error
// wrapping ErrInvalidFilter, or nil if filter is valid.
func ValidFilter(filter string) error {
	if len(filter) == 0 { // [MQTT-4.7.3-1] [MQTT5-4.7.3-1]
		return fmt.Errorf("%w: empty", ErrInvalidFilter)
	}
	if len(filter) > MaxLen { // [MQTT-4.7.3-3] [MQTT5-4.7.3-3]
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidFilter, len(filter), MaxLen)
	}
	ascii := true
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		switch {
		case c == 0: // [MQTT-4.7.3-2] [MQTT5-4.7.3-2]
			return fmt.Errorf("%w: null character at byte %d", ErrInvalidFilter, i)
		case c == '#': // [MQTT-4.7.1-2] [MQTT5-4.7.1-1]
			if i > 0 && filter[i-1] != '/' {
				return fmt.Errorf("%w: '#' at byte %d does not occupy a whole level", ErrInvalidFilter, i)
			}
			if i != len(filter)-1 {
				return fmt.Errorf("%w: '#' at byte %d is not the last character", ErrInvalidFilter, i)
			}
		case c == '+': // [MQTT-4.7.1-3] [MQTT5-4.7.1-2]
			if (i > 0 && filter[i-1] != '/') || (i+1 < len(filter) && filter[i+1] != '/') {
				return fmt.Errorf("%w: '+' at byte %d does not occupy a whole level", ErrInvalidFilter, i)
			}
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(filter) { // [MQTT-1.5.3-1] [MQTT5-1.5.4-1]
		return fmt.Errorf("%w: not well-formed UTF-8", ErrInvalidFilter)
	}
	return nil
}

// Match reports whether the topic name matches the topic filter. Levels are compared byte for
// byte, without normalization [MQTT-4.7.3-4] [MQTT5-4.7.3-4]; '+' matches exactly one level
// (possibly empty) and a final '#' matches the parent level and any number of child levels
// ("sport/#" matches "sport"). A filter starting with a wildcard does not match a name starting
// with '$' [MQTT-4.7.2-1] [MQTT5-4.7.2-1]. Match does not allocate. The result for an invalid
// filter or name is unspecified (but Match never panics); validate them first.
func Match(filter, name string) bool {
	if len(name) > 0 && name[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1] [MQTT5-4.7.2-1]
	}
	// i and j are at the start of a level of filter and of name.
	i, j := 0, 0
	for i < len(filter) {
		switch filter[i] {
		case '#':
			return true // the remaining levels of name, if any [MQTT-4.7.1-2] [MQTT5-4.7.1-1]
		case '+':
			for j < len(name) && name[j] != '/' { // one level of name [MQTT-4.7.1-3] [MQTT5-4.7.1-2]
				j++
			}
			i++
		default:
			for ; i < len(filter) && filter[i] != '/'; i, j = i+1, j+1 {
				if j == len(name) || name[j] != filter[i] {
					return false
				}
			}
		}
		// The filter level ended; the name level must end too.
		if j < len(name) && name[j] != '/' {
			return false
		}
		if i == len(filter) {
			return j == len(name)
		}
		if j == len(name) {
			return filter[i+1:] == "#" // "sport/#" matches "sport" [4.7.1.2]
		}
		i, j = i+1, j+1
	}
	return j == len(name) // filter ended with '/': its last level is empty
}

// levelEnd returns the index of the '/' ending the level that starts at i, or len(s).
func levelEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return i + j
	}
	return len(s)
}

// ParseShared splits a shared subscription filter "$share/{ShareName}/{filter}" into its share
// name (group) and the filter it subscribes to (inner). ok is false, with a nil error, for a
// filter that does not start with "$share/" (a non-shared filter). err wraps ErrInvalidFilter
// for a malformed shared filter: ShareName empty [MQTT5-4.8.2-1], containing '/', '+' or '#' or
// not followed by '/' and a filter [MQTT5-4.8.2-2], or an inner filter that fails ValidFilter;
// ok is true in that case, since the filter is meant as a shared one.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", "", false, nil
	}
	rest := filter[len(sharePrefix):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 { // [MQTT5-4.8.2-2]
		return "", "", true, fmt.Errorf("%w: shared subscription %q has no '/' and filter after the share name", ErrInvalidFilter, filter)
	}
	group, inner = rest[:slash], rest[slash+1:]
	if group == "" { // [MQTT5-4.8.2-1]
		return "", "", true, fmt.Errorf("%w: shared subscription %q has an empty share name", ErrInvalidFilter, filter)
	}
	if strings.ContainsAny(group, "+#") { // [MQTT5-4.8.2-2]
		return "", "", true, fmt.Errorf("%w: share name %q contains a wildcard", ErrInvalidFilter, group)
	}
	if strings.IndexByte(group, 0) >= 0 || !utf8.ValidString(group) {
		return "", "", true, fmt.Errorf("%w: share name %q is not a valid UTF-8 string", ErrInvalidFilter, group)
	}
	if inner == "" { // [MQTT5-4.8.2-2]
		return "", "", true, fmt.Errorf("%w: shared subscription %q has no filter after the share name", ErrInvalidFilter, filter)
	}
	if err := ValidFilter(inner); err != nil {
		return "", "", true, fmt.Errorf("shared subscription %q: %w", filter, err)
	}
	if len(filter) > MaxLen { // [MQTT-4.7.3-3] [MQTT5-4.7.3-3]
		return "", "", true, fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidFilter, len(filter), MaxLen)
	}
	return group, inner, true, nil
}
