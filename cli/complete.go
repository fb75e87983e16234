package cli

import (
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

// Dynamic completion (cobra's __complete): emails, token IDs, roles, expiry
// values and audit types. The store decides what the actor may see, so a
// user's completion offers their own email and tokens only. Every
// description is sanitized: it reaches the shell's terminal.

type completer = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

// Which people an email completion offers.
type peopleFilter func(models.User) bool

func anyone(models.User) bool         { return true }
func tokenHolders(u models.User) bool { return u.Role.CanHoldTokens() }
func belowOwner(u models.User) bool   { return u.Role != models.RoleOwner }
func assignable(u models.User) bool {
	return u.Role == models.RoleAdmin || u.Role == models.RoleUser
}

const noFiles = cobra.ShellCompDirectiveNoFileComp

// completeFlag registers fn to complete a flag's value, but only in a local
// run that is a completion request. cobra keeps flag completions in a
// package-level map keyed by flag that nothing ever clears: registered on
// every run, each SSH session's whole command tree would stay in memory for
// the life of the server. A local `keydesk __complete` exits right after;
// over SSH, flag values are not completed (the script is for a local
// keydesk; positional completions, held by the commands themselves, still
// answer).
func (g *Globals) completeFlag(cmd *cobra.Command, name string, fn completer) {
	if g.completing {
		_ = cmd.RegisterFlagCompletionFunc(name, fn)
	}
}

// completeEmails offers, for a flag, the emails of the people the actor may
// list (only their own for a user).
func (g *Globals) completeEmails(keep peopleFilter) completer {
	return func(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return g.emails(keep, prefix), noFiles
	}
}

// completeFirstEmail completes the first positional argument only.
func (g *Globals) completeFirstEmail(keep peopleFilter, then completer) completer {
	return func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return g.emails(keep, prefix), noFiles
		}
		if then != nil {
			return then(cmd, args, prefix)
		}
		return nil, noFiles
	}
}

func (g *Globals) emails(keep peopleFilter, prefix string) []cobra.Completion {
	s, a, err := g.Actor()
	if err != nil {
		return nil
	}
	users, err := s.ListUsers(a)
	if err != nil { // not a manager: only oneself
		u, perr := s.Profile(a)
		if perr != nil {
			return nil
		}
		users = []models.User{u}
	}
	var out []cobra.Completion
	for _, u := range users {
		if keep(u) && strings.HasPrefix(u.Email, strings.ToLower(prefix)) {
			out = append(out, cobra.CompletionWithDesc(u.Email, models.SanitizeLine(u.Name)+" ("+string(u.Role)+")"))
		}
	}
	return out
}

// completeTokenIDs offers the IDs of the tokens the actor may see (every
// token for the owner), described by name and holder.
func (g *Globals) completeTokenIDs(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, noFiles
	}
	s, a, err := g.Actor()
	if err != nil {
		return nil, noFiles
	}
	q := store.TokenQuery{All: true}
	if me, err := s.Profile(a); err != nil || !models.RoleMay(me.Role, models.ActTokenListAll) {
		q.All = false
	}
	var out []cobra.Completion
	_ = s.EachToken(a, q, func(v store.TokenView) error {
		if strings.HasPrefix(v.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(v.ID, models.SanitizeLine(v.Name)+" — "+v.HolderEmail+", "+string(v.Status)))
		}
		if len(out) >= 500 {
			return errLimitReached
		}
		return nil
	})
	return out, noFiles
}

// completeFingerprints offers the keys of the person named first.
func (g *Globals) completeFingerprints(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) != 1 {
		return nil, noFiles
	}
	s, a, err := g.Actor()
	if err != nil {
		return nil, noFiles
	}
	users, err := s.ListUsers(a)
	if err != nil {
		return nil, noFiles
	}
	var out []cobra.Completion
	for _, u := range users {
		if u.Email != strings.ToLower(args[0]) {
			continue
		}
		for _, k := range u.Keys {
			if strings.HasPrefix(k.Fingerprint, prefix) {
				out = append(out, cobra.CompletionWithDesc(k.Fingerprint, k.Type+" "+models.SanitizeLine(k.Comment)))
			}
		}
	}
	return out, noFiles
}

// completePendingKeys offers the actor's own keys that wait for approval.
func (g *Globals) completePendingKeys(_ *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, noFiles
	}
	s, a, err := g.Actor()
	if err != nil {
		return nil, noFiles
	}
	me, err := s.Profile(a)
	if err != nil {
		return nil, noFiles
	}
	var out []cobra.Completion
	for _, k := range me.Keys {
		if k.Pending && strings.HasPrefix(k.Fingerprint, prefix) {
			out = append(out, cobra.CompletionWithDesc(k.Fingerprint, k.Type+" "+models.SanitizeLine(k.Comment)+" (pending)"))
		}
	}
	return out, noFiles
}

// grantable roles: what set-role and add may give (never owner).
var grantable = []cobra.Completion{
	cobra.CompletionWithDesc("admin", "manages people, reads the audit log"),
	cobra.CompletionWithDesc("user", "has tokens of their own"),
	cobra.CompletionWithDesc("stakeholder", "sees their profile; no tokens"),
}

func fixed(values []cobra.Completion) completer {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, noFiles
	}
}

func words(ws []string) []cobra.Completion {
	out := make([]cobra.Completion, len(ws))
	copy(out, ws)
	return out
}
