package auth

import (
	"errors"
	"time"
)

// Files is a Mosquitto-like security configuration: the password_file,
// acl_file and allow_anonymous options.
type Files struct {
	PasswordFile   string // "" for none
	ACLFile        string // "" for none: every action is allowed
	AllowAnonymous bool   // let clients without a user name in
	// Now is the rate limit's clock; nil means time.Now.
	Now func() time.Time
}

// Load reads the files and returns the Authenticator and Authorizer to give
// the broker, and a function that reloads both files (on SIGHUP, say; a
// file that fails to load keeps its previous contents and the error is
// returned).
//
// Authentication: with a password file, clients with a user name must be
// in it, and clients without one are let in only if AllowAnonymous;
// without a password file every client is let in if AllowAnonymous and
// none otherwise. Failed logins are rate-limited per address (RateLimit
// with its defaults).
func (f Files) Load() (Authenticator, Authorizer, func() error, error) {
	var (
		authn   Authenticator
		authz   Authorizer = AllowAll{}
		reloads []func() error
	)
	switch {
	case f.PasswordFile != "":
		p, err := LoadPasswordFile(f.PasswordFile)
		if err != nil {
			return nil, nil, nil, err
		}
		reloads = append(reloads, p.Reload)
		if f.AllowAnonymous {
			authn = Chain{Anonymous{}, p}
		} else {
			authn = p
		}
	case f.AllowAnonymous:
		authn = AllowAll{}
	default:
		authn = Chain{}
	}
	if f.ACLFile != "" {
		a, err := LoadACLFile(f.ACLFile)
		if err != nil {
			return nil, nil, nil, err
		}
		reloads = append(reloads, a.Reload)
		authz = a
	}
	reload := func() error {
		var errs []error
		for _, r := range reloads {
			errs = append(errs, r())
		}
		return errors.Join(errs...)
	}
	return &RateLimit{Next: authn, Now: f.Now}, authz, reload, nil
}
