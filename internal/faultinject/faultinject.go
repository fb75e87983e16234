// Package faultinject holds switches that deliberately break keydesk's
// storage, so the cluster fault harness (e2e/faults) can show that its
// checker catches what each one breaks. They are process-wide and off; only
// tests in this module set them (internal: nothing outside it can import
// this), and no flag, environment variable or configuration file reaches them.
package faultinject

import "sync/atomic"

var (
	// SkipGuards makes the etcd engine commit without the compares that
	// guard what a transaction read (keys, scanned ranges, the audit counter;
	// store/kv/etcd), so concurrent transactions on several servers commit
	// over each other. (Skipping only the scan guard is not enough to break
	// anything today: every change also compares the audit counter, which
	// already orders all audited writes.)
	SkipGuards atomic.Bool
	// TrustStaleCache makes a store on a shared engine answer access checks
	// from its cache even when it cannot prove the cache is current (the
	// freshness rule in store/remote.go), as a server cut off from etcd would
	// if it did not fail closed.
	TrustStaleCache atomic.Bool
)
