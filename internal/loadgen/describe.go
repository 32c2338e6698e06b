package loadgen

import (
	"errors"
	"net"
	"syscall"
)

// describe turns an error into a message without addresses or ports that
// differ between connections, so that equal failures count together.
func describe(err error) string {
	var refused *RefusedError
	var disc *DisconnectError
	var ne net.Error
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.As(err, &disc):
		return disc.Error()
	case errors.Is(err, errTimeout):
		return "no CONNACK within the connect timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the broker running and listening there?)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the broker"
	case errors.Is(err, syscall.EPIPE):
		return "broker closed the connection (broken pipe)"
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return "too many open files (raise ulimit -n)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port available (too many connections to one address)"
	case errors.Is(err, errClosed):
		return errClosed.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "network timeout"
	}
	return err.Error()
}
