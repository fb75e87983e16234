package cli

import (
	"fmt"
	"io"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

const safetyWarning = "Please keep your Refresh Token as safe as your Password: it will not be shown again."

func tokenCmd(g *Globals) *cobra.Command {
	cmd := group("token", "Generate, assign, list, reveal, rotate and revoke refresh tokens")
	cmd.AddCommand(tokenCreateCmd(g), tokenListCmd(g), tokenShowCmd(g),
		&cobra.Command{
			Use: "reveal ID", Short: "Show a token assigned to you, once", Args: exactArgs(1, "one token ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				secret, err := s.RevealToken(a, args[0])
				if err != nil {
					return err
				}
				return printSecret(g, cmd, args[0], secret)
			},
		},
		&cobra.Command{
			Use: "rotate ID", Short: "Replace a token's secret; the old one works for a grace period", Args: exactArgs(1, "one token ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				tok, secret, err := s.RotateToken(a, args[0])
				if err != nil {
					return err
				}
				if !g.JSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "Rotated %s → %s; the old secret keeps working for a short grace period.\n", models.Sanitize(args[0]), tok.ID)
				}
				return printSecret(g, cmd, tok.ID, secret)
			},
		},
		&cobra.Command{
			Use: "revoke ID", Short: "Revoke a token (and its access tokens, at once)", Args: exactArgs(1, "one token ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, a, err := g.Actor()
				if err != nil {
					return err
				}
				tok, err := s.RevokeToken(a, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s (%s).\n", tok.ID, models.Sanitize(tok.Name))
				return nil
			},
		},
		tokenRevokeAllCmd(g),
	)
	return cmd
}

// printSecret writes a secret on stdout (alone, so scripts can capture it) and
// the warning on stderr.
func printSecret(g *Globals, cmd *cobra.Command, id, secret string) error {
	if g.JSON {
		return writeJSON(cmd.OutOrStdout(), map[string]string{"id": id, "refresh_token": secret})
	}
	fmt.Fprintln(cmd.OutOrStdout(), secret)
	fmt.Fprintln(cmd.ErrOrStderr(), safetyWarning)
	return nil
}

func tokenCreateCmd(g *Globals) *cobra.Command {
	var name, expires string
	var forUsers []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Generate a token for yourself, or assign one with --for (owner)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := models.ParseExpiry(expires)
			if err != nil {
				return usageError{err}
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			spec := store.TokenSpec{Name: name, Expires: ttl}
			if len(forUsers) > 0 {
				toks, err := s.AssignTokens(a, forUsers, spec)
				if err != nil {
					return err
				}
				if g.JSON {
					return writeJSON(cmd.OutOrStdout(), toks)
				}
				for _, t := range toks {
					v, err := s.Token(a, t.ID)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Assigned %s %q to %s; they reveal it once with: keydesk token reveal %s\n",
						t.ID, models.Sanitize(t.Name), v.HolderEmail, t.ID)
				}
				return nil
			}
			tok, secret, err := s.CreateToken(a, spec)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"token": tok, "refresh_token": secret})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Created %s %q (expires %s).\n", tok.ID, models.Sanitize(tok.Name), expiryText(tok))
			return printSecret(g, cmd, tok.ID, secret)
		},
	}
	cmd.Flags().StringVar(&name, "name", "api-token", "a name that says where the token is used")
	cmd.Flags().StringVar(&expires, "expires", "never", "lifetime: 7d, 30d, 90d, 1y or never")
	cmd.Flags().StringArrayVar(&forUsers, "for", nil, "assign to this user's or admin's email (owner; repeatable)")
	return cmd
}

func expiryText(t models.Token) string {
	if t.ExpiresAt.IsZero() {
		return "never"
	}
	return day(t.ExpiresAt)
}

func tokenListCmd(g *Globals) *cobra.Command {
	var all bool
	var user, filter string
	var limit int
	var oldest bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tokens, or every token (--all, owner)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && user != "" {
				return usagef("use either --all or --user, not both")
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			q := store.TokenQuery{All: all, Holder: user, Filter: filter, Oldest: oldest}
			return listTokens(g, cmd.OutOrStdout(), s, a, q, limit)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every token of the organization (owner)")
	cmd.Flags().StringVar(&user, "user", "", "tokens of this user (owner, or yourself)")
	cmd.Flags().StringVar(&filter, "filter", "", "only tokens whose name, id, holder or status contains this text")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	cmd.Flags().BoolVar(&oldest, "oldest", false, "oldest first")
	return cmd
}

// listTokens streams: JSON element by element, tables row by row, so a million
// tokens never sit in memory at once.
func listTokens(g *Globals, w io.Writer, s *store.Store, a store.Actor, q store.TokenQuery, limit int) error {
	n := 0
	var arr *jsonArray
	var t *table
	if g.JSON {
		arr = newJSONArray(w)
	} else {
		t = newTable(w, "ID", "NAME", "HOLDER", "ROLE", "STATUS", "TOKEN", "CREATED", "EXPIRES", "LAST USED")
	}
	err := s.EachToken(a, q, func(v store.TokenView) error {
		if limit > 0 && n >= limit {
			return errLimitReached
		}
		n++
		if arr != nil {
			return arr.add(v)
		}
		t.row(v.ID, v.Name, v.HolderEmail, string(v.Role), string(v.Status), v.Masked, day(v.CreatedAt), expiryText(v.Token), stamp(v.LastUsedAt))
		return nil
	})
	if err != nil && err != errLimitReached {
		return err
	}
	if arr != nil {
		return arr.close()
	}
	if err := t.flush(); err != nil {
		return err
	}
	if n == 0 && !q.All && q.Holder == "" {
		fmt.Fprintln(w, "No tokens yet — create one with: keydesk token create --name NAME")
	}
	return nil
}

var errLimitReached = fmt.Errorf("limit reached")

func tokenShowCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show one token's details", Args: exactArgs(1, "one token ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			v, err := s.Token(a, args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			t := newTable(cmd.OutOrStdout(), "FIELD", "VALUE")
			by := v.CreatorName
			if v.Assigned {
				by = "assigned by " + v.CreatorName
			}
			for _, kv := range [][2]string{{"id", v.ID}, {"name", v.Name}, {"holder", v.HolderName + " <" + v.HolderEmail + ">"},
				{"role", string(v.Role)}, {"status", string(v.Status)}, {"token", v.Masked}, {"created", stamp(v.CreatedAt) + " by " + by},
				{"expires", expiryText(v.Token)}, {"last used", stamp(v.LastUsedAt) + " " + v.LastUsedBy}} {
				t.row(kv[0], kv[1])
			}
			return t.flush()
		},
	}
}

func tokenRevokeAllCmd(g *Globals) *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use: "revoke-all --user EMAIL", Short: "Revoke every token of a user (owner)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			n, err := s.RevokeAllOf(a, user)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %d tokens of %s.\n", n, models.Sanitize(user))
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user's email")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}
