package broker

import (
	"fmt"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// retryLoop is the one broker-wide ticker of timed resends to 3.1/3.1.1
// clients (Config.RetryInterval): it walks the connected clients and ticks
// their sessions. It runs only when RetryInterval is set.
func (s *Server) retryLoop() {
	defer s.wg.Done()
	period := max(s.cfg.RetryInterval/4, 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	var clients []*client
	for {
		select {
		case <-s.stopping:
			return
		case now := <-t.C:
			s.mu.Lock()
			if s.closing {
				s.mu.Unlock()
				return
			}
			for _, cl := range s.clients {
				clients = append(clients, cl)
			}
			s.mu.Unlock()
			for i, cl := range clients {
				clients[i] = nil
				if c := cl.tick(now); c != nil {
					c.kick()
				}
			}
			clients = clients[:0]
		}
	}
}

// restore rebuilds the sessions saved in the store: their subscriptions,
// pending wills and expiry timers. Expired sessions are deleted.
func (s *Server) restore() error {
	recs, err := s.store.LoadSessions(s.ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, rec := range recs {
		if rec.ExpiryInterval == 0 {
			s.store.DeleteSession(s.ctx, rec.ClientID)
			continue
		}
		// The expiry in force now: a changed configuration applies to the
		// sessions saved before.
		if rec.Version == packet.V5 {
			rec.ExpiryInterval = s.capExpiry(rec.ExpiryInterval)
		} else {
			rec.ExpiryInterval = s.persistentExpiry()
		}
		cl := &client{srv: s, id: rec.ClientID, version: rec.Version, expiry: rec.ExpiryInterval}
		st, err := s.store.LoadState(s.ctx, rec.ClientID)
		if err != nil {
			return fmt.Errorf("loading the state of %q: %w", rec.ClientID, err)
		}
		if cl.sess, err = session.Restore(s.sessionConfig(rec.Version), st); err != nil {
			return fmt.Errorf("restoring the session of %q: %w", rec.ClientID, err)
		}
		cl.offlineAt = rec.DisconnectedAt
		if cl.offlineAt.IsZero() {
			cl.offlineAt = now // the server stopped while the client was connected
		}
		if rec.ExpiryInterval != store.NeverExpire &&
			!now.Before(cl.offlineAt.Add(time.Duration(rec.ExpiryInterval)*time.Second)) {
			s.store.DeleteSession(s.ctx, rec.ClientID)
			continue
		}
		for _, sub := range rec.Subscriptions {
			o := subscription{qos: sub.Options.QoS, noLocal: sub.Options.NoLocal,
				rap: sub.Options.RetainAsPublished, rh: sub.Options.RetainHandling, acl: restoredSubACL()}
			if sub.SubID != 0 {
				o.subIDs = []uint32{sub.SubID}
			}
			if cl.subs == nil {
				cl.subs = make(map[string]subscription)
			}
			cl.subs[sub.Filter] = o
			s.addSub(sub.Filter, cl, o)
		}
		if w := rec.Will; w != nil {
			cl.pendingWill = &will{delay: w.Delay, msg: &session.Message{ID: s.messageID(), Topic: w.Topic, Payload: w.Payload,
				QoS: w.QoS, Retain: w.Retain, Properties: w.Properties}}
		}
		s.clients[cl.id] = cl
		cl.mu.Lock()
		cl.armTimerLocked(now)
		cl.mu.Unlock()
	}
	return nil
}

// tick runs the session's timed resends and returns the connection to kick
// if they produced packets.
func (cl *client) tick(now time.Time) *conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.conn == nil {
		return nil
	}
	cl.sess.Tick(now)
	if cl.sess.HasReady() {
		return cl.conn
	}
	return nil
}
