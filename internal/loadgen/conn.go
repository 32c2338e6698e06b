package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ConnConfig is a connection scenario: Count connections opened at Rate
// per second (0: as fast as Concurrency handshakes in parallel allow), then
// held idle for Hold.
type ConnConfig struct {
	Conn        ConnOptions
	Count       int
	Rate        float64
	Concurrency int // handshakes in progress at once; default 100
	Hold        time.Duration
	Progress    io.Writer
	BrokerPID   int // when set, the broker's RSS per connection is measured
}

// ConnResult is the outcome of Connect.
type ConnResult struct {
	Connect ConnectStats `json:"connect"`
	// Dropped counts connections the broker closed while held.
	Dropped int        `json:"dropped"`
	Broker  *ProcStats `json:"broker,omitempty"`
	// BytesPerConn is the growth of the broker's RSS divided by the
	// connections held (0 when BrokerPID is not set).
	BytesPerConn float64 `json:"broker_bytes_per_connection,omitempty"`
}

// Validate checks the configuration and fills defaults.
func (c *ConnConfig) Validate() error {
	c.Conn = c.Conn.withDefaults()
	switch {
	case c.Conn.Addr == "":
		return errors.New("no broker address")
	case c.Count <= 0:
		return errors.New("the connection count must be positive")
	case c.Rate < 0:
		return errors.New("--rate must not be negative (0 means as fast as possible)")
	case c.Hold < 0:
		return errors.New("--hold must not be negative")
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	return nil
}

// Connect runs the connection scenario. It returns an error when no
// connection could be made at all, with the reason in words.
func Connect(ctx context.Context, cfg ConnConfig) (*ConnResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &ConnResult{}
	var (
		mu      sync.Mutex
		hist    Histogram
		errs    errorList
		links   []*link
		dropped atomic.Int64
		readers sync.WaitGroup
		first   error
	)
	var before procSample
	if cfg.BrokerPID > 0 {
		var err error
		if before, err = sampleProc(cfg.BrokerPID); err != nil {
			return nil, err
		}
	}
	attempt := func(i int) {
		m, err := dial(ctx, &cfg.Conn, fmt.Sprintf("%s-conn-%d", cfg.Conn.ClientPrefix, i), 128)
		mu.Lock()
		defer mu.Unlock()
		res.Connect.Attempted++
		if err != nil {
			if ctx.Err() == nil {
				res.Connect.Failed++
				errs.add(err)
				if first == nil {
					first = err
				}
			}
			return
		}
		res.Connect.Connected++
		hist.Record(int64(m.connected))
		l := &link{mconn: m}
		l.lastWrite.Store(time.Now().UnixNano())
		links = append(links, l)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				if _, _, err := l.next(); err != nil {
					if !l.closing.Load() {
						dropped.Add(1)
						errs.add(err)
					}
					return
				}
			}
		}()
	}

	start := time.Now()
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
			}
			mu.Lock()
			fmt.Fprintf(cfg.Progress, "%4.0fs  connected %d  failed %d  dropped %d\n",
				time.Since(start).Seconds(), res.Connect.Connected, res.Connect.Failed, dropped.Load())
			mu.Unlock()
		}
	}()

	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	for i := range cfg.Count {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			attempt(i)
		}()
	}
	wg.Wait()
	res.Connect.Seconds = time.Since(start).Seconds()
	if res.Connect.Seconds > 0 {
		res.Connect.Rate = float64(res.Connect.Connected) / res.Connect.Seconds
	}
	res.Connect.Latency = latencyStats(&hist)

	pctx, cancelPing := context.WithCancel(ctx)
	go pinger(pctx, cfg.Conn.KeepAlive, func() []*link { return links }, cfg.Conn.Version)
	if cfg.Hold > 0 && len(links) > 0 {
		t := time.NewTimer(cfg.Hold)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	cancelPing()
	if cfg.BrokerPID > 0 {
		if after, err := sampleProc(cfg.BrokerPID); err == nil {
			res.Broker = procStats(cfg.BrokerPID, before, after)
			if held := len(links) - int(dropped.Load()); held > 0 {
				res.BytesPerConn = float64(after.rss-before.rss) / float64(held)
			}
		}
	}
	close(stopProgress)
	<-progressDone
	for _, l := range links {
		l.close()
	}
	readers.Wait()
	res.Dropped = int(dropped.Load())
	res.Connect.Errors = errs.m
	if res.Connect.Connected == 0 && first != nil {
		return res, fmt.Errorf("no connection to %s succeeded: %s", cfg.Conn.Addr, describe(first))
	}
	return res, ctx.Err()
}
