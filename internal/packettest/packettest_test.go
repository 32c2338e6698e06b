package packettest

import (
	"strings"
	"testing"
)

// remaining reads a fixed header the way 3.1.1 section 2.2.3 describes it,
// independently of package packet, so that the vectors are checked against
// their own arithmetic.
func remaining(raw []byte) (hdr, rem int, ok bool) {
	mult := 1
	for i := 1; i < len(raw) && i <= 4; i++ {
		rem += int(raw[i]&0x7F) * mult
		if raw[i] < 0x80 {
			return i + 1, rem, true
		}
		mult *= 128
	}
	return 0, 0, false
}

func TestVectorsAreSelfConsistent(t *testing.T) {
	for _, c := range Valid() {
		hdr, rem, ok := remaining(c.Raw)
		if !ok || hdr+rem != len(c.Raw) {
			t.Errorf("%s: remaining length %d with a %d-byte header, but %d bytes", c.Name, rem, hdr, len(c.Raw))
		}
		if c.Packet == nil || len(c.Versions) == 0 || c.Name == "" {
			t.Errorf("%s: incomplete case", c.Name)
		}
		if got := c.Packet.Type(); byte(got) != c.Raw[0]>>4 {
			t.Errorf("%s: packet type %v, first byte 0x%02x", c.Name, got, c.Raw[0])
		}
	}
	for _, c := range Malformed() {
		if len(c.Versions) == 0 || c.Spec == "" || c.Code < 0x80 {
			t.Errorf("%s: incomplete case", c.Name)
		}
		if strings.Contains(c.Name, "remaining length") {
			continue // these break the header on purpose
		}
		hdr, rem, ok := remaining(c.Raw)
		if !ok || hdr+rem != len(c.Raw) {
			t.Errorf("%s: remaining length %d with a %d-byte header, but %d bytes", c.Name, rem, hdr, len(c.Raw))
		}
	}
}

func TestRemainingLengthTable(t *testing.T) {
	for _, r := range RemainingLengths() {
		raw := append([]byte{0x30}, r.Encoded...)
		_, rem, ok := remaining(raw)
		if !ok || rem != r.Value {
			t.Errorf("%x: decodes to %d, want %d", r.Encoded, rem, r.Value)
		}
	}
}

func TestNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Valid() {
		if seen[c.Name] {
			t.Errorf("duplicate name %q", c.Name)
		}
		seen[c.Name] = true
	}
	for _, c := range Malformed() {
		if seen[c.Name] {
			t.Errorf("duplicate name %q", c.Name)
		}
		seen[c.Name] = true
	}
}
