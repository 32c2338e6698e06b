package auth

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tern-mq/tern/packet"
)

func login(t *testing.T, a Authenticator, user, password string) Result {
	t.Helper()
	r, err := a.Authenticate(context.Background(), ConnInfo{
		ClientID: "c", Username: user, HasUsername: true, Password: []byte(password), HasPassword: true,
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
	})
	if err != nil {
		t.Fatalf("Authenticate(%q): %v", user, err)
	}
	return r
}

func wantLogin(t *testing.T, a Authenticator, user, password string, ok bool) {
	t.Helper()
	r := login(t, a, user, password)
	if r.OK() != ok {
		t.Fatalf("login %q/%q: %+v, want accepted=%v", user, password, r, ok)
	}
	if !ok && r.Code != packet.BadUsernameOrPassword {
		t.Fatalf("login %q/%q refused with %v, want bad user name or password", user, password, r.Code)
	}
}

// testdata/mosquitto.passwd was written by Debian's mosquitto_passwd 2.0.11:
//
//	mosquitto_passwd -b -c F alice secret
//	mosquitto_passwd -b -H sha512 F bob hunter2
//	mosquitto_passwd -b F carol 'pässwörd with spaces'
func TestPasswordFileGolden(t *testing.T) {
	p, err := LoadPasswordFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 3 {
		t.Fatalf("%d users, want 3", p.Len())
	}
	wantLogin(t, p, "alice", "secret", true) // $7$
	wantLogin(t, p, "alice", "Secret", false)
	wantLogin(t, p, "alice", "secret ", false)
	wantLogin(t, p, "alice", "", false)
	wantLogin(t, p, "bob", "hunter2", true) // $6$
	wantLogin(t, p, "bob", "hunter3", false)
	wantLogin(t, p, "carol", "pässwörd with spaces", true)
	wantLogin(t, p, "carol", "passwort with spaces", false)
	wantLogin(t, p, "dave", "secret", false)
	wantLogin(t, p, "Alice", "secret", false)
}

// mosquittoPasswd returns the path of mosquitto_passwd; it skips the test
// when the tool is missing, except in CI where it must be installed.
func mosquittoPasswd(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto_passwd is missing in CI (apt-get install mosquitto)")
		}
		t.Skip("mosquitto_passwd not installed")
	}
	return path
}

func TestPasswordFileFromMosquittoPasswd(t *testing.T) {
	tool := mosquittoPasswd(t)
	file := filepath.Join(t.TempDir(), "passwd")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	run("-b", "-c", file, "user", "pass")
	run("-b", file, "old", "1.x style")
	run("-b", "-H", "sha512", file, "old", "1.x style") // replaces the entry
	run("-b", "-H", "sha512-pbkdf2", file, "unicode", "ünï©ødé ✓")
	run("-b", file, "gone", "x")
	run("-D", file, "gone")
	p, err := LoadPasswordFile(file)
	if err != nil {
		b, _ := os.ReadFile(file)
		t.Fatalf("%v\n%s", err, b)
	}
	if p.Len() != 3 {
		t.Fatalf("%d users, want 3", p.Len())
	}
	wantLogin(t, p, "user", "pass", true)
	wantLogin(t, p, "user", "pass2", false)
	wantLogin(t, p, "old", "1.x style", true)
	wantLogin(t, p, "unicode", "ünï©ødé ✓", true)
	wantLogin(t, p, "gone", "x", false)
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "old:$6$") || !strings.Contains(string(b), "user:$7$") {
		t.Fatalf("mosquitto_passwd did not write the formats expected:\n%s", b)
	}
}

func TestPasswordFileAnonymousAndMissingPassword(t *testing.T) {
	p, err := LoadPasswordFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, _ := p.Authenticate(ctx, ConnInfo{ClientID: "c"})
	if r.OK() || r.Code != packet.NotAuthorized {
		t.Fatalf("no user name: %+v, want not authorized", r)
	}
	r, _ = p.Authenticate(ctx, ConnInfo{ClientID: "c", Username: "alice", HasUsername: true})
	if r.OK() || r.Code != packet.BadUsernameOrPassword {
		t.Fatalf("no password: %+v, want bad user name or password", r)
	}
	// Anonymous in front lets clients without a user name in, and only those.
	ch := Chain{Anonymous{}, p}
	if r, _ := ch.Authenticate(ctx, ConnInfo{ClientID: "c"}); !r.OK() {
		t.Fatalf("anonymous through the chain: %+v", r)
	}
	wantLogin(t, ch, "alice", "secret", true)
	wantLogin(t, ch, "alice", "wrong", false)
}

func TestPasswordFileFormat(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	alice := strings.SplitN(string(golden), "\n", 2)[0]
	text := "# comment\n\n   \n" +
		"  " + strings.Replace(alice, ":", " : ", 1) + " \r\n" + // blanks around both fields, CRLF
		"x:" + strings.TrimPrefix(alice, "alice:") + ":ignored\n" // text after a second ':' is ignored, as in Mosquitto
	p, err := ParsePasswords(strings.NewReader(text), "f")
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, p, "alice", "secret", true)
	wantLogin(t, p, "x", "secret", true)
}

func TestPasswordFileErrors(t *testing.T) {
	seven := "$7$101$ImB027sQcDNNueY7$fdkHGaDCegug4P1ASncZXnje5KjKlQWfajSrQiC2IMvsFkzH1bs7pu+8psWAHQeV9f/J/nsFJR2Wy+YcbYEfSQ=="
	for _, tc := range []struct{ text, want string }{
		{"a:plaintext\n", "f:1: user \"a\": unknown hash format"},
		{"# c\na:" + seven + "\nb:$5$abc$def\n", "f:3: user \"b\": unknown hash format \"$5$\""},
		{"a:$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "f:1: user \"a\": unknown hash format \"$argon2i$\""},
		{"a " + seven + "\n", "f:1: want user:hash, found no ':'"},
		{":" + seven + "\n", "f:1: want user:hash, found an empty user name"},
		{"a:\n", "f:1: want user:hash, found no hash for user \"a\""},
		{"a:" + seven + "\nb:x\na:" + seven + "\n", "f:2: user \"b\""},
		{"a:" + seven + "\na:" + seven + "\n", "f:2: user \"a\" already defined at line 1"},
		{"a:$7$0$ImB027sQcDNNueY7$" + seven[24:] + "\n", "iterations \"0\""},
		{"a:$7$x$ImB027sQcDNNueY7$" + seven[24:] + "\n", "iterations \"x\""},
		{"a:$7$101$ImB027sQcDNNue$" + seven[24:] + "\n", "salt of 10 bytes, want 12"},
		{"a:$7$101$I*B027sQcDNNueY7$" + seven[24:] + "\n", "salt is not base64"},
		{"a:$7$101$ImB027sQcDNNueY7$AAAA\n", "hash of 3 bytes, want 64"},
		{"a:$7$101$ImB027sQcDNNueY7\n", "want $7$ITERATIONS$SALT$HASH"},
		{"a:$6$ImB027sQcDNNueY7\n", "want $6$SALT$HASH"},
		{"a:$argon2id$v=16$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "version \"v=16\""},
		{"a:$argon2id$v=19$m=8,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "want m, t and p"},
		{"a:$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "m=99999999"},
		{"a:$argon2id$v=19$m=8,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n", "unknown parameter"},
		{"a:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA\n", "salt is not unpadded base64"},
	} {
		_, err := ParsePasswords(strings.NewReader(tc.text), "f")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePasswords(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
	_, err := LoadPasswordFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHashPassword(t *testing.T) {
	for _, scheme := range []Scheme{Argon2id, SHA512PBKDF2} {
		h1, err := HashPassword([]byte("correct horse"), scheme)
		if err != nil {
			t.Fatal(err)
		}
		h2, _ := HashPassword([]byte("correct horse"), scheme)
		if h1 == h2 {
			t.Fatalf("%s: two hashes of one password are equal (no random salt): %s", scheme, h1)
		}
		p, err := ParsePasswords(strings.NewReader("u:"+h1+"\n"), "f")
		if err != nil {
			t.Fatalf("%s: %s does not parse: %v", scheme, h1, err)
		}
		wantLogin(t, p, "u", "correct horse", true)
		wantLogin(t, p, "u", "correct horse!", false)
		wantLogin(t, p, "u", "", false)
	}
	h, _ := HashPassword([]byte("x"), Argon2id)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("argon2id entry %q", h)
	}
	h, _ = HashPassword([]byte("x"), SHA512PBKDF2)
	if !strings.HasPrefix(h, "$7$101$") || len(h) != len("$7$101$")+16+1+88 {
		t.Errorf("$7$ entry %q: want 16 base64 characters of salt and 88 of hash", h)
	}
	if _, err := HashPassword([]byte("x"), SHA512); err == nil {
		t.Error("HashPassword wrote a $6$ entry")
	}
	if _, err := HashPassword([]byte("x"), "md5"); err == nil {
		t.Error("HashPassword accepted an unknown scheme")
	}
}

// argon2id strings of the reference implementation (Debian's argon2 CLI):
//
//	echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e
//	echo -n pässwörd | argon2 saltsaltsalt -id -t 1 -k 19456 -p 1 -l 32 -e
func TestArgon2idReferenceVectors(t *testing.T) {
	p, err := ParsePasswords(strings.NewReader(
		"u:$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo\n"+
			"v:$argon2id$v=19$m=19456,t=1,p=1$c2FsdHNhbHRzYWx0$1o1Fpz8Vro4re5bZmpz3j8nX9nH++ovOS68eUQP3KTs\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, p, "u", "password", true)
	wantLogin(t, p, "u", "Password", false)
	wantLogin(t, p, "v", "pässwörd", true)
	wantLogin(t, p, "v", "passwörd", false)
}

func TestPasswordLinesEdit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	text := "# users\nalice:$6$x$y\n\n# keep me\nbob:$7$1$a$b\n"
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := ReadPasswordLines(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Set("alice", "NEW")
	l.Set("carol", "C")
	if !l.Delete("bob") || l.Delete("nobody") {
		t.Fatal("Delete reported wrongly")
	}
	if err := l.WriteFile(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# users\nalice:NEW\n\n# keep me\ncarol:C\n"; string(got) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("permissions %v, want the old file's 0640", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
	// A new file gets the permissions asked for.
	l2, err := ReadPasswordLines(filepath.Join(dir, "new"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	l2.Set("u", "H")
	if err := l2.WriteFile(filepath.Join(dir, "new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "new")); st.Mode().Perm() != 0o600 {
		t.Fatalf("new file permissions %v", st.Mode().Perm())
	}
}

func TestValidUsername(t *testing.T) {
	for _, u := range []string{"", "a:b", "a\nb", " a", "a ", "#a"} {
		if ValidUsername(u) == nil {
			t.Errorf("ValidUsername(%q) accepted", u)
		}
	}
	for _, u := range []string{"a", "a b", "ü", "a#", "a/b"} {
		if err := ValidUsername(u); err != nil {
			t.Errorf("ValidUsername(%q): %v", u, err)
		}
	}
}

func TestPasswordFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	h, _ := HashPassword([]byte("one"), SHA512PBKDF2)
	os.WriteFile(path, []byte("u:"+h+"\n"), 0o600)
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantLogin(t, p, "u", "one", true)
	os.WriteFile(path, []byte("u:garbage\n"), 0o600)
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Fatalf("reload of a bad file: %v", err)
	}
	wantLogin(t, p, "u", "one", true)
	h, _ = HashPassword([]byte("two"), SHA512PBKDF2)
	os.WriteFile(path, []byte("u:"+h+"\n"), 0o600)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, p, "u", "one", false)
	wantLogin(t, p, "u", "two", true)
}

// Any input either loads or is refused with an error naming file and line.
func FuzzParsePasswords(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(golden))
	f.Add("# c\n\nu:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n")
	f.Add("u:$6$ImB027sQcDNNueY7$x\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePasswords(strings.NewReader(text), "fuzz.pw")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.pw:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		// Verify only the cheap $6$ entries: costs of the others come from the input.
		for user, h := range p.users.Load().byName {
			if h.scheme == SHA512 {
				p.Authenticate(context.Background(), ConnInfo{Username: user, HasUsername: true, Password: []byte("x"), HasPassword: true})
			}
		}
	})
}

// With every verification slot taken, a login waits, and gives up with
// the context.
func TestPasswordFileBoundedVerifications(t *testing.T) {
	p, err := LoadPasswordFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < cap(hashSlots); i++ {
		hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Authenticate(ctx, ConnInfo{Username: "alice", HasUsername: true, Password: []byte("secret"), HasPassword: true})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("login ran with no free slot: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting login ended with %v, want context.Canceled", err)
	}
	for i := 0; i < cap(hashSlots); i++ {
		<-hashSlots
	}
	wantLogin(t, p, "alice", "secret", true)
}
