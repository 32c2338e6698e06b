package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/auth"
)

func init() { subcommands = append(subcommands, newPasswdCmd) }

func newPasswdCmd() *cobra.Command {
	var (
		create, del, batch bool
		scheme             string
	)
	cmd := &cobra.Command{
		Use:   "passwd [-c] [-D] [-b] [-H argon2id|sha512-pbkdf2] FILE USER [PASSWORD]",
		Short: "Manage a Mosquitto-compatible password file",
		Long: `Add, update or delete a user in a password file, like mosquitto_passwd.

  -c  create the file, replacing an existing one
  -D  delete USER
  -b  take PASSWORD from the command line (it shows in the process list and
      the shell history); otherwise it is asked twice on the terminal, or
      read as two lines from standard input when that is not a terminal

New entries are argon2id. -H sha512-pbkdf2 writes Mosquitto 2's $7$ format,
so that the file stays readable by Mosquitto. The file is replaced
atomically; other users' lines and comments are kept.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if scheme != string(auth.Argon2id) && scheme != string(auth.SHA512PBKDF2) {
				return fmt.Errorf("-H %q: want %s or %s", scheme, auth.Argon2id, auth.SHA512PBKDF2)
			}
			return editUserFile(cmd, args, userFileEdit{create: create, del: del, batch: batch},
				func(password []byte) (string, error) { return auth.HashPassword(password, auth.Scheme(scheme)) })
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&create, "create", "c", false, "create the file, replacing an existing one")
	f.BoolVarP(&del, "delete", "D", false, "delete USER")
	f.BoolVarP(&batch, "batch", "b", false, "take PASSWORD from the command line")
	f.StringVarP(&scheme, "hash", "H", string(auth.Argon2id), "hash of new entries: argon2id or sha512-pbkdf2 (Mosquitto's $7$)")
	return cmd
}

// userFileEdit are the -c, -D and -b options of tern passwd and tern scram.
type userFileEdit struct{ create, del, batch bool }

// editUserFile adds, updates (-c: in a new file) or deletes (-D) the line
// "USER:entry" of a user file, the arguments being FILE USER [PASSWORD]
// (-b); entry derives the line's entry from the password. Other lines and
// comments are kept; the file is replaced atomically.
func editUserFile(cmd *cobra.Command, args []string, o userFileEdit, entry func(password []byte) (string, error)) error {
	file, user := args[0], args[1]
	switch {
	case o.create && o.del:
		return errors.New("-c and -D cannot be used together")
	case o.batch && o.del:
		return errors.New("-b and -D cannot be used together")
	case o.batch && len(args) != 3:
		return errors.New("-b needs a PASSWORD argument")
	case !o.batch && len(args) == 3:
		return errors.New("a PASSWORD argument needs -b")
	}
	if err := auth.ValidUsername(user); err != nil {
		return err
	}
	var lines *auth.PasswordLines
	if o.create {
		lines = &auth.PasswordLines{}
	} else {
		var err error
		lines, err = auth.ReadPasswordLines(file)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist (use -c to create it)", file)
		} else if err != nil {
			return err
		}
	}
	if o.del {
		if !lines.Delete(user) {
			return fmt.Errorf("user %q not found in %s", user, file)
		}
		return lines.WriteFile(file, 0o600)
	}
	var password []byte
	if o.batch {
		password = []byte(args[2])
	} else {
		var err error
		password, err = readNewPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
		if err != nil {
			return err
		}
	}
	if len(password) == 0 {
		return errors.New("empty password")
	}
	e, err := entry(password)
	if err != nil {
		return err
	}
	lines.Set(user, e)
	return lines.WriteFile(file, 0o600)
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) (*os.File, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	st, err := f.Stat()
	return f, err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readNewPassword asks for the password twice. On a terminal it prompts on
// errOut with echo turned off (through stty); otherwise it reads two lines
// from in without prompting.
func readNewPassword(in io.Reader, errOut io.Writer) ([]byte, error) {
	tty, isTTY := isTerminal(in)
	if isTTY {
		if err := stty(tty, "-echo"); err != nil {
			return nil, fmt.Errorf("cannot turn off echo on the terminal (use -b): %w", err)
		}
		defer stty(tty, "echo")
	}
	r := bufio.NewReader(in)
	read := func(prompt string) (string, error) {
		if isTTY {
			fmt.Fprint(errOut, prompt)
		}
		line, err := r.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", err
		}
		if isTTY {
			fmt.Fprintln(errOut)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	p1, err := read("Password: ")
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	p2, err := read("Reenter password: ")
	if err != nil {
		return nil, fmt.Errorf("reading the password again: %w", err)
	}
	if p1 != p2 {
		return nil, errors.New("passwords do not match")
	}
	return []byte(p1), nil
}

// stty runs stty with the terminal as its standard input.
func stty(tty *os.File, arg string) error {
	c := exec.Command("stty", arg)
	c.Stdin = tty
	return c.Run()
}
