package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keydesk/keydesk/internal/keyfile"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Place is one end of a copy: a data directory (bbolt) or an etcd URL with
// its configuration (Config.URL set).
type Place struct {
	Dir  string
	Etcd Config
}

// ParsePlace reads --from/--to: an etcd:// or etcds:// URL, else a directory.
func ParsePlace(s string, base Config) Place {
	if strings.HasPrefix(s, "etcd://") || strings.HasPrefix(s, "etcds://") {
		base.URL = s
		return Place{Etcd: base}
	}
	return Place{Dir: s}
}

func (p Place) String() string {
	if p.Etcd.URL != "" {
		if t, err := ParseURL(p.Etcd.URL); err == nil {
			return t.String()
		}
		return p.Etcd.URL
	}
	return p.Dir
}

// CopyResult says what a copy moved.
type CopyResult struct {
	Keys    int      // records (all buckets)
	Secrets []string // secret names moved
	Bytes   int64    // size of the consistent export the copy was made from
}

// Copy moves an organization between engines: the data as one consistent
// export of the source (the backup format), and its secrets (pepper, seal
// key, JWT signing key, SSH host key: from secrets/ files or from etcd,
// sealed under the KEK). The target must be empty. The copy is then opened
// and checked.
func Copy(ctx context.Context, from, to Place) (CopyResult, error) {
	var res CopyResult
	if from.String() == to.String() {
		return res, fmt.Errorf("%w: --from and --to are the same place", models.ErrInvalid)
	}
	// The target must be empty before anything is read or written.
	if err := checkEmpty(ctx, to); err != nil {
		return res, err
	}
	src, secrets, closeSrc, err := openSource(ctx, from)
	if err != nil {
		return res, err
	}
	tmp, err := os.CreateTemp("", "keydesk-copy-*.db")
	if err != nil {
		closeSrc()
		return res, err
	}
	defer os.Remove(tmp.Name())
	res.Bytes, err = src.Export(ctx, tmp)
	closeSrc()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("export %s: %w", from, err)
	}
	if res.Keys, err = countKeys(tmp.Name()); err != nil {
		return res, err
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	res.Secrets = names
	if to.Etcd.URL == "" {
		if err := os.MkdirAll(to.Dir, 0o700); err != nil {
			return res, err
		}
		data, err := os.ReadFile(tmp.Name())
		if err != nil {
			return res, err
		}
		for _, n := range names {
			if _, err := keyfile.LoadOrCreate(filepath.Join(to.Dir, "secrets"), n, func() ([]byte, error) { return secrets[n], nil }); err != nil {
				return res, err
			}
		}
		if err := os.WriteFile(filepath.Join(to.Dir, kvbolt.File), data, 0o600); err != nil {
			return res, err
		}
	} else {
		cli, t, err := Dial(ctx, to.Etcd)
		if err != nil {
			return res, err
		}
		e, err := OpenEngine(ctx, cli, t.Prefix, EngineOptions{OwnClient: true, Logger: to.Etcd.Logger})
		if err != nil {
			cli.Close()
			return res, err
		}
		kek, err := LoadKEK(to.Etcd.KEKFile, true)
		if err != nil {
			e.Close()
			return res, err
		}
		v := NewVault(cli, t.Prefix, kek, to.Etcd.KEKFile)
		for _, n := range names {
			got, err := v.LoadOrCreate(ctx, n, func() ([]byte, error) { return secrets[n], nil })
			if err == nil && !bytes.Equal(got, secrets[n]) {
				err = fmt.Errorf("%s already has a different secret %s; copy only into an empty prefix", t, n)
			}
			if err != nil {
				e.Close()
				return res, err
			}
		}
		_, err = e.Import(ctx, tmp.Name())
		e.Close()
		if err != nil {
			return res, err
		}
	}
	// Open the copy as a server would and check it.
	var s *store.Store
	if to.Etcd.URL == "" {
		s, err = store.Open(to.Dir, store.Options{})
	} else {
		s, _, err = Open(ctx, to.Etcd, false, store.Options{})
	}
	if err != nil {
		return res, fmt.Errorf("the copy does not open: %w", err)
	}
	defer s.Close()
	problems, err := s.Check()
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("the copy has %d problems, first: %s", len(problems), problems[0])
	}
	return res, err
}

// countKeys counts the records of an export.
func countKeys(path string) (int, error) {
	n := 0
	err := kvbolt.ReadBackup(path, func(_ kv.Bucket, _ uint64, keys int, _ func(func(k, v []byte) error) error) error {
		n += keys
		return nil
	})
	return n, err
}

func checkEmpty(ctx context.Context, p Place) error {
	if p.Etcd.URL == "" {
		if _, err := os.Stat(filepath.Join(p.Dir, kvbolt.File)); err == nil {
			return fmt.Errorf("%w: %s already holds an organization; copy only into an empty place", models.ErrConflict, p.Dir)
		}
		if ents, _ := os.ReadDir(filepath.Join(p.Dir, "secrets")); len(ents) > 0 {
			return fmt.Errorf("%w: %s already holds secrets; copy only into an empty place", models.ErrConflict, filepath.Join(p.Dir, "secrets"))
		}
		return nil
	}
	cli, t, err := Dial(ctx, p.Etcd)
	if err != nil {
		return err
	}
	defer cli.Close()
	r, err := cli.Get(ctx, t.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("etcd at %s: %w", t, err)
	}
	if r.Count > 0 {
		return fmt.Errorf("%w: %s already holds %d keys; copy only into an empty prefix", models.ErrConflict, t, r.Count)
	}
	return nil
}

// openSource opens the source's engine (read-only for bbolt) and reads its
// secrets.
func openSource(ctx context.Context, p Place) (kv.Engine, map[string][]byte, func(), error) {
	secrets := map[string][]byte{}
	if p.Etcd.URL == "" {
		path := filepath.Join(p.Dir, kvbolt.File)
		if _, err := os.Stat(path); err != nil {
			return nil, nil, nil, fmt.Errorf("%w in %s", models.ErrNotInitialized, p.Dir)
		}
		e, err := kvbolt.Open(path, store.Buckets(), kvbolt.Options{ReadOnly: true})
		if errors.Is(err, kvbolt.ErrLocked) {
			return nil, nil, nil, fmt.Errorf("%w: %v; stop it first (a copy needs one consistent file)", models.ErrInUse, err)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		dir := filepath.Join(p.Dir, "secrets")
		ents, err := os.ReadDir(dir)
		if err != nil {
			e.Close()
			return nil, nil, nil, fmt.Errorf("secrets of %s: %w", p.Dir, err)
		}
		for _, ent := range ents {
			if !ent.Type().IsRegular() || strings.HasPrefix(ent.Name(), ".") {
				continue
			}
			b, err := keyfile.Load(dir, ent.Name())
			if err != nil {
				e.Close()
				return nil, nil, nil, err
			}
			secrets[ent.Name()] = b
		}
		return e, secrets, func() { e.Close() }, nil
	}
	cli, t, err := Dial(ctx, p.Etcd)
	if err != nil {
		return nil, nil, nil, err
	}
	e, err := OpenEngine(ctx, cli, t.Prefix, EngineOptions{OwnClient: true, Logger: p.Etcd.Logger})
	if err != nil {
		cli.Close()
		return nil, nil, nil, err
	}
	kek, err := LoadKEK(p.Etcd.KEKFile, false)
	if err != nil {
		e.Close()
		return nil, nil, nil, err
	}
	v := NewVault(cli, t.Prefix, kek, p.Etcd.KEKFile)
	r, err := cli.Get(ctx, v.key(""), clientv3.WithPrefix())
	if err != nil {
		e.Close()
		return nil, nil, nil, fmt.Errorf("etcd at %s: %w", t, err)
	}
	for _, kvp := range r.Kvs {
		name := strings.TrimPrefix(string(kvp.Key), v.key(""))
		b, err := v.open(name, kvp.Value)
		if err != nil {
			e.Close()
			return nil, nil, nil, err
		}
		secrets[name] = b
	}
	if len(secrets) == 0 {
		e.Close()
		return nil, nil, nil, fmt.Errorf("%w at %s", models.ErrNotInitialized, t)
	}
	return e, secrets, func() { e.Close() }, nil
}
