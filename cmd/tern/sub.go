package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

func init() { subcommands = append(subcommands, newSubCmd) }

// subOutput prints received messages, one per line.
type subOutput struct {
	mu        sync.Mutex
	w         io.Writer
	json      bool
	verbose   bool
	noNewline bool
}

func (o *subOutput) print(m *client.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		return json.NewEncoder(o.w).Encode(jsonMessage(m))
	}
	var b []byte
	if o.verbose {
		b = append(b, m.Topic...)
		b = append(b, ' ')
	}
	b = append(b, m.Payload...)
	if !o.noNewline {
		b = append(b, '\n')
	}
	_, err := o.w.Write(b)
	return err
}

// jsonMessage is the --json form of a message: payload as a string when
// it is UTF-8, else payload_base64.
func jsonMessage(m *client.Message) map[string]any {
	j := map[string]any{"topic": m.Topic, "qos": m.QoS, "retain": m.Retain}
	if utf8.Valid(m.Payload) {
		j["payload"] = string(m.Payload)
	} else {
		j["payload_base64"] = base64.StdEncoding.EncodeToString(m.Payload)
	}
	if p := m.Properties; p != nil {
		props := map[string]any{}
		if p.Has(packet.PropContentType) {
			props["content-type"] = p.ContentType
		}
		if p.Has(packet.PropResponseTopic) {
			props["response-topic"] = p.ResponseTopic
		}
		if p.Has(packet.PropCorrelationData) {
			props["correlation-data"] = string(p.CorrelationData)
		}
		if p.Has(packet.PropPayloadFormat) {
			props["payload-format-indicator"] = p.PayloadFormat
		}
		if p.Has(packet.PropMessageExpiry) {
			props["message-expiry-interval"] = p.MessageExpiry
		}
		if len(p.SubscriptionIDs) > 0 {
			props["subscription-identifier"] = p.SubscriptionIDs
		}
		if len(p.User) > 0 {
			var u [][2]string
			for _, x := range p.User {
				u = append(u, [2]string{x.Key, x.Value})
			}
			props["user-property"] = u
		}
		if len(props) > 0 {
			j["properties"] = props
		}
	}
	return j
}

func newSubCmd() *cobra.Command {
	var (
		f            clientFlags
		topics       []string
		exclude      []string
		count        int
		wait         int
		verbose      bool
		noNewline    bool
		noRetained   bool
		retainedOnly bool
		exitAfterSub bool
		unsubscribe  bool
		noLocal      bool
		retainAsPub  bool
	)
	cmd := &cobra.Command{
		Use:   "sub -t filter [-t filter...] [flags]",
		Short: "Subscribe and print MQTT messages (like mosquitto_sub)",
		Long: `Subscribe to topic filters and print each message received, one per line:
the payload, with -v the topic first, with --json one JSON object per line.
The client reconnects if the connection is lost, restoring its subscriptions.

The flags follow mosquitto_sub: -h host, -p port, -t filter, -q QoS, -C count,
-W seconds, -v, -R, -V 311|5, -c, -i id, -D subscribe subscription-identifier 1 ...
Exit codes: 0 done (-C messages received, -E, or interrupted), 1 error,
2 invalid flags, 3 connection refused by the server, 4 subscription refused,
5 -W elapsed before -C messages arrived.`,
		RunE: withExitCode(func(cmd *cobra.Command, args []string) error {
			props, err := parseProps(f.props, args)
			if err != nil {
				return err
			}
			o, err := f.options(cmd, props, &topics)
			if err != nil {
				return err
			}
			if len(topics) == 0 {
				return usageErr("sub needs at least one topic filter (-t)")
			}
			for _, t := range append(append([]string(nil), topics...), exclude...) {
				if err := topic.ValidFilter(t); err != nil {
					return usageErr("%v", err)
				}
			}
			if count < 0 || wait < 0 {
				return usageErr("-C and -W must not be negative")
			}
			base := cmd.Context()
			if base == nil {
				base = context.Background()
			}
			// SIGINT or SIGTERM ends sub normally (exit 0, DISCONNECT sent).
			interrupted, stop := signal.NotifyContext(base, os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx := interrupted
			if wait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(wait)*time.Second)
				defer cancel()
			}
			out := &subOutput{w: cmd.OutOrStdout(), json: f.json, verbose: verbose, noNewline: noNewline}
			var (
				mu       sync.Mutex
				received int
				printErr error
			)
			enough := make(chan struct{})
			handle := func(m *client.Message) {
				if noRetained && m.Retain {
					return
				}
				if retainedOnly && !m.Retain {
					return
				}
				for _, x := range exclude {
					if topic.Match(x, m.Topic) {
						return
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if count > 0 && received >= count {
					return
				}
				received++
				if err := out.print(m); err != nil && printErr == nil {
					printErr = err
				}
				if count > 0 && received == count {
					close(enough)
				}
			}
			// Subscriptions without handlers share OnMessage's queue:
			// messages print once, in the order received.
			o.OnMessage = handle
			states := make(chan client.StateChange, 16)
			o.OnState = func(s client.StateChange) {
				select {
				case states <- s:
				default:
				}
			}
			if o.MinBackoff == 0 {
				o.MinBackoff = 500 * time.Millisecond
			}
			c, err := client.New(o)
			if err != nil {
				return err
			}
			if err := c.Start(base); err != nil {
				return err
			}
			defer func() {
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c.Disconnect(dctx, packet.Success)
			}()
			// The first connection must succeed: a refusal or an
			// unreachable server is reported, not retried.
			if err := firstConnection(ctx, states); err != nil {
				if errors.Is(err, context.DeadlineExceeded) && wait > 0 {
					return &exitErr{code: exitTimeout, err: fmt.Errorf("timed out after %ds before connecting", wait)}
				}
				return err
			}
			var subs []client.Subscription
			for _, t := range topics {
				subs = append(subs, client.Subscription{Filter: t, QoS: packet.QoS(f.qos), NoLocal: noLocal, RetainAsPublished: retainAsPub})
			}
			if _, err := c.SubscribeProps(ctx, props.get("subscribe"), subs...); err != nil {
				if ctx.Err() != nil && wait > 0 {
					return &exitErr{code: exitTimeout, err: fmt.Errorf("timed out after %ds", wait)}
				}
				return err
			}
			if unsubscribe {
				if _, err := c.Unsubscribe(ctx, topics...); err != nil {
					return err
				}
			}
			if exitAfterSub {
				return nil
			}
			select {
			case <-enough:
			case <-ctx.Done():
				if interrupted.Err() != nil {
					break
				}
				if wait > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return &exitErr{code: exitTimeout, err: fmt.Errorf("timed out after %ds", wait)}
				}
			case <-c.Done():
			}
			mu.Lock()
			defer mu.Unlock()
			return printErr
		}),
	}
	f.add(cmd)
	fs := cmd.Flags()
	fs.StringArrayVarP(&topics, "topic", "t", nil, "topic filter to subscribe to (repeatable)")
	fs.StringArrayVarP(&exclude, "filter-out", "T", nil, "do not print messages matching this filter (repeatable)")
	fs.IntVarP(&count, "count", "C", 0, "exit after this many messages")
	fs.IntVarP(&wait, "timeout", "W", 0, "exit after this many seconds (exit code 5 if -C messages did not arrive)")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print the topic before the payload")
	fs.BoolVarP(&noNewline, "no-newline", "N", false, "do not print a newline after the payload")
	fs.BoolVarP(&noRetained, "no-retained", "R", false, "do not print retained messages (stale ones, received on subscribing)")
	fs.BoolVar(&retainedOnly, "retained-only", false, "print only retained messages")
	fs.BoolVarP(&exitAfterSub, "exit-after-subscribe", "E", false, "exit once subscribed")
	fs.BoolVarP(&unsubscribe, "unsubscribe", "U", false, "unsubscribe from the filters once subscribed (with -E, clears a persistent session's subscriptions)")
	fs.BoolVar(&noLocal, "no-local", false, "MQTT 5: do not receive own publications")
	fs.BoolVar(&retainAsPub, "retain-as-published", false, "MQTT 5: keep the retain flag as published")
	return cmd
}

// firstConnection waits for the first attempt's outcome.
func firstConnection(ctx context.Context, states <-chan client.StateChange) error {
	for {
		select {
		case s := <-states:
			switch {
			case s.To == client.Connected:
				return nil
			case s.Err != nil:
				return s.Err
			case s.To == client.Closed:
				return client.ErrClosed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
