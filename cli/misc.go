package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

func auditCmd(g *Globals) *cobra.Command {
	var q store.AuditQuery
	cmd := &cobra.Command{
		Use: "audit", Short: "Read the audit log, newest first (owner, admin)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Type != "" && !knownAuditType(q.Type) {
				return usagef("unknown audit type %q; one of: %s", models.Sanitize(q.Type), strings.Join(models.AuditTypes, ", "))
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
				if entries == nil {
					entries = []models.AuditEntry{}
				}
				return writeJSON(cmd.OutOrStdout(), entries)
			}
			t := newTable(cmd.OutOrStdout(), "TIME", "TYPE", "ACTOR", "TARGET", "TOKEN", "DETAIL", "VIA")
			for _, e := range entries {
				t.row(e.At.Local().Format("2006-01-02 15:04:05"), e.Type, e.ActorEmail, e.TargetEmail, e.TokenID, e.Detail, e.Via)
			}
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&q.Limit, "limit", 50, "at most this many entries")
	cmd.Flags().StringVar(&q.User, "user", "", "entries by or about this user's email")
	cmd.Flags().StringVar(&q.Type, "type", "", "only entries of this type, e.g. token_revoked")
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
	return &cobra.Command{
		Use:   "backup FILE|-",
		Short: "Write a hot, consistent copy of the database (owner); - for stdout",
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
				return usagef("over SSH the copy goes to stdout: ssh … backup > keydesk-backup.db")
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if target == "-" {
				_, err := s.Backup(a, cmd.OutOrStdout())
				return err
			}
			return backupToFile(s, a, target, cmd)
		},
	}
}

// backupToFile writes to a temporary file beside target and renames it into
// place, so a failed backup never leaves a truncated file under the real name.
func backupToFile(s *store.Store, a store.Actor, target string, cmd *cobra.Command) error {
	tmp, err := os.CreateTemp(filepath.Dir(target), ".keydesk-backup-*")
	if err != nil {
		return fmt.Errorf("create backup file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	n, err := s.Backup(a, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("move backup into place: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%d bytes). Keep a copy of %s too: without it the backup's tokens cannot be checked.\n", target, n, s.SecretsDir())
	return nil
}

func versionCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print keydesk's version", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"version": Version, "go": runtime.Version(), "schema": store.SchemaVersion})
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			nu := store.NewUser{Name: name, Email: email, Role: models.RoleOwner}
			for _, k := range keys {
				text, err := g.keyText(k)
				if err != nil {
					return err
				}
				nu.Keys = append(nu.Keys, text)
			}
			s, err := g.OpenOrCreate()
			if err != nil {
				return err
			}
			u, err := s.Init(nu, "cli")
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), userJSON(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created the organization in %s with %s <%s> as Account Owner.\n", s.Dir(), models.Sanitize(u.Name), u.Email)
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

func checkCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "check", Short: "Verify the database: pages, indexes, holders, audit order (exit 1 on problems)", Args: noArgs,
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
				if err := writeJSON(cmd.OutOrStdout(), map[string]any{"ok": len(problems) == 0, "problems": problems}); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), models.SanitizeLine(p))
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problems found in %s", len(problems), s.Dir())
			}
			if !g.JSON {
				fmt.Fprintln(cmd.OutOrStdout(), "ok: database, indexes and audit log agree")
			}
			return nil
		},
	}
}
