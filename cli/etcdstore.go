package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
	"github.com/spf13/cobra"
)

// StoreFlags say where an organization kept in etcd is (docs/SCALE-OUT.md);
// with none set, commands use the bbolt file in --data as always.
type StoreFlags struct {
	URL      string // --store, env KEYDESK_STORE
	CA       string // --etcd-ca
	Cert     string // --etcd-cert
	Key      string // --etcd-key
	KEKFile  string // --kek-file, env KEYDESK_KEK_FILE
	Username string // env KEYDESK_ETCD_USER
	Password string // env KEYDESK_ETCD_PASSWORD
}

func (g *Globals) addStoreFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.Etcd.URL, "store", "", "keep the organization in etcd: etcd://h1:2379,h2:2379[/prefix] or etcds://… (env KEYDESK_STORE; default: the bbolt file in --data)")
	f.StringVar(&g.Etcd.CA, "etcd-ca", "", "CA certificate that signed the etcd servers' certificates (etcds://)")
	f.StringVar(&g.Etcd.Cert, "etcd-cert", "", "client certificate for etcd (etcds://)")
	f.StringVar(&g.Etcd.Key, "etcd-key", "", "client certificate's key for etcd (etcds://)")
	f.StringVar(&g.Etcd.KEKFile, "kek-file", "", "key-encryption key sealing the shared secrets in etcd (env KEYDESK_KEK_FILE; created by init if absent)")
}

// StoreURL is the etcd store this run uses, or "" for the bbolt file.
func (g *Globals) StoreURL() string {
	if g.Etcd.URL != "" {
		return g.Etcd.URL
	}
	return g.env.Getenv("KEYDESK_STORE")
}

// EtcdConfig is the cluster configuration from flags and environment.
func (g *Globals) EtcdConfig() cluster.Config {
	kek := g.Etcd.KEKFile
	if kek == "" {
		kek = g.env.Getenv("KEYDESK_KEK_FILE")
	}
	return cluster.Config{URL: g.StoreURL(), CA: g.Etcd.CA, Cert: g.Etcd.Cert, Key: g.Etcd.Key,
		Username: g.env.Getenv("KEYDESK_ETCD_USER"), Password: g.env.Getenv("KEYDESK_ETCD_PASSWORD"),
		KEKFile: kek, Logger: slog.Default()}
}

// openEtcd opens the organization in etcd; without create, one that was
// never initialized is an error that says how to start it.
func (g *Globals) openEtcd(create bool) (*store.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, _, err := cluster.Open(ctx, g.EtcdConfig(), create, store.Options{})
	if err != nil {
		return nil, err
	}
	if !create {
		ok, err := s.Initialized()
		if err == nil && !ok {
			err = fmt.Errorf("%w at %s; run `keydesk init --store %s --kek-file FILE --owner-name NAME --owner-email EMAIL`", models.ErrNotInitialized, s.Location(), s.Location())
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// checkPlace refuses a --from or --to that is neither an etcd URL nor a
// directory: "http://x" was taken for a path and copied into ./http:/x.
func checkPlace(flag, v string) error {
	if strings.Contains(v, "://") {
		if strings.HasPrefix(v, "etcd://") || strings.HasPrefix(v, "etcds://") {
			return nil
		}
		return usagef("%s %q is neither a data directory nor an etcd:// or etcds:// URL", flag, models.Sanitize(v))
	}
	if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
		return usagef("%s %s is a file, not a directory; give a data directory or an etcd:// URL", flag, models.Sanitize(v))
	}
	return nil
}

// copyCmd moves an organization between engines (docs/SCALE-OUT.md): bbolt →
// etcd when one machine is outgrown, etcd → bbolt for a local copy.
func copyCmd(g *Globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy --from DIR|URL --to DIR|URL",
		Short: "Copy an organization between a data directory and etcd",
		Long: `Copy an organization, data and secrets, between a data directory and etcd.
The target must be empty.`,
		Args: noArgs,
		Example: `keydesk copy --from /srv/keydesk --to etcd://10.0.0.1:2379,10.0.0.2:2379 --kek-file /etc/keydesk/kek
keydesk copy --from etcd://10.0.0.1:2379 --to ./local-copy --kek-file /etc/keydesk/kek`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("copy needs --from and --to (a data directory or an etcd:// URL)")
			}
			if err := checkPlace("--from", from); err != nil {
				return err
			}
			if err := checkPlace("--to", to); err != nil {
				return err
			}
			base := g.EtcdConfig()
			src, dst := cluster.ParsePlace(from, base), cluster.ParsePlace(to, base)
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Minute)
			defer cancel()
			res, err := cluster.Copy(ctx, src, dst)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					From    string   `json:"from"`
					To      string   `json:"to"`
					Records int      `json:"records"`
					Secrets []string `json:"secrets"`
				}{src.String(), dst.String(), res.Keys, res.Secrets})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Copied %d records and %d secrets from %s to %s; the copy opens and checks clean.\n",
				res.Keys, len(res.Secrets), models.Sanitize(src.String()), models.Sanitize(dst.String()))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the organization to copy: a data directory or etcd://…")
	cmd.Flags().StringVar(&to, "to", "", "where to copy it (must be empty): a data directory or etcd://…")
	return cmd
}
