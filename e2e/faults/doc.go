// Package faults is keydesk's cluster fault harness: three embedded etcd
// members (their peer links behind proxies that can cut every link or
// isolate one member), keydesk servers on them — stores opened in the test
// process and real `keydesk serve` processes reached over SSH and HTTP —
// each through its own TCP fault proxies, concurrent clients recording every
// operation, faults injected while they run (leader and follower kills, a
// member isolated, a store crashed and a process SIGKILLed and restarted, a
// server cut off from etcd or from one member, clock skew, compaction beyond
// a server's watch), and the recorded history checked for linearizability by
// porcupine against a model of the token lifecycle (model.go).
//
// The tests are the product here: `go test ./e2e/faults` (with or without
// -short) is the small version CI runs; `go test -race -run Linearizable
// ./e2e/faults -args -faults.long` is the long one (RELIABILITY.md, section 7).
package faults
