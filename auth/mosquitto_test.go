package auth

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// diffACL is read by Mosquitto and by ACL in TestACLAgainstMosquitto.
const diffACL = `# anonymous clients
topic readwrite #
topic deny secret/#
topic read ro/#

user alice
topic readwrite home/#
topic deny home/alarm/code
topic read public/#

user bob
topic write dev/#

user admin
topic readwrite #

pattern readwrite users/%u/#
pattern deny users/%u/locked
pattern deny dev/shutdown
pattern write clients/%c/out
pattern read sync/%c
`

var diffTopics = []string{
	"anything", "secret", "secret/x", "secretary", "ro/x", "home/light", "home/alarm/code",
	"public/x", "users/alice/x", "users/alice/locked", "users/bob/x", "users/carol/x", "dev/shutdown",
	"dev/x", "clients/c-alice/out", "clients/c-anon/out", "clients/other/out", "a/b/c",
}

// startMosquitto runs Debian's mosquitto with the given ACL and password
// files on a free loopback port and returns its address. It skips when the
// broker is missing, except in CI.
func startMosquitto(t *testing.T, aclFile, pwFile string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto is missing in CI (apt-get install mosquitto)")
		}
		t.Skip("mosquitto not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npassword_file %s\nacl_file %s\npersistence false\n",
		port, pwFile, aclFile)
	if os.Geteuid() == 0 {
		conf += "user root\n" // the temporary directory is root's
	}
	confFile := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-c", confFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type mqClient struct {
	*paho.Client
	msgs chan string
}

func mqConnect(t *testing.T, addr, clientID, user string) *mqClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &mqClient{msgs: make(chan string, 100)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet.Topic
			return true, nil
		}},
		PacketTimeout: 10 * time.Second,
	})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte("pw-"+user), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ack, err := c.Connect(ctx, cp); err != nil {
		nc.Close()
		t.Fatalf("%s: connect: %v (%+v)", clientID, err, ack)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c
}

// Mosquitto and ACL agree on every publish and every delivery of a set of
// cases on one ACL file: deny precedence, the anonymous list, user
// sections, patterns with %u and %c.
func TestACLAgainstMosquitto(t *testing.T) {
	dir := t.TempDir()
	aclFile := filepath.Join(dir, "acl")
	pwFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(aclFile, []byte(diffACL), 0o600); err != nil {
		t.Fatal(err)
	}
	users := []string{"alice", "bob", "carol", "admin"}
	var pw strings.Builder
	for _, u := range users {
		h, err := HashPassword([]byte("pw-"+u), SHA512PBKDF2)
		if err != nil {
			t.Fatal(err)
		}
		pw.WriteString(u + ":" + h + "\n")
	}
	if err := os.WriteFile(pwFile, []byte(pw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	acl, err := LoadACLFile(aclFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, aclFile, pwFile)
	ctx := context.Background()

	type identity struct{ user, client string }
	ids := []identity{{"", "c-anon"}, {"alice", "c-alice"}, {"bob", "c-bob"}, {"carol", "c-carol"}}

	// Publish: the PUBACK of a QoS 1 PUBLISH says whether Mosquitto allowed it.
	for _, id := range ids {
		c := mqConnect(t, addr, id.client, id.user)
		for _, tp := range diffTopics {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := c.Publish(pctx, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte("x")})
			cancel()
			if resp == nil {
				t.Fatalf("%+v publish %q: %v", id, tp, err)
			}
			mosq := resp.ReasonCode < 0x80
			ours := acl.Allow(ctx, ClientInfo{ClientID: id.client, Username: id.user}, Publish, tp)
			if mosq != ours {
				t.Errorf("%+v publish %q: Mosquitto allows=%v (reason %#x), ACL allows=%v", id, tp, mosq, resp.ReasonCode, ours)
			}
		}
		c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	}

	// Receive: each identity subscribes to "#" (Mosquitto grants it and
	// checks read access per message); admin publishes every topic, then
	// sync/<client>, which each reader may read, to mark the end.
	subs := make([]*mqClient, len(ids))
	for i, id := range ids {
		subs[i] = mqConnect(t, addr, id.client, id.user)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := subs[i].Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "#", QoS: 1}}}); err != nil {
			t.Fatalf("%+v subscribe: %v", id, err)
		}
		cancel()
	}
	admin := mqConnect(t, addr, "c-admin", "admin")
	for _, tp := range diffTopics {
		if _, err := admin.Publish(ctx, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte("x")}); err != nil {
			t.Fatalf("admin publish %q: %v", tp, err)
		}
	}
	for _, id := range ids {
		if _, err := admin.Publish(ctx, &paho.Publish{Topic: "sync/" + id.client, QoS: 1, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		got := map[string]bool{}
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case tp := <-subs[i].msgs:
				if tp == "sync/"+id.client {
					break wait
				}
				got[tp] = true
			case <-timeout:
				t.Fatalf("%+v: no end marker from Mosquitto", id)
			}
		}
		for _, tp := range diffTopics {
			ours := acl.Allow(ctx, ClientInfo{ClientID: id.client, Username: id.user}, Receive, tp)
			if got[tp] != ours {
				t.Errorf("%+v receive %q: Mosquitto delivered=%v, ACL allows=%v", id, tp, got[tp], ours)
			}
		}
	}
}
