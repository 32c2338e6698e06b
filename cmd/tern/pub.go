package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

func init() { subcommands = append(subcommands, newPubCmd) }

func newPubCmd() *cobra.Command {
	var (
		f           clientFlags
		topic       string
		message     string
		file        string
		lines       bool
		null        bool
		stdin       bool
		retain      bool
		repeat      int
		repeatDelay time.Duration
	)
	cmd := &cobra.Command{
		Use:   "pub -t topic (-m message | -f file | -l | -s | -n) [flags]",
		Short: "Publish MQTT messages (like mosquitto_pub)",
		Long: `Publish one message, a file, or each line of standard input, then disconnect.

The flags follow mosquitto_pub: -h host, -p port, -t topic, -m message,
-q QoS, -r retain, -V 311|5, -D publish user-property key value ...
Exit codes: 0 published (QoS 1/2: acknowledged), 1 error, 2 invalid flags,
3 connection refused by the server, 4 publication refused by the server.`,
		RunE: withExitCode(func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("help") {
				return cmd.Help()
			}
			var topics []string
			if topic != "" {
				topics = append(topics, topic)
			}
			props, err := parseProps(f.props, args)
			if err != nil {
				return err
			}
			o, err := f.options(cmd, props, &topics)
			if err != nil {
				return err
			}
			if len(topics) != 1 {
				return usageErr("pub needs one topic (-t or the path of -L)")
			}
			sources := 0
			for _, b := range []bool{cmd.Flags().Changed("message"), file != "", lines, null, stdin} {
				if b {
					sources++
				}
			}
			if sources != 1 {
				return usageErr("pub needs exactly one of -m, -f, -l, -s and -n")
			}
			if repeat < 1 {
				return usageErr("--repeat %d: want 1 or more", repeat)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			c, err := client.Dial(ctx, o)
			if err != nil {
				return err
			}
			defer disconnect(c)
			m := client.Message{Topic: topics[0], QoS: packet.QoS(f.qos), Retain: retain, Properties: props.get("publish")}
			out := cmd.OutOrStdout()
			send := func(payload []byte) error {
				m.Payload = payload
				if err := c.Publish(ctx, m); err != nil {
					return err
				}
				if f.json {
					return json.NewEncoder(out).Encode(map[string]any{"topic": m.Topic, "qos": m.QoS, "retain": m.Retain, "bytes": len(payload)})
				}
				return nil
			}
			switch {
			case lines:
				sc := bufio.NewScanner(cmd.InOrStdin())
				sc.Buffer(make([]byte, 64<<10), 256<<20)
				for sc.Scan() {
					if err := send(sc.Bytes()); err != nil {
						return err
					}
				}
				return sc.Err()
			case stdin:
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				message = string(b)
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				message = string(b)
			case null:
				message = ""
			}
			for i := range repeat {
				if i > 0 && repeatDelay > 0 {
					t := time.NewTimer(repeatDelay)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return ctx.Err()
					}
				}
				if err := send([]byte(message)); err != nil {
					return fmt.Errorf("publish to %s: %w", m.Topic, err)
				}
			}
			return nil
		}),
	}
	f.add(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&topic, "topic", "t", "", "topic to publish to")
	fs.StringVarP(&message, "message", "m", "", "message payload")
	fs.StringVarP(&file, "file", "f", "", "send the contents of a file as the message")
	fs.BoolVarP(&lines, "stdin-line", "l", false, "send each line of standard input as a message")
	fs.BoolVarP(&stdin, "stdin-file", "s", false, "send all of standard input as one message")
	fs.BoolVarP(&null, "null-message", "n", false, "send an empty message")
	fs.BoolVarP(&retain, "retain", "r", false, "retain the message")
	fs.IntVar(&repeat, "repeat", 1, "publish the message this many times")
	fs.DurationVar(&repeatDelay, "repeat-delay", 0, "delay between repeated messages")
	return cmd
}
