//go:build !linux

package broker

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Connections are parked on Linux only: elsewhere each keeps a goroutine.

type poller struct{}

func newPoller(*slog.Logger, time.Time) (*poller, error) {
	return nil, errors.New("no poller on this system")
}

func (p *poller) close()            {}
func (p *poller) unregister(uint64) {}

type fdState struct{}

func newParking(net.Conn) *parking { return nil }

func (pk *parking) read([]byte) (int, error) { return 0, errWouldBlock }

func (c *conn) arm(*poller) error { return errors.New("no poller on this system") }

func (c *conn) disarm() {}
