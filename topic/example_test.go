package topic_test

import (
	"fmt"
	"slices"

	"github.com/tern-mq/tern/topic"
)

func ExampleMatch() {
	fmt.Println(topic.Match("sport/#", "sport"))
	fmt.Println(topic.Match("sport/+", "sport/tennis/player1"))
	fmt.Println(topic.Match("#", "$SYS/broker/uptime"))
	// Output:
	// true
	// false
	// false
}

func ExampleParseShared() {
	group, inner, ok, err := topic.ParseShared("$share/consumers/sport/#")
	fmt.Println(group, inner, ok, err)
	_, _, ok, err = topic.ParseShared("$share/g+/sport")
	fmt.Println(ok, err)
	// Output:
	// consumers sport/# true <nil>
	// true invalid topic filter: share name "g+" contains a wildcard
}

func ExampleTrie() {
	type session struct{ id string }
	type options struct{ qos byte }
	a, b := &session{"a"}, &session{"b"}

	subs := topic.NewTrie[*session, options]()
	subs.Subscribe("sport/tennis/+", a, options{qos: 1})
	subs.Subscribe("sport/#", a, options{qos: 2}) // overlaps the filter above
	subs.Subscribe("sport/tennis/player1", b, options{qos: 0})

	var got []string
	subs.Match("sport/tennis/player1", func(filter string, s *session, o options) {
		got = append(got, fmt.Sprintf("%s via %s at QoS %d", s.id, filter, o.qos))
	})
	slices.Sort(got) // the order of the calls is unspecified
	for _, g := range got {
		fmt.Println(g)
	}
	// Output:
	// a via sport/# at QoS 2
	// a via sport/tennis/+ at QoS 1
	// b via sport/tennis/player1 at QoS 0
}
