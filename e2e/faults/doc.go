// Package faults is keydesk's cluster fault harness: three embedded etcd
// members, several keydesk stores on them (each through its own TCP fault
// proxies), concurrent clients recording every operation, faults injected
// while they run (leader and follower kills, a server crash and restart, a
// partition between one server and etcd, clock skew, compaction beyond a
// server's watch), and the recorded history checked for linearizability by
// porcupine against a model of the token lifecycle (model.go).
//
// The tests are the product here: `go test ./e2e/faults` (with or without
// -short) is the small version CI runs; `go test -race -run Linearizable
// ./e2e/faults -args -faults.long` is the long one (RELIABILITY.md, section 7).
package faults
