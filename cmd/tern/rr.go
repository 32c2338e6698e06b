package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

func init() { subcommands = append(subcommands, newRRCmd) }

func newRRCmd() *cobra.Command {
	var (
		f         clientFlags
		reqTopic  string
		respTopic string
		message   string
		null      bool
		wait      int
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "rr -t request/topic -e response/topic -m payload [flags]",
		Short: "Send an MQTT 5 request and print the response (like mosquitto_rr)",
		Long: `Subscribe to the response topic, publish the request with that Response Topic
and a random Correlation Data, print the payload of the response and exit.
MQTT 5 only (-V 5 is the default here).
Exit codes: 0 response received, 1 error, 2 invalid flags, 3 connection refused
by the server, 4 request or subscription refused, 5 no response within -W seconds.`,
		RunE: withExitCode(func(cmd *cobra.Command, args []string) error {
			props, err := parseProps(f.props, args)
			if err != nil {
				return err
			}
			var topics []string
			if reqTopic != "" {
				topics = append(topics, reqTopic)
			}
			o, err := f.options(cmd, props, &topics)
			if err != nil {
				return err
			}
			if o.Version != packet.V5 {
				return usageErr("rr needs MQTT 5 (-V 5)")
			}
			if len(topics) != 1 || respTopic == "" {
				return usageErr("rr needs a request topic (-t) and a response topic (-e)")
			}
			if !null && !cmd.Flags().Changed("message") {
				return usageErr("rr needs a payload: -m message or -n")
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if wait <= 0 {
				return usageErr("-W %d: want a positive number of seconds", wait)
			}
			wctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second)
			defer cancel()
			c, err := client.Dial(wctx, o)
			if err != nil {
				return timeoutOr(err, wctx, wait)
			}
			defer disconnect(c)
			var corr [8]byte
			rand.Read(corr[:])
			want := hex.EncodeToString(corr[:])
			got := make(chan *client.Message, 1)
			handle := func(m *client.Message) {
				// A response that carries Correlation Data must carry ours.
				if m.Properties != nil && m.Properties.Has(packet.PropCorrelationData) && string(m.Properties.CorrelationData) != want {
					return
				}
				select {
				case got <- m:
				default:
				}
			}
			if _, err := c.Subscribe(wctx, client.Subscription{Filter: respTopic, QoS: packet.QoS(f.qos), Handler: handle}); err != nil {
				return timeoutOr(err, wctx, wait)
			}
			p := packet.Properties{}
			if pp := props.get("publish"); pp != nil {
				p = *pp
			}
			p.ResponseTopic = respTopic
			p.Set(packet.PropResponseTopic)
			p.CorrelationData = []byte(want)
			p.Set(packet.PropCorrelationData)
			if err := c.Publish(wctx, client.Message{Topic: topics[0], Payload: []byte(message), QoS: packet.QoS(f.qos), Properties: &p}); err != nil {
				return timeoutOr(err, wctx, wait)
			}
			select {
			case m := <-got:
				out := &subOutput{w: cmd.OutOrStdout(), json: f.json, verbose: verbose}
				return out.print(m)
			case <-wctx.Done():
				return timeoutOr(wctx.Err(), wctx, wait)
			}
		}),
	}
	f.add(cmd)
	fs := cmd.Flags()
	fs.Lookup("protocol-version").DefValue = "5"
	fs.Set("protocol-version", "5")
	fs.StringVarP(&reqTopic, "topic", "t", "", "request topic")
	fs.StringVarP(&respTopic, "response-topic", "e", "", "response topic")
	fs.StringVarP(&message, "message", "m", "", "request payload")
	fs.BoolVarP(&null, "null-message", "n", false, "send an empty request")
	fs.IntVarP(&wait, "timeout", "W", 10, "seconds to wait for the response")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print the response topic before the payload")
	return cmd
}

// timeoutOr turns an error after ctx's deadline into the timeout exit code.
func timeoutOr(err error, ctx context.Context, secs int) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &exitErr{code: exitTimeout, err: fmt.Errorf("no response within %ds: %w", secs, err)}
	}
	return err
}
