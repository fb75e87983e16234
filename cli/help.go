package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/keydesk/keydesk/models"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is the width --help is written for: an 80-column terminal.
const helpWidth = 80

// usageTemplate is cobra's, with every command line and example written as
// the person types it: over SSH "ssh -p PORT HOST token create", not
// "keydesk token create".
const usageTemplate = `Usage:{{if .Runnable}}
  {{useLine .}}{{end}}{{if .HasAvailableSubCommands}}
  {{cmdPath .}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{example .}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{flagUsages .LocalFlags}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{flagUsages .InheritedFlags}}{{end}}{{if .HasHelpSubCommands}}

Help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{cmdPath .}} [command] --help" for more information about a command.{{end}}
`

func (g *Globals) usage(c *cobra.Command) error {
	t := template.Must(template.New("usage").Funcs(template.FuncMap{
		"useLine": func(c *cobra.Command) string { return g.prog + strings.TrimPrefix(c.UseLine(), "keydesk") },
		"cmdPath": g.path,
		"example": func(c *cobra.Command) string { return g.examples(c.Example) },
		"rpad":    func(s string, n int) string { return fmt.Sprintf("%-*s", n, s) },
		// Flag text wraps under its column at 80 (a --store line was 159
		// wide, so every --help wrapped mid-word in an 80-column terminal).
		"flagUsages": func(fs *pflag.FlagSet) string {
			return strings.TrimRight(fs.FlagUsagesWrapped(helpWidth), " \t\n")
		},
	}).Parse(usageTemplate))
	return t.Execute(c.OutOrStderr(), c)
}

// progWord is "keydesk" as a command: at the start of a line or after a
// shell's separator, e.g. "TOKEN=$(keydesk token create)".
var progWord = regexp.MustCompile(`(^|[\s(;|&])keydesk `)

// examples indents each example line and writes "keydesk …" as this run's
// program ("ssh -p 23234 localhost …" over SSH).
func (g *Globals) examples(ex string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(ex), "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("  " + progWord.ReplaceAllString(line, "${1}"+g.prog+" "))
	}
	return b.String()
}

// helpCmd is `keydesk help [command|topic]`; an unknown topic is a usage
// error with a suggestion, not a page of usage on stdout.
func helpCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command|topic]",
		Short: "Help about any command, or a topic: roles, tokens, json",
		Example: `keydesk help token create
keydesk help roles`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if (sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand()) && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || len(rest) > 0 {
				target := c.Root()
				if cmd != nil {
					target = cmd
				}
				word := strings.Join(args, " ")
				if len(rest) > 0 {
					word = rest[0]
				}
				return usageError{errors.New(fmt.Sprintf("no help topic %q", models.Sanitize(word)) + suggest(target, word))}
			}
			return cmd.Help()
		},
	}
}

// helpTopics are pages for `keydesk help TOPIC`: what a person needs to know
// that belongs to no single command. The repository's docs/ say the same at
// length.
func helpTopics() []*cobra.Command {
	return []*cobra.Command{
		{Use: "roles", Short: "Who may do what: owner, admin, user, stakeholder", Long: rolesHelp},
		{Use: "tokens", Short: "Refresh tokens: format, statuses, expiry, rotation, reveal once", Long: tokensHelp},
		{Use: "json", Short: "What --json prints: field names, times, lists", Long: jsonHelp},
	}
}

const rolesHelp = `Roles (docs/roles.md)

Every person has one role. The store checks it on every change, whichever door
the change comes through (console, CLI, SSH or HTTP).

  owner        exactly one: the Account Owner. Everything below, plus: sees
               every token, assigns tokens to users and admins (never seeing
               the secret), revokes anyone's tokens, transfers ownership,
               takes backups.
  admin        manages people (add, remove, change roles below owner, SSH keys)
               and reads the audit log; has tokens of their own.
  user         generates, rotates, reveals and revokes their own tokens.
  stakeholder  sees their own profile; holds no tokens.

A token carries its holder's role at creation; it acts with the lower of that
and the holder's current role. Demoting someone to stakeholder, or removing
them, revokes every token they hold.

  keydesk user set-role uma@example.com admin
  keydesk user transfer-ownership ada@example.com`

const tokensHelp = `Refresh tokens (docs/tokens.md)

A refresh token is "kdr_" + 43 base62 characters (32 random bytes) + a
6-character CRC32 checksum: 53 characters. Its secret is shown once, to its
creator, or for an assigned token to its holder on their one reveal; keydesk
keeps only an HMAC of it. Elsewhere it shows masked: kdr_… and its last six.

Statuses: active, awaiting reveal (assigned, not yet revealed), expired,
revoked, rotated (replaced; the old secret works for 10 more minutes, then any
use is refused and audited as reuse).

Expiry (--expires): exactly one of 7d, 30d, 90d, 1y or never (the default).
Each holder may have 25 active tokens.

  keydesk token create --name ci --expires 90d      # the secret, on stdout
  keydesk token create --for uma@example.com --name deploy
  keydesk token reveal tok_…                         # the holder, once
  keydesk token rotate tok_…
  keydesk token revoke tok_…`

const jsonHelp = `JSON output (docs/json.md)

With --json every command prints what it read or changed as JSON on stdout,
in the same shapes as the HTTP API's /v3 bodies ("data" there):

  user       id, name, email, role, keys, created_at, removed, removed_at
  key        fingerprint, type, comment, added_at, added_by, pending
  token      id, name, status, masked, role, holder_id, holder_name,
             holder_email, created_at, created_by, created_by_name, assigned,
             revealed, expires_at, revoked_at, revoked_by, rotated_at,
             rotated_to, grace_until, last_used_at, last_used_from
  audit      seq, at, type, actor_id, actor_email, target_id, target_email,
             token_id, detail, via

Every field is always present. Times are RFC 3339 in UTC at second precision
("2026-01-02T15:04:05Z"), or null when there is none. A list is a JSON array,
streamed one element per line ([] when empty). A secret appears only as
"refresh_token", beside the token it belongs to (token create, reveal, rotate).
A change that revokes tokens adds "tokens_revoked"; --dry-run adds
"dry_run": true and changes nothing.

  keydesk token list --all --json | jq -r '.[] | select(.status == "active") | .id'`
