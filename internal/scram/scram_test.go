package scram

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The example of RFC 7677 section 3.
const (
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func TestClientRFC7677(t *testing.T) {
	c := NewClient("user", "pencil")
	c.Nonce = func() string { return rfcClientNonce }
	if got := string(c.First()); got != rfcClientFirst {
		t.Fatalf("client-first %q, want %q", got, rfcClientFirst)
	}
	final, err := c.Final([]byte(rfcServerFirst))
	if err != nil {
		t.Fatal(err)
	}
	if string(final) != rfcClientFinal {
		t.Fatalf("client-final %q, want %q", final, rfcClientFinal)
	}
	if err := c.Verify([]byte(rfcServerFinal)); err != nil {
		t.Fatalf("server-final of the RFC refused: %v", err)
	}
}

// rfcCred are the credentials of the RFC's user.
var rfcCred = func() Credentials {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	cred, err := NewCredentials("pencil", salt, 4096)
	if err != nil {
		panic(err)
	}
	return cred
}()

func rfcServer(t testing.TB) *Server {
	t.Helper()
	cred := rfcCred
	s := NewServer(func(u string) (Credentials, bool) { return cred, u == "user" }, []byte("k"))
	s.Nonce = func() string { return rfcServerNonce }
	return s
}

func TestServerRFC7677(t *testing.T) {
	s := rfcServer(t)
	first, err := s.First([]byte(rfcClientFirst))
	if err != nil || string(first) != rfcServerFirst {
		t.Fatalf("server-first %q %v, want %q", first, err, rfcServerFirst)
	}
	final, user, err := s.Final([]byte(rfcClientFinal))
	if err != nil || string(final) != rfcServerFinal || user != "user" {
		t.Fatalf("server-final %q user %q %v, want %q", final, user, err, rfcServerFinal)
	}
}

func TestServerRefusesWrongProofAndUnknownUser(t *testing.T) {
	s := rfcServer(t)
	s.First([]byte(rfcClientFirst))
	bad := strings.Replace(rfcClientFinal, "p=dHzb", "p=dHzc", 1)
	if _, _, err := s.Final([]byte(bad)); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong proof: %v, want ErrAuthFailed", err)
	}

	s = rfcServer(t)
	first, err := s.First([]byte("n,,n=nobody,r=" + rfcClientNonce))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := rfcServer(t).First([]byte("n,,n=nobody,r=" + rfcClientNonce))
	if string(first) != string(again) {
		t.Fatalf("the fake salt of an unknown user changes: %q then %q", first, again)
	}
	c := NewClient("nobody", "pencil")
	c.Nonce = func() string { return rfcClientNonce }
	c.First()
	final, err := c.Final(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Final(final); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown user: %v, want ErrAuthFailed", err)
	}
}

func TestClientRefusesTamperedServer(t *testing.T) {
	for name, tc := range map[string]struct{ first, final string }{
		"signature":       {rfcServerFirst, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
		"server error":    {rfcServerFirst, "e=invalid-proof"},
		"nonce not ours":  {strings.Replace(rfcServerFirst, "r=rOpr", "r=xOpr", 1), ""},
		"nonce not added": {"r=" + rfcClientNonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", ""},
		"few iterations":  {strings.Replace(rfcServerFirst, "i=4096", "i=1000", 1), ""},
		"many iterations": {strings.Replace(rfcServerFirst, "i=4096", "i=999999999", 1), ""},
	} {
		c := NewClient("user", "pencil")
		c.Nonce = func() string { return rfcClientNonce }
		c.First()
		_, err := c.Final([]byte(tc.first))
		if tc.final == "" {
			if err == nil {
				t.Errorf("%s: server-first %q accepted", name, tc.first)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Verify([]byte(tc.final)); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: %v, want ErrAuthFailed", name, err)
		}
	}
}

func TestSequence(t *testing.T) {
	c := NewClient("user", "pencil")
	if _, err := c.Final([]byte(rfcServerFirst)); err == nil {
		t.Error("Final before First accepted")
	}
	if err := c.Verify([]byte(rfcServerFinal)); err == nil {
		t.Error("Verify before Final accepted")
	}
	s := rfcServer(t)
	if _, _, err := s.Final([]byte(rfcClientFinal)); err == nil {
		t.Error("server Final before First accepted")
	}
	s.First([]byte(rfcClientFirst))
	if _, err := s.First([]byte(rfcClientFirst)); err == nil {
		t.Error("second client-first accepted")
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{"user", "a,b", "a=b", "=2C", ",=,=", "ünï"} {
		esc := EscapeName(n)
		if strings.ContainsRune(esc, ',') {
			t.Errorf("EscapeName(%q) = %q holds a comma", n, esc)
		}
		back, err := UnescapeName(esc)
		if err != nil || back != n {
			t.Errorf("UnescapeName(EscapeName(%q)) = %q, %v", n, back, err)
		}
	}
	if got := EscapeName("a,b=c"); got != "a=2Cb=3Dc" {
		t.Errorf("EscapeName = %q", got)
	}
	for _, bad := range []string{"", "a=b", "a=2", "a=2c", "=", "a\x00b", "\xff", "a,b"} {
		if n, err := UnescapeName(bad); err == nil {
			t.Errorf("UnescapeName(%q) = %q, want an error", bad, n)
		}
	}
}

// A user name with ',' and '=' goes through a whole exchange.
func TestEscapedUserExchange(t *testing.T) {
	const user = "dept=ops,ann"
	cred, err := NewCredentials("pw", []byte("salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(func(u string) (Credentials, bool) { return cred, u == user }, []byte("k"))
	c := NewClient(user, "pw")
	first := c.First()
	if !strings.Contains(string(first), "n=dept=3Dops=2Cann,") {
		t.Fatalf("client-first %q does not escape the name", first)
	}
	sf, err := s.First(first)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := c.Final(sf)
	if err != nil {
		t.Fatal(err)
	}
	fin, got, err := s.Final(cf)
	if err != nil || got != user {
		t.Fatalf("server: user %q, %v", got, err)
	}
	if err := c.Verify(fin); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	clientFirst := []string{
		"", "n", "n,", "p=tls-unique,,n=u,r=x", "x,,n=u,r=x", "n,b=x,n=u,r=x",
		"n,,m=ext,n=u,r=x", "n,,r=x,n=u", "n,,n=u", "n,,n=,r=x", "n,,n=a=b,r=x",
		"n,,n=u,r=", "n,,n=u,r=a b", "n,,n=u,r=x,", "n,,n=u,,r=x", "n,,nu,r=x",
		"n,a=x=zz,n=u,r=x",
	}
	for _, m := range clientFirst {
		if cf, err := ParseClientFirst(m); err == nil {
			t.Errorf("ParseClientFirst(%q) = %+v, want an error", m, cf)
		}
	}
	serverFirst := []string{
		"", "r=x", "r=x,s=c2FsdA==", "r=x,s=c2FsdA==,i=", "r=x,s=c2FsdA==,i=0", "r=x,s=c2FsdA==,i=-1",
		"r=x,s=c2FsdA==,i=04096", "r=x,s=c2FsdA==,i=+4096", "r=x,s=c2FsdA==,i=4k", "r=x,s=!!,i=4096",
		"r=x,s=,i=4096", "s=c2FsdA==,r=x,i=4096", "m=y,r=x,s=c2FsdA==,i=4096", "r=x,s=c2FsdA=,i=4096",
		"r=x,s=c2FsdA==,i=99999999999999999999",
	}
	for _, m := range serverFirst {
		if sf, err := ParseServerFirst(m); err == nil {
			t.Errorf("ParseServerFirst(%q) = %+v, want an error", m, sf)
		}
	}
	clientFinal := []string{
		"", "c=biws,r=x", "c=biws,r=x,p=!!", "r=x,c=biws,p=AAAA", "c=!!,r=x,p=AAAA", "c=biws,p=AAAA",
		"c=biws,r=,p=AAAA", "p=AAAA", ",p=AAAA",
	}
	for _, m := range clientFinal {
		if cf, err := ParseClientFinal(m); err == nil {
			t.Errorf("ParseClientFinal(%q) = %+v, want an error", m, cf)
		}
	}
	for _, m := range []string{"", "v=", "v=!!", "x=1", "v", "e=other-error"} {
		if sig, err := ParseServerFinal(m); err == nil && len(sig) > 0 || err == nil && m != "v=" {
			t.Errorf("ParseServerFinal(%q) = %x, want an error", m, sig)
		}
	}
	// Extensions after the known attributes are accepted.
	if _, err := ParseServerFirst(rfcServerFirst + ",x=ext"); err != nil {
		t.Errorf("server-first with an extension: %v", err)
	}
	if cf, err := ParseClientFirst("y,a=user,n=user,r=abc,x=1"); err != nil || cf.AuthzID != "user" || cf.GS2 != "y,a=user," || cf.Bare != "n=user,r=abc,x=1" {
		t.Errorf("client-first with authzid: %+v %v", cf, err)
	}
}

// Any user name, password and nonce survive a whole exchange, and a wrong
// password never does.
func TestExchangeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		user := rapid.StringMatching(`[^\x00]{1,12}`).Draw(t, "user")
		pw := rapid.String().Draw(t, "password")
		// HMAC pads its key with zero bytes (RFC 2104), so passwords that
		// differ only by trailing NULs derive the same keys: not "other".
		other := rapid.String().Filter(func(s string) bool {
			return strings.TrimRight(s, "\x00") != strings.TrimRight(pw, "\x00")
		}).Draw(t, "other")
		nonce := rapid.StringMatching(`[!-+\--~]{1,24}`).Draw(t, "nonce")
		salt := rapid.SliceOfN(rapid.Byte(), 1, 32).Draw(t, "salt")
		cred, err := NewCredentials(pw, salt, MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		for _, try := range []string{pw, other} {
			s := NewServer(func(u string) (Credentials, bool) { return cred, u == user }, []byte("k"))
			c := NewClient(user, try)
			c.Nonce = func() string { return nonce }
			sf, err := s.First(c.First())
			if err != nil {
				t.Fatalf("server-first: %v", err)
			}
			cf, err := c.Final(sf)
			if err != nil {
				t.Fatalf("client-final: %v", err)
			}
			fin, got, err := s.Final(cf)
			if try == other {
				if !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("wrong password: %v", err)
				}
				continue
			}
			if err != nil || got != user {
				t.Fatalf("server-final: user %q %v", got, err)
			}
			if err := c.Verify(fin); err != nil {
				t.Fatal(err)
			}
		}
	})
}
