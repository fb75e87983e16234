package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
)

// bbolt → etcd → bbolt: the organization, its audit sequence and its secrets
// survive both moves (a token made before still exchanges after), and a
// non-empty target is refused.
func TestCopyRoundTrip(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	c := etcdtest.Shared(t)
	dir := filepath.Join(t.TempDir(), "org")
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	oa := store.Actor{UserID: owner.ID, Via: "test"}
	_, secret, err := s.CreateToken(oa, store.TokenSpec{Name: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Audit(oa, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := cluster.Config{KEKFile: filepath.Join(t.TempDir(), "kek")}
	url := storeURL(c, c.Prefix(t))
	to := cluster.ParsePlace(url, cfg)
	res, err := cluster.Copy(ctx, cluster.ParsePlace(dir, cfg), to)
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys == 0 || len(res.Secrets) < 2 {
		t.Fatalf("copy moved %+v", res)
	}
	e, err := openURL(t, url, cfg.KEKFile, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exchange(secret, "x"); err != nil {
		t.Fatalf("token made on bbolt does not exchange on etcd: %v", err)
	}
	// The audit sequence continues densely after the copy.
	if _, _, err := e.CreateToken(oa, store.TokenSpec{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	after, err := e.Audit(oa, store.AuditQuery{})
	if err != nil || len(after) != len(before)+1 || after[0].Seq != before[0].Seq+1 {
		t.Fatalf("audit after copy: %d entries (newest %d), before %d (newest %d): %v", len(after), after[0].Seq, len(before), before[0].Seq, err)
	}
	e.Close()

	if _, err := cluster.Copy(ctx, cluster.ParsePlace(dir, cfg), to); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("copy into a non-empty prefix: %v, want a conflict", err)
	}
	back := filepath.Join(t.TempDir(), "back")
	if _, err := cluster.Copy(ctx, to, cluster.ParsePlace(back, cfg)); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(back, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Exchange(secret, "x"); err != nil {
		t.Fatalf("token does not exchange after etcd → bbolt: %v", err)
	}
}

// The command line on --store: init, a token, check and backup, as a person
// would run them; a second init on the same organization is refused.
func TestCLIOnEtcd(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	c := etcdtest.Shared(t)
	env := map[string]string{"KEYDESK_STORE": storeURL(c, c.Prefix(t)), "KEYDESK_KEK_FILE": filepath.Join(t.TempDir(), "kek"),
		"KEYDESK_DATA": t.TempDir()}
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := cli.Run(args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		return out.String() + errb.String(), code
	}
	if out, code := run("init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com"); code != 0 || !strings.Contains(out, "etcd://") {
		t.Fatalf("init: %d %s", code, out)
	}
	if out, code := run("token", "create", "--name", "ci"); code != 0 || !strings.HasPrefix(out, "kdr_") {
		t.Fatalf("token create: %d %s", code, out)
	}
	if out, code := run("check"); code != 0 {
		t.Fatalf("check: %d %s", code, out)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if out, code := run("backup", backup); code != 0 || !strings.Contains(out, "KEK") {
		t.Fatalf("backup: %d %s", code, out)
	}
	if out, code := run("init", "--owner-name", "Other", "--owner-email", "other@example.com"); code == 0 {
		t.Fatalf("second init succeeded: %s", out)
	}
	env["KEYDESK_STORE"] = storeURL(c, c.Prefix(t))
	if out, code := run("token", "list"); code == 0 || !strings.Contains(out, "keydesk init --store") || strings.Count(out, "\n") > 1 {
		t.Fatalf("uninitialized prefix: %d %q; want one line saying to run init", code, out)
	}
}
