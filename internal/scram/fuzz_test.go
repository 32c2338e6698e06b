package scram

import (
	"testing"
)

// FuzzParse feeds any bytes to the parsers and to both conversations: an
// error or a result, never a panic; what a parser accepts, the formatter
// gives back unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{rfcClientFirst, rfcServerFirst, rfcClientFinal, rfcServerFinal,
		"y,a=u=2Cv,n=u=3Dw,r=x,e=1", "e=invalid-proof", "m=x,r=a,s=AA==,i=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		if cf, err := ParseClientFirst(m); err == nil {
			if cf.GS2 == "n,," {
				if msg, _ := FormatClientFirst(cf.Username, cf.Nonce); msg != m && !hasExtension(cf.Bare) {
					t.Fatalf("client-first %q formats back as %q", m, msg)
				}
			}
		}
		if sf, err := ParseServerFirst(m); err == nil {
			if sf.Iterations < 1 || len(sf.Salt) == 0 {
				t.Fatalf("server-first %q parsed as %+v", m, sf)
			}
		}
		if cf, err := ParseClientFinal(m); err == nil && cf.Nonce == "" {
			t.Fatalf("client-final %q without nonce accepted", m)
		}
		ParseServerFinal(m)
		if n, err := UnescapeName(m); err == nil && EscapeName(n) != m {
			t.Fatalf("name %q unescapes to %q, which escapes to %q", m, n, EscapeName(n))
		}

		s := rfcServer(t)
		s.First([]byte(m))
		s.Final([]byte(m))
		c := NewClient("user", "pencil")
		c.First()
		c.Final([]byte(m))
		c.Verify([]byte(m))
	})
}

func hasExtension(bare string) bool {
	as, _ := attrs(bare)
	return len(as) > 2
}
