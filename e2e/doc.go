// Package e2e holds keydesk's reliability and security suite (RELIABILITY.md):
// crash safety under SIGKILL, concurrency under the race detector, hostile
// input through every door, and a soak of the network servers. It is tests
// only; everything runs against real parts on 127.0.0.1 and t.TempDir().
package e2e
