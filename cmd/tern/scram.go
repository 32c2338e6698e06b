package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/internal/scram"
)

func init() { subcommands = append(subcommands, newSCRAMCmd) }

// scramPrefix starts every entry of a SCRAM file.
const scramPrefix = "SCRAM-SHA-256$"

// defaultSCRAMIterations is RFC 7677's minimum, PostgreSQL's default.
const defaultSCRAMIterations = 4096

func newSCRAMCmd() *cobra.Command {
	var (
		o          userFileEdit
		iterations int
	)
	cmd := &cobra.Command{
		Use:   "scram [-c] [-D] [-b] [-i ITERATIONS] FILE USER [PASSWORD]",
		Short: "Manage a SCRAM-SHA-256 credentials file (MQTT 5 enhanced authentication)",
		Long: `Add, update or delete a user in the SCRAM-SHA-256 credentials file of
tern serve --scram-file. Each line is

  USER:SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY

with SALT, STOREDKEY and SERVERKEY in base64: RFC 5803's format, as
PostgreSQL stores SCRAM secrets. The password itself is not stored.

  -c  create the file, replacing an existing one
  -D  delete USER
  -b  take PASSWORD from the command line (it shows in the process list and
      the shell history); otherwise it is asked twice on the terminal, or
      read as two lines from standard input when that is not a terminal
  -i  PBKDF2 iterations of new entries (default 4096, at most 1048576)

Each entry gets a new random 16-byte salt. The file is replaced atomically;
other users' lines and comments are kept.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if iterations < defaultSCRAMIterations || iterations > scram.MaxIterations {
				return fmt.Errorf("-i %d: want %d to %d", iterations, defaultSCRAMIterations, scram.MaxIterations)
			}
			return editUserFile(cmd, args, o, func(password []byte) (string, error) {
				salt := make([]byte, 16)
				rand.Read(salt)
				c, err := broker.NewSCRAMCredentials(string(password), salt, iterations)
				if err != nil {
					return "", err
				}
				return formatSCRAMEntry(c), nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.create, "create", "c", false, "create the file, replacing an existing one")
	f.BoolVarP(&o.del, "delete", "D", false, "delete USER")
	f.BoolVarP(&o.batch, "batch", "b", false, "take PASSWORD from the command line")
	f.IntVarP(&iterations, "iterations", "i", defaultSCRAMIterations, "PBKDF2 iterations of new entries")
	return cmd
}

// formatSCRAMEntry is the entry of c in a SCRAM file (after "USER:").
func formatSCRAMEntry(c broker.SCRAMCredentials) string {
	b := base64.StdEncoding.EncodeToString
	return scramPrefix + strconv.Itoa(c.Iterations) + ":" + b(c.Salt) + "$" + b(c.StoredKey) + ":" + b(c.ServerKey)
}

// parseSCRAMEntry reads "SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY".
func parseSCRAMEntry(e string) (broker.SCRAMCredentials, error) {
	rest, ok := strings.CutPrefix(e, scramPrefix)
	if !ok {
		return broker.SCRAMCredentials{}, errors.New("the entry does not start with " + scramPrefix)
	}
	params, keys, ok1 := strings.Cut(rest, "$")
	iter, salt, ok2 := strings.Cut(params, ":")
	stored, server, ok3 := strings.Cut(keys, ":")
	if !ok1 || !ok2 || !ok3 {
		return broker.SCRAMCredentials{}, errors.New("want SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY")
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || n > scram.MaxIterations {
		return broker.SCRAMCredentials{}, fmt.Errorf("iteration count %q: want 1 to %d", iter, scram.MaxIterations)
	}
	c := broker.SCRAMCredentials{Iterations: n}
	for _, f := range []struct {
		name, text string
		dst        *[]byte
		size       int // 0: any but empty
	}{{"salt", salt, &c.Salt, 0}, {"StoredKey", stored, &c.StoredKey, 32}, {"ServerKey", server, &c.ServerKey, 32}} {
		b, err := base64.StdEncoding.DecodeString(f.text)
		switch {
		case err != nil || len(b) == 0:
			return broker.SCRAMCredentials{}, fmt.Errorf("%s %q: want base64", f.name, f.text)
		case f.size > 0 && len(b) != f.size:
			return broker.SCRAMCredentials{}, fmt.Errorf("%s: %d bytes, want %d", f.name, len(b), f.size)
		}
		*f.dst = b
	}
	return c, nil
}

// scramFile holds the credentials of a SCRAM file for the broker's
// SCRAM-SHA-256 method; Reload swaps them atomically.
type scramFile struct {
	path  string
	users atomic.Pointer[map[string]broker.SCRAMCredentials]
}

// loadSCRAMFile reads the SCRAM file at path: '#' comments, blank lines
// and USER:ENTRY lines; any other line stops the load with an error
// naming the file and the line.
func loadSCRAMFile(path string) (*scramFile, error) {
	f := &scramFile{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again; on error the users loaded before stay.
func (f *scramFile) Reload() error {
	fh, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("SCRAM file: %w", err)
	}
	defer fh.Close()
	users := map[string]broker.SCRAMCredentials{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		user, entry, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("SCRAM file %s:%d: want USER:%sITERATIONS:SALT$STOREDKEY:SERVERKEY", f.path, n, scramPrefix)
		}
		if err := auth.ValidUsername(user); err != nil {
			return fmt.Errorf("SCRAM file %s:%d: %w", f.path, n, err)
		}
		c, err := parseSCRAMEntry(strings.TrimSpace(entry))
		if err != nil {
			return fmt.Errorf("SCRAM file %s:%d: user %q: %w", f.path, n, user, err)
		}
		users[user] = c
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("SCRAM file %s: %w", f.path, err)
	}
	f.users.Store(&users)
	return nil
}

// lookup returns the credentials of user.
func (f *scramFile) lookup(user string) (broker.SCRAMCredentials, bool) {
	c, ok := (*f.users.Load())[user]
	return c, ok
}

// method is the broker's SCRAM-SHA-256 method with the file's users.
func (f *scramFile) method() broker.EnhancedAuth { return broker.NewSCRAMSHA256(f.lookup) }
