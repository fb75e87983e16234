package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
	"github.com/spf13/cobra"
)

func auditCmd(g *Globals) *cobra.Command {
	var q store.AuditQuery
	cmd := &cobra.Command{
		Use: "audit", Short: "Read the audit log, newest first (owner, admin)", Args: noArgs,
		Example: `keydesk audit --limit 20
keydesk audit --user uma@example.com --type token_revoked --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Type != "" && !knownAuditType(q.Type) {
				return usagef("unknown audit type %q; one of: %s", models.Sanitize(q.Type), strings.Join(models.AuditTypes, ", "))
			}
			if q.Limit < 1 {
				return usagef("--limit must be 1 or more")
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			entries, err := s.Audit(a, q)
			if err != nil {
				return err
			}
			if g.JSON {
				out := make([]wire.AuditEntry, 0, len(entries))
				for _, e := range entries {
					out = append(out, wire.FromAudit(e))
				}
				return writeList(cmd.OutOrStdout(), out)
			}
			if len(entries) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No audit entries match.")
				return nil
			}
			t := newTable(cmd.OutOrStdout(), "TIME", "TYPE", "ACTOR", "TARGET", "TOKEN", "DETAIL", "VIA")
			t.fitTo(g.termWidth(cmd.OutOrStdout()), cmd.ErrOrStderr(), "VIA", "TOKEN", "TARGET")
			for _, e := range entries {
				t.row(stamp(e.At, "—"), e.Type, e.ActorEmail, e.TargetEmail, e.TokenID, e.Detail, e.Via)
			}
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&q.Limit, "limit", 50, "at most this many entries")
	cmd.Flags().StringVar(&q.User, "user", "", "entries by or about this person's email (also after they were removed)")
	cmd.Flags().StringVar(&q.Type, "type", "", "only entries of this type, e.g. token_revoked")
	g.completeFlag(cmd, "user", g.completeEmails(anyone))
	g.completeFlag(cmd, "type", fixed(words(models.AuditTypes)))
	return cmd
}

func knownAuditType(t string) bool {
	for _, x := range models.AuditTypes {
		if x == t {
			return true
		}
	}
	return false
}

func backupCmd(g *Globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "backup FILE|-",
		Short: "Write a hot, consistent copy of the database (owner); - for stdout",
		Example: remoteOr(g, `(umask 077; keydesk backup > keydesk-backup.db)`, `keydesk backup keydesk-backup.db
(umask 077; keydesk backup - > keydesk-backup.db)`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 0 && !g.Remote()) {
				return usagef("backup takes one FILE, or - for stdout")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "-"
			if len(args) == 1 {
				target = args[0]
			}
			if g.Remote() && target != "-" {
				return usagef("over SSH the copy goes to stdout: %s backup > keydesk-backup.db", g.prog)
			}
			// A terminal would show binary (and a pty would turn its newlines
			// into CRLF, spoiling the copy): say where the copy should go.
			if target == "-" && (g.env.Session != nil && g.env.Session.Pty || g.env.Session == nil && isTerminal(cmd.OutOrStdout())) {
				return usagef("backup writes binary, not text for a terminal; send it to a file: %s", backupExample(g))
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if target == "-" {
				// stdout is the database itself; --json has nothing to add.
				_, err := s.Backup(a, cmd.OutOrStdout())
				return err
			}
			if _, err := os.Stat(target); err == nil {
				if err := g.confirm(yes, fmt.Sprintf("Replace the existing %s with a new backup?", target)); err != nil {
					return err
				}
			}
			return backupToFile(g, s, a, target, cmd)
		},
	}
	if !g.Remote() {
		cmd.Flags().BoolVarP(&yes, "yes", "y", false, "replace an existing FILE without asking")
	}
	return cmd
}

// backupExample is how to send the backup to a file, as typed in this run.
func backupExample(g *Globals) string {
	if g.Remote() {
		return g.prog + " backup > keydesk-backup.db (without -t)"
	}
	return "keydesk backup keydesk-backup.db"
}

// backupToFile writes to a temporary file beside target and renames it into
// place, so a failed backup never leaves a truncated file under the real name.
// Errors name target, never the temporary file.
func backupToFile(g *Globals, s *store.Store, a store.Actor, target string, cmd *cobra.Command) error {
	fail := func(err error) error {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return fmt.Errorf("cannot write backup %s: %v", models.Sanitize(target), err)
	}
	dir := filepath.Dir(target)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write backup %s: no directory %s", models.Sanitize(target), models.Sanitize(dir))
	}
	tmp, err := os.CreateTemp(dir, ".keydesk-backup-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fail(err)
	}
	n, err := s.Backup(a, tmp)
	if err != nil {
		tmp.Close()
		if errors.Is(err, models.ErrPermission) {
			return err
		}
		return fail(err) // what failed, without the store's staging file name
	}
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fail(err)
	}
	if g.JSON {
		return writeJSON(cmd.OutOrStdout(), wire.Backup{File: target, Bytes: n})
	}
	if s.SecretsDir() == "" { // etcd: the secrets stay in etcd, sealed under the KEK
		fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%d bytes), one consistent revision of %s. Its tokens are checked with the secrets sealed in etcd: keep a copy of your KEK file too (`keydesk copy` moves secrets with the data).\n", target, n, s.Location())
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%d bytes). Keep a copy of %s too: without it the backup's tokens cannot be checked.\n", target, n, s.SecretsDir())
	return nil
}

func versionCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print keydesk's version", Args: noArgs,
		Example: `keydesk version --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wire.Version{Version: Version, Go: runtime.Version(), Schema: store.SchemaVersion})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keydesk %s (%s, schema %d)\n", Version, runtime.Version(), store.SchemaVersion)
			return nil
		},
	}
}

func initCmd(g *Globals) *cobra.Command {
	var name, email string
	var keys []string
	cmd := &cobra.Command{
		Use: "init", Short: "Create the organization and its Account Owner", Args: noArgs,
		Example: `keydesk init --owner-name "Olive Owner" --owner-email olive@example.com --owner-key ~/.ssh/id_ed25519.pub`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nu := store.NewUser{Name: name, Email: email, Role: models.RoleOwner}
			for _, k := range keys {
				text, err := g.keyText(k)
				if err != nil {
					return err
				}
				nu.Keys = append(nu.Keys, text)
			}
			// Checked before the data directory is made: a mistyped flag
			// leaves nothing behind (it left keydesk.db and secrets/).
			if err := checkNewOwner(nu); err != nil {
				return err
			}
			s, err := g.OpenOrCreate()
			if err != nil {
				return err
			}
			u, err := s.Init(nu, "cli")
			if errors.Is(err, models.ErrConflict) {
				return fmt.Errorf("%w; open it with `keydesk`, or give --data an empty directory for a new one", err)
			}
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wire.FromUser(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created the organization in %s with %s <%s> as Account Owner.\n", s.Location(), models.Sanitize(u.Name), u.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "owner-name", "", "the Account Owner's name")
	cmd.Flags().StringVar(&email, "owner-email", "", "the Account Owner's email")
	cmd.Flags().StringArrayVar(&keys, "owner-key", nil, "the owner's SSH public key (text or file); repeatable")
	_ = cmd.MarkFlagRequired("owner-name")
	_ = cmd.MarkFlagRequired("owner-email")
	return cmd
}

// checkNewOwner applies the store's rules for a new person to the owner init
// is about to create, naming the flag at fault. The store checks them again
// when it writes.
func checkNewOwner(nu store.NewUser) error {
	if _, err := models.ValidateName("name", nu.Name); err != nil {
		return fmt.Errorf("--owner-name: %w", err)
	}
	if _, err := models.NormalizeEmail(nu.Email); err != nil {
		return fmt.Errorf("--owner-email: %w", err)
	}
	for _, k := range nu.Keys {
		if _, err := models.ParseSSHKey(k); err != nil {
			return fmt.Errorf("--owner-key: %w", err)
		}
	}
	return nil
}

func checkCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "check", Short: "Verify the database: pages, indexes, holders, audit order",
		Long: `Verify the database: pages, indexes, holders, audit order. Exit status 1 when
it finds a problem.`, Args: noArgs,
		Example: `keydesk check --data /srv/keydesk`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.Store()
			if err != nil {
				return err
			}
			problems, err := s.Check()
			if err != nil {
				return err
			}
			if g.JSON {
				if problems == nil {
					problems = []string{}
				}
				if err := writeJSON(cmd.OutOrStdout(), wire.Check{OK: len(problems) == 0, Problems: problems}); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), models.SanitizeLine(p))
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problems found in %s", len(problems), s.Location())
			}
			if !g.JSON {
				fmt.Fprintln(cmd.OutOrStdout(), "ok: database, indexes and audit log agree")
			}
			return nil
		},
	}
}

// remoteOr is the example text for over SSH, or for a local run, where the
// two differ (no server files over SSH: stdin and stdout instead).
func remoteOr(g *Globals, remote, local string) string {
	if g.Remote() {
		return remote
	}
	return local
}
