package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config says how to reach an organization in etcd.
type Config struct {
	URL                string // etcd://h1:2379,h2:2379[/prefix] or etcds://…
	CA, Cert, Key      string // TLS files for etcds:// (CA alone: server-verified TLS)
	Username, Password string // etcd authentication (from the environment)
	KEKFile            string // the key-encryption key for the shared secrets
	Logger             *slog.Logger
	// CompactRetention: keydesk compacts etcd's history to what it was this
	// long ago (default 1 h; negative leaves it to the cluster's own
	// --auto-compaction-retention, which must then be set).
	CompactRetention time.Duration
}

// Dial connects to the cluster the URL names, with TLS and credentials.
func Dial(ctx context.Context, cfg Config) (*clientv3.Client, Target, error) {
	t, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, t, fmt.Errorf("%w: %v", models.ErrInvalid, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Keepalive pings find a connection that went silent (a member cut off
	// from this server while the TCP connection stays up), so the balancer
	// stops sending every third request into it until it reconnects. etcd
	// refuses pings closer than 5 s (--grpc-keepalive-min-time), and gRPC
	// raises anything under 10 s to 10 s with a warning on every start.
	cc := clientv3.Config{Endpoints: t.Endpoints, DialTimeout: 5 * time.Second, Context: ctx,
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		Username: cfg.Username, Password: cfg.Password, Logger: ZapLogger(cfg.Logger)}
	if !t.TLS && (cfg.CA != "" || cfg.Cert != "" || cfg.Key != "") {
		return nil, t, fmt.Errorf("%w: --etcd-ca/--etcd-cert/--etcd-key need an etcds:// store URL", models.ErrInvalid)
	}
	if t.TLS {
		if (cfg.Cert == "") != (cfg.Key == "") {
			return nil, t, fmt.Errorf("%w: give --etcd-cert and --etcd-key together", models.ErrInvalid)
		}
		var tc *tls.Config
		info := transport.TLSInfo{TrustedCAFile: cfg.CA, CertFile: cfg.Cert, KeyFile: cfg.Key}
		if cfg.CA == "" && cfg.Cert == "" {
			tc = &tls.Config{MinVersion: tls.VersionTLS12} // the system's roots
		} else if tc, err = info.ClientConfig(); err != nil {
			return nil, t, fmt.Errorf("%w: etcd TLS files: %v", models.ErrInvalid, err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, t, fmt.Errorf("connect to etcd at %s: %w", t, err)
	}
	return cli, t, nil
}

// Open opens the organization cfg names. With create (init, serve, the
// console's first run) a missing KEK file and missing shared secrets are
// created; otherwise both must exist.
func Open(ctx context.Context, cfg Config, create bool, opts store.Options) (*store.Store, *etcd.Engine, error) {
	cli, target, err := Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*store.Store, *etcd.Engine, error) {
		cli.Close()
		return nil, nil, err
	}
	retention := cfg.CompactRetention
	if retention == 0 {
		retention = time.Hour
	}
	e, err := OpenEngine(ctx, cli, target.Prefix, EngineOptions{Logger: cfg.Logger, OwnClient: true,
		CompactRetention: max(retention, 0)})
	if err != nil {
		return fail(fmt.Errorf("etcd at %s: %w", target, err))
	}
	vault, err := openVault(ctx, cli, target.Prefix, cfg.KEKFile, create)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	sec, err := sharedSecrets(ctx, vault, create)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	if opts.Location == "" {
		opts.Location = target.String()
	}
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
	}
	s, err := store.OpenEngine(e, sec, opts)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return s, e, nil
}

func openVault(ctx context.Context, cli *clientv3.Client, prefix, kekFile string, create bool) (*Vault, error) {
	// Whether the organization already has secrets decides whether a
	// missing KEK may be created: never for an existing one.
	probe := NewVault(cli, prefix, make([]byte, 32), kekFile)
	r, err := cli.Get(ctx, probe.key("pepper"), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd at %s is unavailable: %w", prefix, err)
	}
	exists := r.Count > 0
	kek, err := LoadKEK(kekFile, create && !exists)
	if err != nil {
		return nil, err
	}
	return NewVault(cli, prefix, kek, kekFile), nil
}

func sharedSecrets(ctx context.Context, v *Vault, create bool) (store.Secrets, error) {
	load := func(name string) ([]byte, error) {
		if !create {
			b, err := v.Load(ctx, name)
			if err == nil && b == nil {
				return nil, fmt.Errorf("%w: no organization at this etcd prefix yet (its secrets are missing); run `keydesk init --store …` first", models.ErrNotInitialized)
			}
			return b, err
		}
		return v.LoadOrCreate(ctx, name, random32)
	}
	var sec store.Secrets
	var err error
	if sec.Pepper, err = load("pepper"); err != nil {
		return sec, err
	}
	if sec.Seal, err = load("seal.key"); err != nil {
		return sec, err
	}
	sec.Shared = func(name string, create func() ([]byte, error)) ([]byte, error) {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return v.LoadOrCreate(c, name, create)
	}
	return sec, nil
}

func random32() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
}
