package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkCreateVsBareTxn: a token created on an etcd-backed store against a
// bare etcd Txn of the same shape (guards on what it reads, the token, its two
// index keys, the audit entry and its counter), in the same run; the metric
// "x-bare" is the ratio (target ≤ 2).
func BenchmarkCreateVsBareTxn(b *testing.B) {
	c := etcdtest.Shared(b)
	p := newPair(b, c)
	cli := c.Client(b)
	ctx := context.Background()
	prefix := c.Prefix(b)
	bare := func(i int) {
		k := fmt.Sprintf("%s%d", prefix, i)
		r, err := cli.Get(ctx, prefix+"ctr")
		if err != nil {
			b.Fatal(err)
		}
		_, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(prefix+"ctr"), "<", r.Header.Revision+1),
			clientv3.Compare(clientv3.ModRevision(prefix+"h/").WithPrefix(), "<", r.Header.Revision+1)).
			Then(clientv3.OpPut(k+"/t", "token record of about two hundred bytes"), clientv3.OpPut(k+"/d", "id"),
				clientv3.OpPut(k+"/h", "id"), clientv3.OpPut(k+"/a", "audit entry"), clientv3.OpPut(prefix+"ctr", "n")).Commit()
		if err != nil {
			b.Fatal(err)
		}
	}
	var bareT, createT time.Duration
	var actor store.Actor
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%20 == 0 { // a holder with a handful of tokens, as most are
			b.StopTimer()
			u, err := p.A.AddUser(p.OwnerA, store.NewUser{Name: "Bench", Email: fmt.Sprintf("bench%d@example.com", i), Role: models.RoleUser})
			if err != nil {
				b.Fatal(err)
			}
			actor = store.Actor{UserID: u.ID, Via: "bench"}
			b.StartTimer()
		}
		start := time.Now()
		bare(i)
		bareT += time.Since(start)
		start = time.Now()
		_, _, err := p.A.CreateToken(actor, store.TokenSpec{Name: "bench"})
		createT += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(createT)/float64(bareT), "x-bare")
	b.ReportMetric(float64(createT.Microseconds())/float64(b.N), "µs/create")
}

// BenchmarkExchangeEtcdVsBolt: exchanging a refresh token on an etcd-backed
// store (served from its watched cache) against a bbolt-backed one, in the
// same run; "x-bolt" is the etcd time over the bbolt time (target: the
// inverse ≥ 0.9, i.e. x-bolt ≤ 1.1).
func BenchmarkExchangeEtcdVsBolt(b *testing.B) {
	p := newPair(b, etcdtest.Shared(b))
	_, secretE, err := p.A.CreateToken(p.OwnerA, store.TokenSpec{Name: "e"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.EA.WaitFresh(ctx); err != nil {
		b.Fatal(err)
	}
	bs, err := store.Open(filepath.Join(b.TempDir(), "org"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	o, err := bs.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		b.Fatal(err)
	}
	_, secretB, err := bs.CreateToken(store.Actor{UserID: o.ID, Via: "test"}, store.TokenSpec{Name: "b"})
	if err != nil {
		b.Fatal(err)
	}
	var et, bt time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := p.A.Exchange(secretE, "bench"); err != nil {
			b.Fatal(err)
		}
		et += time.Since(start)
		start = time.Now()
		if _, err := bs.Exchange(secretB, "bench"); err != nil {
			b.Fatal(err)
		}
		bt += time.Since(start)
	}
	b.ReportMetric(float64(et)/float64(bt), "x-bolt")
}
