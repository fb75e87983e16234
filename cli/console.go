package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/charmbracelet/x/term"
	"github.com/keydesk/keydesk/demo"
	"github.com/keydesk/keydesk/models"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/keydesk/keydesk/tui"
	"github.com/keydesk/keydesk/tui/firstrun"
	"github.com/keydesk/keydesk/wire"
	"github.com/spf13/cobra"
)

// runConsole opens the console locally as --as or the owner. An empty data
// directory first shows the form that creates the organization.
func runConsole(g *Globals) error {
	if err := needTerminal(); err != nil {
		return err
	}
	if err := g.firstRunLocal(); err != nil {
		return err
	}
	s, err := g.OpenOrCreate()
	if err != nil {
		return err
	}
	ok, err := s.Initialized()
	if err != nil {
		return err
	}
	if !ok {
		if g.As != "" {
			return fmt.Errorf("%w: there is no organization in %s yet, so no %s", models.ErrNotFound, s.Location(), models.Sanitize(g.As))
		}
		nu, submitted, err := firstrun.Run(s.Location())
		if err != nil {
			return err
		}
		if !submitted {
			return errors.New("no organization created; run `keydesk` or `keydesk init` when ready")
		}
		if _, err := s.Init(nu, "console"); err != nil {
			return err
		}
	}
	_, a, err := g.Actor()
	if err != nil {
		return err
	}
	return tui.Run(tui.Options{Backend: s, UserID: a.UserID, Via: "console"})
}

// firstRunLocal shows the first-run form for a local data directory that
// holds no database yet, before anything is written there: quitting the form
// leaves no keydesk.db or secrets/ behind (it left both), and the directory
// is made only to check it can be, then removed again if the form is quit.
// Any other store (an existing file, etcd) goes through runConsole's path.
func (g *Globals) firstRunLocal() error {
	if g.env.Session != nil || g.StoreURL() != "" || g.As != "" {
		return nil
	}
	dir, err := g.ResolveDataDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, kvbolt.File)); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := prepareDataDir(dir, true); err != nil {
		return err
	}
	nu, submitted, err := firstrun.Run(dir)
	if err == nil && !submitted {
		err = errors.New("no organization created; run `keydesk` or `keydesk init` when ready")
	}
	if err != nil {
		if made {
			_ = os.Remove(dir) // only if still empty
		}
		return err
	}
	s, err := g.OpenOrCreate()
	if err != nil {
		return err
	}
	_, err = s.Init(nu, "console")
	return err
}

func demoCmd(g *Globals) *cobra.Command {
	var seedOnly bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Seed a demo organization and open the console",
		Long: `Seed a demo organization (in a temporary directory unless --data) and open the
console as its Account Owner.`,
		Example: `keydesk demo
keydesk demo --data /tmp/kd-demo --seed-only`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Only an explicit --data is honoured (and must be empty). The
			// demo never seeds KEYDESK_DATA: that is where a person's real
			// organization lives once they follow the README.
			dir := g.DataDir
			if dir == "" {
				tmp, err := os.MkdirTemp("", "keydesk-demo-")
				if err != nil {
					return err
				}
				if !seedOnly {
					defer os.RemoveAll(tmp)
				}
				dir = tmp
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("%w: %s is not empty; the demo seeds a fresh directory: give another --data, or none for a temporary one", models.ErrConflict, dir)
			}
			if !seedOnly {
				if err := needTerminal(); err != nil {
					return err
				}
			}
			owner, err := demo.Seed(dir)
			if err != nil {
				return fmt.Errorf("seed demo: %w", err)
			}
			g.DataDir = dir
			if seedOnly {
				if g.JSON {
					return writeJSON(cmd.OutOrStdout(), wire.Demo{Data: dir, Owner: owner})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Seeded a demo organization in %s (owner %s).\n", dir, owner)
				return nil
			}
			s, err := g.Store()
			if err != nil {
				return err
			}
			u, err := s.User(owner)
			if err != nil {
				return err
			}
			return tui.Run(tui.Options{Backend: s, UserID: u.ID, Via: "console"})
		},
	}
	cmd.Flags().BoolVar(&seedOnly, "seed-only", false, "seed and print the directory instead of opening the console (for scripts and tapes)")
	return cmd
}

// needTerminal fails early, in one line, when the console cannot draw: a
// script that runs `keydesk` without a command gets told what to run instead.
func needTerminal() error {
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		return usagef("the console needs a terminal; from a script, run a command such as `keydesk token list`")
	}
	return nil
}
