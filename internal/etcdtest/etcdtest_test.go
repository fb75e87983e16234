package etcdtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

func TestSharedMemberServesAndPrefixesDiffer(t *testing.T) {
	c := etcdtest.Shared(t)
	cli := c.Client(t)
	p1, p2 := c.Prefix(t), c.Prefix(t)
	if p1 == p2 || !strings.HasPrefix(p1, "/t/TestSharedMemberServesAndPrefixesDiffer/") {
		t.Fatalf("prefixes %q %q: want distinct, named after the test", p1, p2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, p1+"k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, p1+"k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get = %v, %v; want v", r, err)
	}
	if c.Leader() != 0 {
		t.Fatalf("leader of a one-member cluster = %d, want 0", c.Leader())
	}
}

func TestThreeMembersSurviveLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("three members: not in -short")
	}
	c := etcdtest.NewCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/k", "before"); err != nil {
		t.Fatal(err)
	}
	old := c.Leader()
	if old < 0 {
		t.Fatal("no leader after start")
	}
	c.HardStop(old)
	if c.Members[old].Etcd() != nil {
		t.Fatal("stopped member still reports a server")
	}
	lead, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lead == old {
		t.Fatalf("leader is still the stopped member %d", old)
	}
	if _, err := cli.Put(ctx, "/k", "after"); err != nil {
		t.Fatalf("write after leader kill: %v", err)
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	// The restarted member catches up: a read served by it alone sees the
	// write made while it was down.
	one, err := c.NewClient(c.Members[old].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	r, err := one.Get(ctx, "/k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "after" {
		t.Fatalf("restarted member reads %v, %v; want after", r, err)
	}
}
