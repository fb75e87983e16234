package cli

import (
	"fmt"
	"io"

	"os"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// group makes a command that only holds subcommands: alone it prints help, and
// an unknown subcommand is a usage error (exit 2), not a silent help page.
func group(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", models.Sanitize(args[0]), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments (got %q)", cmd.CommandPath(), models.Sanitize(args[0]))
	}
	return nil
}

func whoamiCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are acting as",
		Args:  noArgs,
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
				return writeJSON(cmd.OutOrStdout(), userJSON(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s <%s>\nrole: %s\nid:   %s\n", models.Sanitize(u.Name), u.Email, u.Role.Title(), u.ID)
			return nil
		},
	}
}

type userOut struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Email     string          `json:"email"`
	Role      models.Role     `json:"role"`
	Keys      []models.SSHKey `json:"keys"`
	CreatedAt string          `json:"created_at"`
}

func userJSON(u models.User) userOut {
	keys := u.Keys
	if keys == nil {
		keys = []models.SSHKey{}
	}
	return userOut{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Keys: keys, CreatedAt: u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")}
}

func userCmd(g *Globals) *cobra.Command {
	cmd := group("user", "Manage people, roles and SSH keys")
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List users", Args: noArgs,
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
					out := make([]userOut, 0, len(users))
					for _, u := range users {
						out = append(out, userJSON(u))
					}
					return writeJSON(cmd.OutOrStdout(), out)
				}
				t := newTable(cmd.OutOrStdout(), "NAME", "EMAIL", "ROLE", "KEYS", "ADDED")
				for _, u := range users {
					t.row(u.Name, u.Email, string(u.Role), fmt.Sprint(len(u.Keys)), day(u.CreatedAt))
				}
				return t.flush()
			},
		},
		userAddCmd(g),
		&cobra.Command{
			Use: "remove EMAIL", Short: "Remove a user and revoke every token they hold", Args: exactArgs(1, "one EMAIL"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				n, err := s.RemoveUser(a, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed %s; %d tokens revoked.\n", models.Sanitize(args[0]), n)
				return nil
			},
		},
		&cobra.Command{
			Use: "set-role EMAIL ROLE", Short: "Change a user's role (admin, user, stakeholder)", Args: exactArgs(2, "EMAIL and ROLE"),
			RunE: func(cmd *cobra.Command, args []string) error {
				role, err := models.ParseRole(args[1])
				if err != nil {
					return usageError{err}
				}
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				n, err := s.SetRole(a, args[0], role)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s.", models.Sanitize(args[0]), role)
				if n > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), " %d tokens revoked.", n)
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			},
		},
		&cobra.Command{
			Use: "add-key EMAIL KEY", Short: "Register an SSH public key (the key text, or a file locally)", Args: exactArgs(2, "EMAIL and KEY"),
			RunE: func(cmd *cobra.Command, args []string) error {
				text, err := g.keyText(args[1])
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
				fmt.Fprintf(cmd.OutOrStdout(), "Added %s %s to %s.\n", k.Type, k.Fingerprint, models.Sanitize(args[0]))
				return nil
			},
		},
		&cobra.Command{
			Use: "remove-key EMAIL FINGERPRINT", Short: "Unregister an SSH key by its SHA256 fingerprint", Args: exactArgs(2, "EMAIL and FINGERPRINT"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				if err := s.RemoveKey(a, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed key %s from %s.\n", models.Sanitize(args[1]), models.Sanitize(args[0]))
				return nil
			},
		},
		&cobra.Command{
			Use: "import FILE.csv", Short: "Add users from CSV rows name,email,role[,key]: all rows or none (- reads stdin)", Args: exactArgs(1, "one FILE.csv (or - for stdin)"),
			RunE: func(cmd *cobra.Command, args []string) error {
				r, closeFn, err := g.input(args[0])
				if err != nil {
					return err
				}
				defer closeFn()
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				n, err := s.ImportUsers(a, r)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Imported %d users.\n", n)
				return nil
			},
		},
		&cobra.Command{
			Use: "transfer-ownership EMAIL", Short: "Make another user or admin the Account Owner (you become admin)", Args: exactArgs(1, "one EMAIL"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				if err := s.TransferOwnership(a, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s is now the Account Owner; you are an admin.\n", models.Sanitize(args[0]))
				return nil
			},
		},
	)
	return cmd
}

func userAddCmd(g *Globals) *cobra.Command {
	var name, email, role string
	var keys []string
	cmd := &cobra.Command{
		Use: "add", Short: "Add a user", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := models.ParseRole(role)
			if err != nil {
				return usageError{err}
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
				return writeJSON(cmd.OutOrStdout(), userJSON(u))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s <%s> as %s.\n", models.Sanitize(u.Name), u.Email, u.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "full name")
	cmd.Flags().StringVar(&email, "email", "", "email address")
	cmd.Flags().StringVar(&role, "role", "user", "admin, user or stakeholder")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "SSH public key (text, or a file locally); repeatable")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// keyText returns an SSH key given inline or, locally, as a file path
// (models.SSHKeyArg decides which). Over SSH the server's files are never
// read on a client's behalf.
func (g *Globals) keyText(arg string) (string, error) { return models.SSHKeyArg(arg, !g.Remote()) }

// input opens a file argument, or stdin for "-". Over SSH only "-" is allowed.
func (g *Globals) input(arg string) (io.Reader, func(), error) {
	if arg == "-" {
		return g.env.Stdin, func() {}, nil
	}
	if g.Remote() {
		return nil, nil, usagef("over SSH, pipe the file in and use -: ssh … user import - < users.csv")
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", arg, err)
	}
	return f, func() { f.Close() }, nil
}
