package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// exampleBroker starts a broker for the examples and returns its URL and
// a stop function.
func exampleBroker() (string, func()) { return exampleBrokerWith(broker.Config{}) }

func exampleBrokerWith(cfg broker.Config) (string, func()) {
	cfg.Logger = testLogger()
	s, err := broker.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	return "mqtt://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	}
}

// A managed client: it reconnects by itself and restores its
// subscriptions; Publish returns once the broker acknowledged.
func ExampleClient() {
	url, stop := exampleBroker()
	defer stop()
	ctx := context.Background()

	got := make(chan string, 1)
	connected := make(chan struct{}, 1)
	c, err := client.New(client.Options{
		Servers:  []string{url},
		ClientID: "example",
		OnState: func(s client.StateChange) {
			if s.To == client.Connected {
				fmt.Println("connected")
				connected <- struct{}{}
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.AwaitConnection(ctx); err != nil {
		log.Fatal(err)
	}
	<-connected // OnState runs in its own goroutine
	_, err = c.Subscribe(ctx, client.Subscription{Filter: "sensors/+/temp", QoS: 1, Handler: func(m *client.Message) {
		got <- m.Topic + " " + string(m.Payload)
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "sensors/kitchen/temp", Payload: []byte("21.5"), QoS: 2}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	c.Disconnect(ctx, packet.Success)
	// Output:
	// connected
	// sensors/kitchen/temp 21.5
}

// One connection, no reconnection: Dial (or Connect over any net.Conn).
func ExampleDial() {
	url, stop := exampleBroker()
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(ctx, client.Options{Servers: []string{url}, Version: packet.V311})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Disconnect(ctx, packet.Success)
	if err := c.Publish(ctx, client.Message{Topic: "status", Payload: []byte("up"), QoS: 1, Retain: true}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("session present:", c.Connack().SessionPresent)
	// Output: session present: false
}

// MQTT 5 request/response: the responder answers on the request's
// Response Topic with its Correlation Data.
func ExampleClient_Request() {
	url, stop := exampleBroker()
	defer stop()
	ctx := context.Background()

	responder, err := client.Dial(ctx, client.Options{Servers: []string{url}})
	if err != nil {
		log.Fatal(err)
	}
	defer responder.Disconnect(ctx, packet.Success)
	responder.Subscribe(ctx, client.Subscription{Filter: "time/now", QoS: 1, Handler: func(m *client.Message) {
		client.Respond(ctx, responder, m, []byte("noon"))
	}})

	c, err := client.New(client.Options{Servers: []string{url}})
	if err != nil {
		log.Fatal(err)
	}
	c.Start(ctx)
	defer c.Disconnect(ctx, packet.Success)
	resp, err := c.Request(ctx, "time/now", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp.Payload))
	// Output: noon
}

// With ManualAck a QoS 1 or 2 message is acknowledged only once the
// application has processed it.
func ExampleMessage_Ack() {
	url, stop := exampleBroker()
	defer stop()
	ctx := context.Background()

	done := make(chan struct{})
	c, err := client.Dial(ctx, client.Options{Servers: []string{url}, ManualAck: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Disconnect(ctx, packet.Success)
	c.Subscribe(ctx, client.Subscription{Filter: "jobs", QoS: 1, Handler: func(m *client.Message) {
		fmt.Println("processing", string(m.Payload))
		m.Ack() // PUBACK goes to the broker now
		close(done)
	}})
	c.Publish(ctx, client.Message{Topic: "jobs", Payload: []byte("job-1"), QoS: 1})
	<-done
	// Output: processing job-1
}

// SCRAM-SHA-256: the password proves the client without being sent, and
// the server proves it knows the user's credentials; Reauthenticate runs
// the exchange again on the live connection.
func ExampleSCRAMSHA256() {
	cred, err := broker.NewSCRAMCredentials("s3cret", []byte("a random salt"), 4096)
	if err != nil {
		log.Fatal(err)
	}
	url, stop := exampleBrokerWith(broker.Config{EnhancedAuth: []broker.EnhancedAuth{
		broker.NewSCRAMSHA256(func(user string) (broker.SCRAMCredentials, bool) { return cred, user == "ann" }),
	}})
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(ctx, client.Options{Servers: []string{url}, Version: packet.V5,
		Auth: client.SCRAMSHA256("ann", "s3cret")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authenticated")
	if err := c.Reauthenticate(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("authenticated again")
	c.Disconnect(ctx, packet.Success)

	_, err = client.Dial(ctx, client.Options{Servers: []string{url}, Version: packet.V5,
		Auth: client.SCRAMSHA256("ann", "guess")})
	var re *client.ReasonError
	fmt.Println(errors.As(err, &re) && re.Code == packet.NotAuthorized, strings.Contains(err.Error(), "not authorized (0x87)"))
	// Output:
	// authenticated
	// authenticated again
	// true true
}
