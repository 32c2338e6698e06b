package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/tern-mq/tern/broker"
)

// drainer turns SIGUSR1 and POST /drain on the admin listener into one
// drain request: tern serve then sends its clients to another server
// (broker.Server.Drain) and stops.
type drainer struct {
	defaults broker.DrainOptions
	asked    atomic.Bool
	req      chan broker.DrainOptions // the first request
}

func (o *serveOptions) newDrainer() *drainer {
	return &drainer{req: make(chan broker.DrainOptions, 1), defaults: broker.DrainOptions{
		ServerReference: o.drainReference, Moved: o.drainMoved, Rate: o.drainRate}}
}

// request asks for a drain with opts; false when one was asked before.
func (d *drainer) request(opts broker.DrainOptions) bool {
	if !d.asked.CompareAndSwap(false, true) {
		return false
	}
	d.req <- opts
	return true
}

// onSIGUSR1 requests a drain with the configured options on SIGUSR1,
// until stop is called.
func (d *drainer) onSIGUSR1(log *slog.Logger) (stop func()) {
	return onSignal(syscall.SIGUSR1, func() {
		if !d.request(d.defaults) {
			log.Info("SIGUSR1: already draining")
		}
	})
}

// handler serves POST /drain to loopback peers only: the query parameters
// server_reference, moved (true or false) and rate replace the configured
// options. 202: the drain starts; 409: one was requested already.
func (d *drainer) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "drain: loopback clients only", http.StatusForbidden)
			return
		}
		opts := d.defaults
		q := r.URL.Query()
		if q.Has("server_reference") {
			opts.ServerReference = q.Get("server_reference")
		}
		var err error
		if q.Has("moved") {
			if opts.Moved, err = strconv.ParseBool(q.Get("moved")); err != nil {
				http.Error(w, fmt.Sprintf("drain: moved=%q: want true or false", q.Get("moved")), http.StatusBadRequest)
				return
			}
		}
		if q.Has("rate") {
			if opts.Rate, err = strconv.ParseFloat(q.Get("rate"), 64); err != nil || opts.Rate < 0 {
				http.Error(w, fmt.Sprintf("drain: rate=%q: want clients per second, 0 or more", q.Get("rate")), http.StatusBadRequest)
				return
			}
		}
		if !d.request(opts) {
			http.Error(w, "drain: already draining", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "draining")
	}
}

// adminHandler is the broker's admin handler with POST /drain.
func (d *drainer) adminHandler(srv *broker.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", srv.AdminHandler())
	mux.Handle("POST /drain", d.handler())
	return mux
}
