// Package crashtest checks what "acknowledged" means across broker crashes.
// Its test builds tern, runs `tern serve --data-dir` as a separate process
// with persistent subscribers (MQTT 3.1.1 at QoS 1, MQTT 5 at QoS 2) and
// publishers numbering their messages, kills the broker with SIGKILL at
// random moments, restarts it on the same directory while the clients
// reconnect, and checks that no message whose PUBACK or PUBCOMP reached its
// publisher is missing at a persistent subscriber, that no QoS 2 message is
// delivered twice, and that each publisher's messages arrive in order. It
// prints the counts: sent, acknowledged, delivered, duplicates, lost.
package crashtest
