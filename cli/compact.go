package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keydesk/keydesk/models"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/keydesk/keydesk/wire"
	"github.com/spf13/cobra"
)

// compactCmd packs the bbolt file's pages. A file keeps the size of its
// largest moment and half-empty pages where keys arrived at random; an
// upgrade that shrinks records (schema 2's token records) leaves the freed
// space inside the file until it is compacted.
func compactCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the database file with its pages packed (server stopped)",
		Long: `Rewrite the database file with its pages packed. Stop the server first; the
original file is kept beside the new one.`,
		Args: noArgs,
		Example: `keydesk compact --data /srv/keydesk
keydesk check --data /srv/keydesk`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.ResolveDataDir()
			if err != nil {
				return err
			}
			path := filepath.Join(dir, kvbolt.File)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w in %s; nothing to compact", models.ErrNotInitialized, dir)
			}
			res, err := kvbolt.CompactFile(path, kvbolt.Options{})
			if errors.Is(err, kvbolt.ErrLocked) {
				return fmt.Errorf("%w: %v; stop it first: compacting needs the file to itself", models.ErrInUse, err)
			}
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wire.Compact{Path: path, BytesBefore: res.Before, BytesAfter: res.After, Original: res.Original})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Compacted %s: %s → %s. The original is kept as %s; delete it once `keydesk check` passes.\n",
				path, mib(res.Before), mib(res.After), res.Original)
			return nil
		},
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
