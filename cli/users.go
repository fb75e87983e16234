package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
	"github.com/spf13/cobra"
)

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s", cmd.Name(), names)
		}
		return nil
	}
}

// group makes a command that only holds subcommands: alone it prints help, and
// an unknown subcommand is a usage error (exit 2) with a suggestion.
func group(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short,
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// keyArgs is add-key's EMAIL KEY. ssh joins its words with spaces and the
// server splits them again, so the README's own
// `ssh … user add-key EMAIL "$(cat KEY.pub)"` arrives as EMAIL and the key
// line's words: those words are taken back together as the one key line
// they were. Other extra words are refused, with the quoting hint.
func keyArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) < 2:
		return usagef("%s takes EMAIL and KEY", cmd.Name())
	case len(args) == 2 || models.IsSSHKeyText(strings.Join(args[1:], " ")):
		return nil
	}
	return usageError{strayArgsError{fmt.Errorf("%s takes EMAIL and KEY (got %q after the key)", cmd.Name(), models.Sanitize(args[2])), args[2]}}
}

// roleBelowOwner parses the role of user add and set-role. An unknown one
// is told the roles those take: models' list starts with owner, which both
// refuse (the owner changes only by transfer-ownership).
func roleBelowOwner(s string) (models.Role, error) {
	r, err := models.ParseRole(s)
	if err != nil {
		return "", fmt.Errorf("%w: unknown role %q; use admin, user or stakeholder", models.ErrInvalid, models.Sanitize(s))
	}
	return r, nil
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{strayArgsError{fmt.Errorf("%s takes no arguments (got %q)", cmd.Name(), models.Sanitize(args[0])), args[0]}}
	}
	return nil
}

// strayArgsError is a word left over after the flags. Over SSH it is most
// often the rest of a value with spaces: ssh joins its arguments with
// spaces, so `ssh HOST token create --name "my laptop"` arrives as
// `--name my laptop`. Run adds how to quote it there; word is the stray
// word, so the example can be the flag it most likely belonged to.
type strayArgsError struct {
	error
	word string
}

func (e strayArgsError) Unwrap() error { return e.error }

func whoamiCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show who you are acting as",
		Example: `keydesk whoami --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			u, err := s.Profile(a)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wire.FromUser(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s <%s>\nrole: %s\nid:   %s\n", models.Sanitize(u.Name), u.Email, u.Role.Title(), u.ID)
			return nil
		},
	}
}

func userCmd(g *Globals) *cobra.Command {
	cmd := group("user", "Manage people, roles and SSH keys (owner, admin)")
	cmd.Example = `keydesk user list
keydesk user set-role uma@example.com admin
keydesk help roles`
	cmd.AddCommand(userListCmd(g), userAddCmd(g), userRemoveCmd(g), userSetRoleCmd(g), userAddKeyCmd(g),
		userRemoveKeyCmd(g), userApproveKeyCmd(g), userImportCmd(g), userTransferCmd(g))
	return cmd
}

func userListCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List people", Args: noArgs,
		Example: `keydesk user list
keydesk user list --json | jq -r '.[].email'`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			users, err := s.ListUsers(a)
			if err != nil {
				return err
			}
			if g.JSON {
				out := make([]wire.User, 0, len(users))
				for _, u := range users {
					out = append(out, wire.FromUser(u))
				}
				return writeList(cmd.OutOrStdout(), out)
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "EMAIL", "ROLE", "KEYS", "ADDED")
			for _, u := range users {
				t.row(u.Name, u.Email, string(u.Role), fmt.Sprint(len(u.Keys)), stamp(u.CreatedAt, "—"))
			}
			return t.flush()
		},
	}
}

func userRemoveCmd(g *Globals) *cobra.Command {
	var yes, dry bool
	cmd := &cobra.Command{
		Use: "remove EMAIL", Short: "Remove a person and revoke every token they hold", Args: exactArgs(1, "one EMAIL"),
		Example: `keydesk user remove uma@example.com --dry-run
keydesk user remove uma@example.com --yes`,
		ValidArgsFunction: g.completeFirstEmail(belowOwner, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			u, n, err := s.PreviewRemoveUser(a, args[0])
			if err != nil {
				return err
			}
			if dry {
				return printUserChange(g, cmd, u, n, true, fmt.Sprintf("Would remove %s <%s> and revoke %s; nothing changed.", models.Sanitize(u.Name), u.Email, plural(n, "token")))
			}
			if err := g.confirm(yes, fmt.Sprintf("Remove %s <%s> and revoke their %d live tokens?", u.Name, u.Email, n)); err != nil {
				return err
			}
			n, err = s.RemoveUser(a, args[0])
			if err != nil {
				return err
			}
			u.Removed, u.RemovedAt, u.Keys = true, s.Now(), nil
			return printUserChange(g, cmd, u, n, false, fmt.Sprintf("Removed %s; %s revoked.", u.Email, plural(n, "token")))
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would change, and change nothing")
	return cmd
}

func userSetRoleCmd(g *Globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "set-role EMAIL ROLE", Short: "Change a person's role (admin, user, stakeholder)", Args: exactArgs(2, "EMAIL and ROLE"),
		Example: `keydesk user set-role uma@example.com admin
keydesk user set-role uma@example.com stakeholder --yes   # revokes Uma's tokens`,
		ValidArgsFunction: g.completeFirstEmail(belowOwner, func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return grantable, noFiles
			}
			return nil, noFiles
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := roleBelowOwner(args[1])
			if err != nil {
				return usageError{err}
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if !role.CanHoldTokens() && g.env.Interactive && !yes {
				n, err := s.LiveTokenCount(a, args[0])
				if err == nil && n > 0 {
					if err := g.confirm(false, fmt.Sprintf("Make %s a %s and revoke their %d live tokens?", args[0], role, n)); err != nil {
						return err
					}
				}
			}
			n, err := s.SetRole(a, args[0], role)
			if err != nil {
				return err
			}
			u, err := s.User(args[0])
			if err != nil {
				return err
			}
			text := fmt.Sprintf("%s is now %s.", u.Email, role)
			if n > 0 {
				text += " " + plural(n, "token") + " revoked."
			}
			return printUserChange(g, cmd, u, n, false, text)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func userAddKeyCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "add-key EMAIL KEY", Short: "Register an SSH key (key text, or locally a .pub file)", Args: keyArgs,
		Example: remoteOr(g, `keydesk user add-key maya@example.com "$(cat maya-laptop.pub)"`, `keydesk user add-key maya@example.com ~/keys/maya-laptop.pub
keydesk user add-key maya@example.com "$(cat maya-laptop.pub)"`),
		ValidArgsFunction: g.completeFirstEmail(anyone, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if g.Remote() {
				return nil, noFiles
			}
			return nil, cobra.ShellCompDirectiveDefault // a .pub file
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := g.keyText(strings.Join(args[1:], " "))
			if err != nil {
				return err
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			k, err := s.AddKey(a, args[0], text)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printUser(cmd, s, args[0])
			}
			if k.Pending {
				fmt.Fprintf(cmd.OutOrStdout(), "Added %s %s to %s, pending: it logs in once they approve it from a key they hold (user approve-key %s).\n", k.Type, k.Fingerprint, models.Sanitize(args[0]), k.Fingerprint)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s %s to %s.\n", k.Type, k.Fingerprint, models.Sanitize(args[0]))
			return nil
		},
	}
}

// userApproveKeyCmd approves one of your own pending keys: a key someone
// else registered for you after you already had one.
func userApproveKeyCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "approve-key FINGERPRINT", Short: "Approve a key someone else added for you, so it can log in", Args: exactArgs(1, "the key's FINGERPRINT"),
		Example:           `keydesk user approve-key SHA256:7pVt2mA0cHn3WbU8Ghk7KhS0dqfTqYt1cWVJmWq4xQE`,
		ValidArgsFunction: g.completePendingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			k, err := s.ApproveKey(a, args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printUser(cmd, s, a.UserID)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Approved %s %s: it can log in now.\n", k.Type, k.Fingerprint)
			return nil
		},
	}
}

func userRemoveKeyCmd(g *Globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "remove-key EMAIL FINGERPRINT", Short: "Unregister an SSH key by its SHA256 fingerprint", Args: exactArgs(2, "EMAIL and FINGERPRINT"),
		Example:           `keydesk user remove-key maya@example.com SHA256:7pVt2mA0cHn3WbU8Ghk7KhS0dqfTqYt1cWVJmWq4xQE`,
		ValidArgsFunction: g.completeFirstEmail(anyone, g.completeFingerprints),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if err := g.confirm(yes, fmt.Sprintf("Remove key %s from %s? They can no longer log in with it.", args[1], args[0])); err != nil {
				return err
			}
			if err := s.RemoveKey(a, args[0], args[1]); err != nil {
				return err
			}
			if g.JSON {
				return g.printUser(cmd, s, args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed key %s from %s.\n", models.Sanitize(args[1]), models.Sanitize(args[0]))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// printUser prints the person a change was made to, as it is now.
func (g *Globals) printUser(cmd *cobra.Command, s *store.Store, ref string) error {
	u, err := s.User(ref)
	if err != nil {
		return err
	}
	return writeJSON(cmd.OutOrStdout(), wire.FromUser(u))
}

func userImportCmd(g *Globals) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add people from CSV rows name,email,role[,key]; all or none",
		Long: `Add people from a CSV file with rows name,email,role[,key] (an optional header
row name,email,role,key is skipped). Either every row is added or none: every
bad line is reported (up to 50), and nothing is written until all are good.
Give - as FILE.csv to read the rows from stdin.`,
		Example: remoteOr(g, `keydesk user import - --dry-run < people.csv
keydesk user import - < people.csv`, `keydesk user import people.csv --dry-run
keydesk user import - < people.csv`),
		Args: exactArgs(1, "one FILE.csv (or - for stdin)"),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if g.Remote() {
				return []cobra.Completion{"-"}, noFiles
			}
			return []cobra.Completion{"csv"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			r, closeFn, err := g.input(args[0])
			if err != nil {
				return err
			}
			defer closeFn()
			users, err := s.Import(a, r, dry)
			var ie *store.ImportError
			if errors.As(err, &ie) {
				// Every bad line, one per line, so all can be fixed at once.
				for _, l := range ie.Lines {
					fmt.Fprintf(cmd.ErrOrStderr(), "keydesk: %s: %s\n", models.Sanitize(args[0]), models.SanitizeLine(l.Error()))
				}
				more := ""
				if ie.More {
					more = " (only the first " + fmt.Sprint(store.MaxImportErrors) + " shown)"
				}
				return fmt.Errorf("%s%s; nothing imported: fix them and run the import again", plural(len(ie.Lines), "bad line"), more)
			}
			if err != nil {
				return err
			}
			if g.JSON {
				out := wire.Import{Users: make([]wire.User, 0, len(users)), DryRun: dry}
				for _, u := range users {
					out.Users = append(out.Users, wire.FromUser(u))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			if dry {
				fmt.Fprintf(cmd.OutOrStdout(), "Would import %s; nothing changed:\n", plural(len(users), "person"))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Imported %s.\n", plural(len(users), "person"))
			}
			if dry {
				t := newTable(cmd.OutOrStdout(), "NAME", "EMAIL", "ROLE", "KEYS")
				for _, u := range users {
					t.row(u.Name, u.Email, string(u.Role), fmt.Sprint(len(u.Keys)))
				}
				return t.flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check every row and list who would be added, and change nothing")
	return cmd
}

func userTransferCmd(g *Globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "transfer-ownership EMAIL", Short: "Make a user or admin the Account Owner (you become admin)", Args: exactArgs(1, "one EMAIL"),
		Example:           `keydesk user transfer-ownership ada@example.com`,
		ValidArgsFunction: g.completeFirstEmail(assignable, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if err := g.confirm(yes, fmt.Sprintf("Make %s the Account Owner? You become an admin and cannot undo this yourself.", args[0])); err != nil {
				return err
			}
			if err := s.TransferOwnership(a, args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printUser(cmd, s, args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now the Account Owner; you are an admin.\n", models.Sanitize(args[0]))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func userAddCmd(g *Globals) *cobra.Command {
	var name, email, role string
	var keys []string
	cmd := &cobra.Command{
		Use: "add", Short: "Add a person", Args: noArgs,
		Example: remoteOr(g, `keydesk user add --name "Uma User" --email uma@example.com
keydesk user add --name "Ada Admin" --email ada@example.com --role admin --key "$(cat ada.pub)"`, `keydesk user add --name "Uma User" --email uma@example.com
keydesk user add --name "Ada Admin" --email ada@example.com --role admin --key ~/keys/ada.pub`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := roleBelowOwner(role)
			if err != nil {
				return usageError{fmt.Errorf("--role: %w", err)}
			}
			nu := store.NewUser{Name: name, Email: email, Role: r}
			for _, k := range keys {
				text, err := g.keyText(k)
				if err != nil {
					return err
				}
				nu.Keys = append(nu.Keys, text)
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			u, err := s.AddUser(a, nu)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wire.FromUser(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s <%s> as %s.\n", models.Sanitize(u.Name), u.Email, u.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "full name")
	cmd.Flags().StringVar(&email, "email", "", "email address")
	cmd.Flags().StringVar(&role, "role", "user", "admin, user or stakeholder")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "SSH public key (text, or locally a .pub file); repeatable")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("email")
	g.completeFlag(cmd, "role", fixed(grantable))
	return cmd
}

// plural is "1 token", "3 tokens"; "person" becomes "people".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if noun == "person" {
		return fmt.Sprintf("%d people", n)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// keyText returns an SSH key given inline or, locally, as a file path
// (models.SSHKeyArg decides which). Over SSH the server's files are never
// read on a client's behalf.
func (g *Globals) keyText(arg string) (string, error) { return models.SSHKeyArg(arg, !g.Remote()) }

// input opens a file argument, or stdin for "-". Over SSH only "-" is allowed.
func (g *Globals) input(arg string) (io.Reader, func(), error) {
	if arg == "-" {
		if g.env.Interactive {
			// At a terminal nothing says the command is waiting for rows.
			fmt.Fprintln(g.env.Stderr, "keydesk: reading name,email,role[,key] rows from the terminal; end with Ctrl-D (or pipe a file in: < people.csv)")
		}
		return g.env.Stdin, func() {}, nil
	}
	if g.Remote() {
		return nil, nil, usagef("over SSH, pipe the file in and use -: %s user import - < people.csv", g.prog)
	}
	f, err := os.Open(arg)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, fmt.Errorf("cannot read %s: %v", models.Sanitize(arg), err)
	}
	return f, func() { f.Close() }, nil
}
