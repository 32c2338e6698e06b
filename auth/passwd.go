package auth

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/tern-mq/tern/packet"
)

// PasswordFile authenticates clients against a Mosquitto password file. It
// accepts a client whose user name is in the file and whose password matches;
// it refuses a client without a user name with Not authorized (0x87, as
// Mosquitto with allow_anonymous false; put Anonymous before it in a Chain to
// let such clients in) and an unknown user or a wrong password with Bad user
// name or password (0x86). Safe for concurrent use; Reload swaps the users
// atomically.
type PasswordFile struct {
	path  string
	users atomic.Pointer[userTable]
}

type userTable struct {
	byName map[string]*hash
	// decoy is verified for unknown users so that their refusal takes as
	// long as a wrong password's.
	decoy *hash
}

// LoadPasswordFile reads the password file at path. Any line that is not a
// comment ('#' first), blank, or "user:hash" with a known hash format stops
// the load with an error naming the file and line.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	p := &PasswordFile{path: path}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the file again; on error the users loaded before stay.
func (p *PasswordFile) Reload() error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	t, err := parsePasswords(f, p.path)
	if err != nil {
		return err
	}
	p.users.Store(t)
	return nil
}

// ParsePasswords reads a password file from r; name is used in errors.
func ParsePasswords(r io.Reader, name string) (*PasswordFile, error) {
	t, err := parsePasswords(r, name)
	if err != nil {
		return nil, err
	}
	p := &PasswordFile{path: name}
	p.users.Store(t)
	return p, nil
}

// splitEntry splits a password file line into user and hash as Mosquitto
// does: the user is the text before the first ':', the hash the text up to
// the next ':', both without surrounding blanks. ok is false for a comment
// or a blank line.
func splitEntry(line string) (user, hashField string, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
		return "", "", false, nil
	}
	user, rest, found := strings.Cut(line, ":")
	if !found {
		return "", "", false, fmt.Errorf("want user:hash, found no ':'")
	}
	user = strings.TrimSpace(user)
	hashField, _, _ = strings.Cut(rest, ":")
	hashField = strings.TrimSpace(hashField)
	if user == "" {
		return "", "", false, fmt.Errorf("want user:hash, found an empty user name")
	}
	if hashField == "" {
		return "", "", false, fmt.Errorf("want user:hash, found no hash for user %q", user)
	}
	return user, hashField, true, nil
}

func parsePasswords(r io.Reader, name string) (*userTable, error) {
	t := &userTable{byName: make(map[string]*hash)}
	lineOf := make(map[string]int)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		user, field, ok, err := splitEntry(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if !ok {
			continue
		}
		if first, dup := lineOf[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q already defined at line %d", name, n, user, first)
		}
		h, err := parseHash(field)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %w", name, n, user, err)
		}
		t.byName[user] = h
		lineOf[user] = n
		if t.decoy == nil {
			d := *h
			d.sum = bytes.Repeat([]byte{0}, len(h.sum)) // matches no password
			t.decoy = &d
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return t, nil
}

// Len returns the number of users.
func (p *PasswordFile) Len() int { return len(p.users.Load().byName) }

// hashSlots bounds the password verifications running at once in the
// process: an argon2id verification takes 19 MiB or more, so a burst of
// CONNECTs must queue rather than take memory without bound.
var hashSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// Authenticate checks the client's user name and password against the
// file. It waits for a free verification slot (see hashSlots); if ctx ends
// first it returns ctx's error.
func (p *PasswordFile) Authenticate(ctx context.Context, c ConnInfo) (Result, error) {
	if !c.HasUsername {
		return Denied(packet.NotAuthorized, "no user name"), nil
	}
	select {
	case hashSlots <- struct{}{}:
		defer func() { <-hashSlots }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("password file: waiting to verify: %w", ctx.Err())
	}
	t := p.users.Load()
	h, known := t.byName[c.Username]
	if !known {
		if t.decoy != nil {
			t.decoy.verify(c.Password)
		}
		return Denied(packet.BadUsernameOrPassword, "unknown user"), nil
	}
	if !c.HasPassword || !h.verify(c.Password) {
		return Denied(packet.BadUsernameOrPassword, "wrong password"), nil
	}
	return Accepted, nil
}

// PasswordLines is the text of a password file as lines, for editing: the
// lines of other users, comments and blank lines are kept as they are.
type PasswordLines struct {
	lines []string
}

// ReadPasswordLines reads the file at path for editing. A missing file gives
// no lines and an error wrapping fs.ErrNotExist.
func ReadPasswordLines(path string) (*PasswordLines, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return &PasswordLines{}, err
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return &PasswordLines{}, nil
	}
	return &PasswordLines{lines: strings.Split(s, "\n")}, nil
}

// ValidUsername reports why user cannot be written in a password file, or nil.
func ValidUsername(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("empty user name")
	case strings.ContainsAny(user, ":\r\n"):
		return fmt.Errorf("user name %q contains ':' or a line break", user)
	case strings.TrimSpace(user) != user:
		return fmt.Errorf("user name %q starts or ends with a blank", user)
	case strings.HasPrefix(user, "#"):
		return fmt.Errorf("user name %q starts with '#'", user)
	case len(user) > 65535:
		return fmt.Errorf("user name longer than 65,535 bytes")
	}
	return nil
}

// Set sets the hash of user, replacing the user's line in place or adding
// a line at the end.
func (l *PasswordLines) Set(user, hashField string) {
	entry := user + ":" + hashField
	for i, line := range l.lines {
		if u, _, ok, _ := splitEntry(line); ok && u == user {
			l.lines[i] = entry
			return
		}
	}
	l.lines = append(l.lines, entry)
}

// Delete removes the lines of user and reports whether there was one.
func (l *PasswordLines) Delete(user string) bool {
	kept := l.lines[:0]
	found := false
	for _, line := range l.lines {
		if u, _, ok, _ := splitEntry(line); ok && u == user {
			found = true
			continue
		}
		kept = append(kept, line)
	}
	l.lines = kept
	return found
}

// Bytes returns the file's text.
func (l *PasswordLines) Bytes() []byte {
	if len(l.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(l.lines, "\n") + "\n")
}

// WriteFile replaces the file at path atomically: it writes a temporary file
// in the same directory, syncs it and renames it over path, so a reader sees
// the old or the new file, never a part. An existing file's permissions are
// kept; a new file gets perm.
func (l *PasswordLines) WriteFile(path string, perm os.FileMode) error {
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(l.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("password file: %w", err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("password file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("password file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
