package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
	"github.com/spf13/cobra"
)

const safetyWarning = "Please keep your Refresh Token as safe as your Password: it will not be shown again."

// wireToken is a token as --json prints it: the same shape as /v3.
func wireToken(v store.TokenView) wire.Token {
	return wire.FromToken(v.Token, v.Status, wire.Names{HolderName: v.HolderName, HolderEmail: v.HolderEmail, CreatorName: v.CreatorName})
}

func tokenCmd(g *Globals) *cobra.Command {
	cmd := group("token", "Generate, assign, list, reveal, rotate and revoke refresh tokens")
	cmd.Example = `keydesk token create --name ci --expires 90d
keydesk token list --all
keydesk help tokens`
	cmd.AddCommand(tokenCreateCmd(g), tokenListCmd(g), tokenShowCmd(g), tokenRevealCmd(g),
		tokenRotateCmd(g), tokenRevokeCmd(g), tokenRevokeAllCmd(g))
	return cmd
}

func tokenRevealCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "reveal ID", Short: "Show a token assigned to you, once", Args: exactArgs(1, "one token ID"),
		Example:           `keydesk token reveal tok_0SdX1x6W3pQrZ1`,
		ValidArgsFunction: g.completeTokenIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			secret, err := s.RevealToken(a, args[0])
			if err != nil {
				return err
			}
			return printSecret(g, cmd, s, a, models.Token{ID: args[0]}, secret)
		},
	}
}

func tokenRotateCmd(g *Globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "rotate ID", Short: "Replace a token's secret; the old one works for a grace period", Args: exactArgs(1, "one token ID"),
		Example:           `NEW=$(keydesk token rotate tok_0SdX1x6W3pQrZ1 --yes)`,
		ValidArgsFunction: g.completeTokenIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if g.env.Interactive && !yes {
				v, err := s.Token(a, args[0])
				if err != nil {
					return err
				}
				if err := g.confirm(false, fmt.Sprintf("Rotate %s %q? Its secret stops working 10 minutes from now.", v.ID, v.Name)); err != nil {
					return err
				}
			}
			tok, secret, err := s.RotateToken(a, args[0])
			if err != nil {
				return err
			}
			if !g.JSON {
				fmt.Fprintf(cmd.ErrOrStderr(), "Rotated %s → %s; the old secret keeps working for 10 minutes.\n", models.Sanitize(args[0]), tok.ID)
			}
			return printSecret(g, cmd, s, a, tok, secret)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func tokenRevokeCmd(g *Globals) *cobra.Command {
	var yes, chain bool
	cmd := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token (and its access tokens, at once)", Args: exactArgs(1, "one token ID"),
		Example: `keydesk token revoke tok_0SdX1x6W3pQrZ1
keydesk token revoke tok_0SdX1x6W3pQrZ1 --yes --json`,
		ValidArgsFunction: g.completeTokenIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			if g.env.Interactive && !yes {
				v, err := s.Token(a, args[0])
				if err != nil {
					return err
				}
				if err := g.confirm(false, fmt.Sprintf("Revoke %s %q of %s? Scripts using it stop working at once.", v.ID, v.Name, v.HolderEmail)); err != nil {
					return err
				}
			}
			if chain {
				toks, err := s.RevokeChain(a, args[0])
				if err != nil {
					return err
				}
				if g.JSON {
					out := make([]wire.Token, 0, len(toks))
					for _, tok := range toks {
						out = append(out, wireToken(viewAfter(cmd, s, a, tok)))
					}
					return writeList(cmd.OutOrStdout(), out)
				}
				for _, tok := range toks {
					fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s (%s).\n", tok.ID, models.Sanitize(tok.Name))
				}
				return nil
			}
			tok, err := s.RevokeToken(a, args[0])
			if err != nil {
				return err
			}
			// A rotated token in its grace period has a successor that
			// keeps working: say so, so nobody believes the lineage is dead.
			if next := liveSuccessor(s, a, tok); next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "Its successor %s (it was rotated into) stays usable; revoke it too, or run: %s token revoke %s --chain\n", next, g.prog, tok.ID)
			}
			if g.JSON {
				return writeJSON(cmd.OutOrStdout(), wireToken(viewAfter(cmd, s, a, tok)))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s (%s).\n", tok.ID, models.Sanitize(tok.Name))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&chain, "chain", false, "also revoke every token this one was rotated into")
	return cmd
}

// viewAfter reads back the token a change returned, for --json. The change
// has landed by then (and a secret printed with it exists nowhere else), so a
// failed read-back — the store unreachable for a moment — must not turn it
// into an error: the view is then built from what the change returned, and
// stderr says what is missing.
func viewAfter(cmd *cobra.Command, s *store.Store, a store.Actor, tok models.Token) store.TokenView {
	v, err := s.Token(a, tok.ID)
	if err != nil {
		v = store.TokenView{Token: tok, Status: tok.Status(time.Now()), Masked: tok.Masked()}
		fmt.Fprintf(cmd.ErrOrStderr(), "keydesk: %s is saved, but reading its details back failed (%v); holder names are missing below\n",
			models.Sanitize(tok.ID), err)
	}
	return v
}

// liveSuccessor is the last token of tok's rotation chain if it still works.
func liveSuccessor(s *store.Store, a store.Actor, tok models.Token) string {
	id, last := tok.RotatedTo, ""
	for i := 0; id != "" && i < 64; i++ {
		v, err := s.Token(a, id)
		if err != nil {
			return ""
		}
		last, id = v.ID, v.RotatedTo
		if id == "" && v.Status.Usable() {
			return last
		}
	}
	return ""
}

// printSecret writes a secret on stdout (alone, so scripts can capture it)
// and the warning on stderr; with --json, the token and its secret.
func printSecret(g *Globals, cmd *cobra.Command, s *store.Store, a store.Actor, tok models.Token, secret string) error {
	if g.JSON {
		return writeJSON(cmd.OutOrStdout(), wire.Secret{Token: wireToken(viewAfter(cmd, s, a, tok)), RefreshToken: secret})
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
		Long: `Generate a refresh token for yourself: its secret is printed once, alone on
stdout, so a script can capture it. The owner assigns tokens to users and
admins with --for: each holder reveals theirs once; the owner never sees it.`,
		Example: `TOKEN=$(keydesk token create --name ci --expires 90d)
keydesk token create --name laptop --json
keydesk token create --for uma@example.com --for ann@example.com --name deploy`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := models.ParseExpiry(expires)
			if err == nil && expires == "" {
				err = fmt.Errorf("%w: expiry is empty; use one of %s", models.ErrInvalid, strings.Join(models.Expiries, ", "))
			}
			if err != nil {
				return usageError{fmt.Errorf("--expires: %w", err)}
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			spec := store.TokenSpec{Name: name, Expires: ttl}
			if len(forUsers) > 0 {
				return assignTokens(g, cmd, s, a, forUsers, spec)
			}
			tok, secret, err := s.CreateToken(a, spec)
			if err != nil {
				return err
			}
			if !g.JSON {
				fmt.Fprintf(cmd.ErrOrStderr(), "Created %s %q (expires %s).\n", tok.ID, models.Sanitize(tok.Name), stamp(tok.ExpiresAt, "never"))
			}
			return printSecret(g, cmd, s, a, tok, secret)
		},
	}
	cmd.Flags().StringVar(&name, "name", "api-token", "a name that says where the token is used")
	cmd.Flags().StringVar(&expires, "expires", "never", "lifetime: "+strings.Join(models.Expiries, ", "))
	cmd.Flags().StringArrayVar(&forUsers, "for", nil, "assign to this user's or admin's email (owner; repeatable)")
	g.completeFlag(cmd, "expires", fixed(words(models.Expiries)))
	g.completeFlag(cmd, "for", g.completeEmails(assignable))
	return cmd
}

func assignTokens(g *Globals, cmd *cobra.Command, s *store.Store, a store.Actor, holders []string, spec store.TokenSpec) error {
	toks, err := s.AssignTokens(a, holders, spec)
	if err != nil {
		return err
	}
	views := make([]wire.Token, 0, len(toks))
	for _, t := range toks {
		views = append(views, wireToken(viewAfter(cmd, s, a, t)))
	}
	if g.JSON {
		return writeList(cmd.OutOrStdout(), views)
	}
	for _, v := range views {
		fmt.Fprintf(cmd.OutOrStdout(), "Assigned %s %q to %s; they reveal it once with: %s token reveal %s\n",
			v.ID, models.Sanitize(v.Name), v.HolderEmail, g.prog, v.ID)
	}
	return nil
}

func tokenListCmd(g *Globals) *cobra.Command {
	var all bool
	var user, filter string
	var limit int
	var oldest bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tokens, or every token (--all, owner)",
		Example: `keydesk token list
keydesk token list --all --filter deploy
keydesk token list --user uma@example.com --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && user != "" {
				return usagef("use either --all or --user, not both")
			}
			if limit < 0 {
				return usagef("--limit must be 0 (all) or more")
			}
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			q := store.TokenQuery{All: all, Holder: user, Filter: filter, Oldest: oldest}
			return listTokens(g, cmd, s, a, q, limit)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every token of the organization (owner)")
	cmd.Flags().StringVar(&user, "user", "", "tokens of this person's email (yourself, or anyone for the owner)")
	cmd.Flags().StringVar(&filter, "filter", "", "only tokens whose name, id, holder or status contains this text")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	cmd.Flags().BoolVar(&oldest, "oldest", false, "oldest first")
	g.completeFlag(cmd, "user", g.completeEmails(tokenHolders))
	return cmd
}

// listTokens streams the listing through Store.EachToken, which reads
// bounded pages and calls back between them, never while a transaction is
// open, so a slow client never holds the store; one call (not a ListTokens
// per page) keeps its holder-name cache for the whole listing.
func listTokens(g *Globals, cmd *cobra.Command, s *store.Store, a store.Actor, q store.TokenQuery, limit int) error {
	w := cmd.OutOrStdout()
	var arr *jsonArray
	var t *table
	if g.JSON {
		arr = newJSONArray(w)
	} else {
		t = newTable(w, "ID", "NAME", "HOLDER", "ROLE", "STATUS", "TOKEN", "CREATED", "EXPIRES", "LAST USED")
		// At a terminal narrower than the table (151 cells for the demo),
		// the columns token show repeats go first, rather than every row
		// wrapping onto two lines.
		t.fitTo(g.termWidth(w), cmd.ErrOrStderr(), "ROLE", "TOKEN", "LAST USED", "CREATED", "EXPIRES")
	}
	n := 0
	if arr != nil {
		// JSON is encoded straight from each stored record (wire.TokenRow):
		// a million tokens build no Token and allocate nothing per token.
		err := s.EachTokenRow(a, q, func(r *store.TokenRow) error {
			if limit > 0 && n >= limit {
				return errLimitReached
			}
			n++
			// On the stack: a row copied into a variable the closure
			// shares went through the collector's write barriers.
			wr := wire.TokenRow{ID: r.ID, Name: r.Name, Status: r.Status, MaskedTail: r.Tail, Role: r.Role,
				HolderID: r.HolderID, HolderName: r.HolderName, HolderEmail: r.HolderEmail, CreatedAt: r.CreatedAt,
				CreatedBy: r.CreatedBy, CreatedByName: r.CreatorName, Assigned: r.Assigned, Revealed: r.Revealed,
				ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy, RotatedAt: r.RotatedAt,
				RotatedTo: r.RotatedTo, GraceUntil: r.GraceUntil, LastUsedAt: r.LastUsedAt, LastUsedFrom: r.LastUsedBy}
			return arr.addRow(&wr, r.HolderRef, r.CreatorRef)
		})
		if err != nil && !errors.Is(err, errLimitReached) {
			return err
		}
		return arr.close()
	}
	err := s.EachToken(a, q, func(v store.TokenView) error {
		if limit > 0 && n >= limit {
			return errLimitReached
		}
		n++
		t.row(v.ID, v.Name, v.HolderEmail, string(v.Role), string(v.Status), v.Masked,
			stamp(v.CreatedAt, "—"), stamp(v.ExpiresAt, "never"), stamp(v.LastUsedAt, "never"))
		return nil
	})
	if err != nil && !errors.Is(err, errLimitReached) {
		return err
	}
	if n == 0 {
		// The hint is for a person; stdout stays what a script parses.
		if q.All || q.Holder != "" || q.Filter != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "No tokens match.")
		} else {
			fmt.Fprintf(cmd.ErrOrStderr(), "No tokens yet — create one with: %s token create --name NAME\n", g.prog)
		}
		return nil
	}
	return t.flush()
}

var errLimitReached = fmt.Errorf("limit reached")

func tokenShowCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show one token's details", Args: exactArgs(1, "one token ID"),
		Example:           `keydesk token show tok_0SdX1x6W3pQrZ1 --json`,
		ValidArgsFunction: g.completeTokenIDs,
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
				return writeJSON(cmd.OutOrStdout(), wireToken(v))
			}
			t := newTable(cmd.OutOrStdout(), "FIELD", "VALUE")
			by := v.CreatorName
			if v.Assigned {
				by = "assigned by " + v.CreatorName
			}
			lastUsed := stamp(v.LastUsedAt, "never")
			if v.LastUsedBy != "" {
				lastUsed += " from " + v.LastUsedBy
			}
			for _, kv := range [][2]string{{"id", v.ID}, {"name", v.Name}, {"holder", v.HolderName + " <" + v.HolderEmail + ">"},
				{"role", string(v.Role)}, {"status", string(v.Status)}, {"token", v.Masked}, {"created", stamp(v.CreatedAt, "—") + " by " + by},
				{"expires", stamp(v.ExpiresAt, "never")}, {"last used", lastUsed}} {
				t.row(kv[0], kv[1])
			}
			return t.flush()
		},
	}
}

func tokenRevokeAllCmd(g *Globals) *cobra.Command {
	var user string
	var yes, dry bool
	cmd := &cobra.Command{
		Use: "revoke-all --user EMAIL", Short: "Revoke every token of a person (owner)", Args: noArgs,
		Example: `keydesk token revoke-all --user uma@example.com --dry-run
keydesk token revoke-all --user uma@example.com --yes`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, a, err := g.Actor()
			if err != nil {
				return err
			}
			u, n, err := s.PreviewRevokeAllOf(a, user)
			if err != nil {
				return err
			}
			if dry {
				return printUserChange(g, cmd, u, n, true, fmt.Sprintf("Would revoke %s of %s <%s>; nothing changed.", plural(n, "token"), models.Sanitize(u.Name), u.Email))
			}
			if err := g.confirm(yes, fmt.Sprintf("Revoke all %d live tokens of %s <%s>?", n, u.Name, u.Email)); err != nil {
				return err
			}
			n, err = s.RevokeAllOf(a, user)
			if err != nil {
				return err
			}
			return printUserChange(g, cmd, u, n, false, fmt.Sprintf("Revoked %s of %s.", plural(n, "token"), u.Email))
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the person's email")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would be revoked, and change nothing")
	_ = cmd.MarkFlagRequired("user")
	g.completeFlag(cmd, "user", g.completeEmails(tokenHolders))
	return cmd
}

// printUserChange reports a change to a person that may have revoked tokens.
func printUserChange(g *Globals, cmd *cobra.Command, u models.User, revoked int, dry bool, text string) error {
	if g.JSON {
		return writeJSON(cmd.OutOrStdout(), wire.UserChange{User: wire.FromUser(u), TokensRevoked: revoked, DryRun: dry})
	}
	_, err := io.WriteString(cmd.OutOrStdout(), text+"\n")
	return err
}
