// Package cli is keydesk's command line: one cobra tree that runs locally (on a
// data directory) and over SSH (as the key's user, on the server's store). Every
// command is a thin shell over store calls; the store decides who may do what.
package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Version is set at build time with -ldflags "-X github.com/keydesk/keydesk/cli.Version=…".
var Version = "dev"

// Env is where a command run reads and writes.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Session is set when commands run over SSH: the store and the
	// authenticated user are given, and --data, --as, init, serve and demo are
	// absent, as is any access to the server's files.
	Session *Session
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// Interactive says a person answers on Stdin: destructive commands then
	// ask before they act. Left false, it is true when Stdin and Stderr are
	// terminals.
	Interactive bool
}

// Session is the identity and store of a remote command run.
type Session struct {
	Store  *store.Store
	UserID string
	Via    string
	// Key is the fingerprint of the SSH key the session logged in with; the
	// store refuses the session's commands once it is removed (store.Actor.Key).
	Key string
	// Addr is the server address the client reached (host:port), so help
	// and hints show the command to type: ssh -p PORT HOST ….
	Addr string
	// Pty says the client asked for a terminal (ssh -t): prompts then echo
	// what is typed, since the client's terminal is in raw mode.
	Pty bool
}

// Globals are the root flags and the lazily opened store they lead to.
type Globals struct {
	DataDir string
	JSON    bool
	As      string
	Etcd    StoreFlags // --store and its TLS and KEK flags (etcdstore.go)

	env  Env
	prog string // "keydesk", or over SSH "ssh -p PORT HOST"
	// completing is a local shell-completion request (completeFlag).
	completing bool
	store      *store.Store
	owned      bool // the store was opened here and must be closed here
}

// Extension adds a local-only command (such as serve) that lives in a package
// which itself needs cli, avoiding an import cycle.
type Extension func(g *Globals) *cobra.Command

// usageError marks mistakes in how a command was called: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Run executes args and returns the exit status: 0 success, 1 failure, 2 usage.
// Errors are printed as one line on Stderr.
func Run(args []string, env Env, ext ...Extension) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if !env.Interactive && env.Session == nil {
		env.Interactive = isTerminal(env.Stdin) && isTerminal(env.Stderr)
	}
	g := &Globals{env: env, prog: progName(env.Session),
		completing: env.Session == nil && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, cobra.ShellCompRequestCmd) })}
	root := newRoot(g, ext)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	completionShells(root) // after SetOut: its scripts go where it is then
	cmd, err := root.ExecuteC()
	if cerr := g.closeStore(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		return 0
	}
	msg := oneLine(err.Error())
	if errors.Is(err, models.ErrNotFound) && cmd != nil && cmd.Parent() != nil && cmd.Parent().Name() == "token" && !strings.Contains(msg, "`") {
		// A token ID that names nothing (a typo, another person's token)
		// gets where to find the right one, as an unknown email does.
		msg += "; see `keydesk token list` (the owner: `keydesk token list --all`)"
	}
	if env.Session != nil {
		// The store's hints name commands as typed locally; over SSH they
		// are typed as ssh -p PORT HOST ….
		msg = strings.ReplaceAll(msg, "`keydesk ", "`"+g.prog+" ")
	}
	if stray := (strayArgsError{}); env.Session != nil && errors.As(err, &stray) {
		example := `… "a value with spaces"`
		switch {
		case strings.HasPrefix(stray.word, "AAAA") && cmd.Flags().Lookup("key") != nil:
			// The middle of an unquoted "ssh-ed25519 AAAA… you@host".
			example = `--key "ssh-ed25519 AAAA… you@host"`
		case strings.HasPrefix(stray.word, "AAAA"):
			example = `EMAIL "ssh-ed25519 AAAA… you@host"`
		case cmd.Flags().Lookup("name") != nil:
			example = `--name "my laptop"`
		}
		msg += fmt.Sprintf("; over SSH quote the whole command so a value with spaces arrives whole: %s '%s %s'",
			g.prog, strings.TrimPrefix(cmd.CommandPath(), "keydesk "), example)
	}
	if isUsage(err) {
		// One line: what was wrong, and where the right way is written.
		fmt.Fprintf(env.Stderr, "keydesk: %s (see '%s')\n", msg, g.helpFor(cmd))
		return 2
	}
	fmt.Fprintf(env.Stderr, "keydesk: %s\n", msg)
	return 1
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// progName is how a person types keydesk: locally its name, over SSH the
// ssh command that reaches this server.
func progName(s *Session) string {
	if s == nil {
		return "keydesk"
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return "ssh -p PORT HOST"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		host = "localhost"
	}
	if port == "22" {
		return "ssh " + host
	}
	return "ssh -p " + port + " " + host
}

// SSHProg is how a person reaches the SSH server listening on addr (the
// session's local address): "ssh -p PORT HOST", as hints over SSH write it.
func SSHProg(addr string) string { return progName(&Session{Addr: addr}) }

// path is cmd's command line as the person types it ("keydesk token create",
// or "ssh -p 23234 localhost token create").
func (g *Globals) path(cmd *cobra.Command) string {
	if cmd == nil {
		return g.prog
	}
	return g.prog + strings.TrimPrefix(cmd.CommandPath(), "keydesk")
}

// helpFor is how to ask for cmd's help. Over SSH it is "ssh … help token
// create": ssh itself would take a --help right after the host.
func (g *Globals) helpFor(cmd *cobra.Command) string {
	if g.env.Session == nil || cmd == nil {
		return g.path(cmd) + " --help"
	}
	return g.prog + " help" + strings.TrimPrefix(cmd.CommandPath(), "keydesk")
}

// Prog is how a person runs keydesk in this run: "keydesk" locally, the ssh
// command over SSH.
func (g *Globals) Prog() string { return g.prog }

func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra reports these as plain errors; their wording is stable.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "required flag", "accepts ", "requires at least", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// oneLine keeps error output to one sanitized line.
func oneLine(s string) string {
	return models.SanitizeLine(s)
}

func newRoot(g *Globals, ext []Extension) *cobra.Command {
	remote := g.env.Session != nil
	root := &cobra.Command{
		Use:           "keydesk",
		Short:         "Manage an organization's API refresh tokens",
		Long:          "keydesk manages an organization's API refresh tokens: people generate their own,\nthe Account Owner assigns and revokes them, and services exchange them for\naccess tokens. Run without a command, it opens the console.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          unknownCommand,
		Example: `keydesk token create --name ci --expires 90d
keydesk token list --all --json
keydesk help roles`,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{g.flagError(c, err)} })
	root.PersistentFlags().BoolVar(&g.JSON, "json", false, "machine-readable JSON output (docs/json.md)")
	if !remote {
		root.PersistentFlags().StringVar(&g.DataDir, "data", "", "data directory (env KEYDESK_DATA; default $XDG_DATA_HOME/keydesk)")
		root.PersistentFlags().StringVar(&g.As, "as", "", "act as this user's email (default: the owner)")
		g.completeFlag(root, "as", g.completeEmails(anyone))
		g.addStoreFlags(root)
		root.RunE = func(cmd *cobra.Command, _ []string) error { return runConsole(g) }
		root.AddCommand(initCmd(g), demoCmd(g), checkCmd(g), compactCmd(g), copyCmd(g))
		for _, e := range ext {
			root.AddCommand(e(g))
		}
	} else {
		root.Example = strings.ReplaceAll(root.Example, "keydesk help roles", "keydesk backup > keydesk-backup.db")
		root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	root.AddCommand(whoamiCmd(g), userCmd(g), tokenCmd(g), auditCmd(g), backupCmd(g), versionCmd(g))
	root.AddCommand(helpTopics()...)
	root.SetHelpCommand(helpCmd(g))
	root.SetUsageFunc(g.usage)
	return root
}

// completionShells makes `completion SHELL` with a shell cobra has no script
// for a usage error that names the shells (it printed the help page and
// exited 0, so `keydesk completion tcsh > file` wrote help into the file).
func completionShells(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usagef("no completion for %q; give one of bash, zsh, fish or powershell", models.Sanitize(args[0]))
		}
	}
}

// unknownCommand refuses positional arguments where only subcommands may
// follow, suggesting the nearest command as gh does.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError{errors.New(fmt.Sprintf("unknown command %q", models.Sanitize(args[0])) + suggest(cmd, args[0]))}
}

// suggest is "; did you mean "token"?" for a mistyped command or help
// topic: the nearest by edit distance (at most 2), or a name it begins.
func suggest(cmd *cobra.Command, word string) string {
	best, bestD := "", 3
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			continue
		}
		d := editDistance(strings.ToLower(word), c.Name())
		if strings.HasPrefix(c.Name(), strings.ToLower(word)) && len(word) > 0 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c.Name(), d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// flagSuggestion adds "did you mean --all?" to an unknown long flag.
// flagError words a flag mistake for a person: a value of the wrong kind
// says what kind it takes (pflag's own text ends in strconv's, e.g.
// `strconv.ParseInt: parsing "abc": invalid syntax`); over SSH a flag left
// without its value says how to send an empty one, which ssh drops unless it
// is quoted for the remote side too; an unknown flag suggests the nearest.
func (g *Globals) flagError(c *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		if kind := valueKind(bad.GetFlag().Value.Type()); kind != "" {
			return fmt.Errorf("--%s takes %s, not %q", bad.GetFlag().Name, kind, bad.GetValue())
		}
		return err
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag needs an argument: --"); ok && g.env.Session != nil {
		if f := c.Flags().Lookup(name); f != nil && f.Value.Type() == "string" {
			return fmt.Errorf("%w; ssh drops an empty value unless it is quoted twice, as in --%s '\"\"'", err, name)
		}
	}
	return flagSuggestion(c, err)
}

// valueKind is what a flag of pflag type typ takes, in words; "" for types
// whose own errors already say it.
func valueKind(typ string) string {
	switch typ {
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "a whole number"
	case "duration":
		return "a duration such as 90s, 10m or 1h"
	case "bool":
		return "true or false"
	}
	return ""
}

func flagSuggestion(c *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	best, bestD := "", 3
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best == "" {
		return err
	}
	return fmt.Errorf("%w; did you mean --%s?", err, best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Remote reports whether commands run over SSH.
func (g *Globals) Remote() bool { return g.env.Session != nil }

// Env returns the run's environment.
func (g *Globals) Env() Env { return g.env }

// ResolveDataDir returns the data directory from --data, KEYDESK_DATA or the
// XDG default.
func (g *Globals) ResolveDataDir() (string, error) {
	if g.DataDir != "" {
		return g.DataDir, nil
	}
	if d := g.env.Getenv("KEYDESK_DATA"); d != "" {
		return d, nil
	}
	if x := g.env.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "keydesk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a data directory: set --data or KEYDESK_DATA")
	}
	return filepath.Join(home, ".local", "share", "keydesk"), nil
}

// Store opens an existing organization once per run (locally) or returns the
// session's. A data directory that holds no database is an error that says how
// to create one, so a mistyped --data never leaves an empty database behind.
func (g *Globals) Store() (*store.Store, error) { return g.open(false) }

// OpenOrCreate is Store for the commands that may start a new organization:
// init, serve and the console's first-run form.
func (g *Globals) OpenOrCreate() (*store.Store, error) { return g.open(true) }

func (g *Globals) open(create bool) (*store.Store, error) {
	if g.store != nil {
		return g.store, nil
	}
	if g.env.Session != nil {
		g.store = g.env.Session.Store
		return g.store, nil
	}
	if g.StoreURL() != "" {
		s, err := g.openEtcd(create)
		if err != nil {
			return nil, err
		}
		g.store, g.owned = s, true
		return s, nil
	}
	dir, err := g.ResolveDataDir()
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(dir, create); err != nil {
		return nil, err
	}
	if !create {
		if _, err := os.Stat(filepath.Join(dir, kvbolt.File)); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s; run `keydesk init --owner-name NAME --owner-email EMAIL`, `keydesk` for the first-run form, or `keydesk demo`", models.ErrNotInitialized, dir)
		}
	}
	var opts store.Options
	if g.completing {
		// A TAB must not wait the second a held file gets: a server holding
		// the directory means nothing to offer, at once.
		opts.OpenTimeout = 100 * time.Millisecond
	}
	s, err := store.Open(dir, opts)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && errors.Is(pe.Err, fs.ErrPermission) {
		return nil, fmt.Errorf("cannot open %s: %v; give --data (or KEYDESK_DATA) a directory of your own that you can write", models.Sanitize(pe.Path), pe.Err)
	}
	if err != nil {
		return nil, err
	}
	g.store, g.owned = s, true
	return s, nil
}

// prepareDataDir checks dir before the store opens it, so a --data that is a
// file or cannot be made gets one line that says so and what to give
// instead, rather than mkdir's bare error. When create is set it makes dir
// (0700), as the store would.
func prepareDataDir(dir string, create bool) error {
	const fix = "give --data (or KEYDESK_DATA) a directory"
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data directory %s is a file, not a directory; %s", models.Sanitize(dir), fix)
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("data directory %s is under a file, not a directory; %s", models.Sanitize(dir), fix)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot use data directory %s: %v; %s", models.Sanitize(dir), pathErrno(err), fix)
	case !create:
		return nil // the caller says there is no organization yet
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create data directory %s: %v; %s you can write", models.Sanitize(dir), pathErrno(err), fix)
	}
	return nil
}

// pathErrno is err's system error ("permission denied") without the path
// and operation, which the message around it already names.
func pathErrno(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (g *Globals) closeStore() error {
	if g.owned && g.store != nil {
		err := g.store.Close()
		g.store, g.owned = nil, false
		return err
	}
	return nil
}

// Actor resolves who acts: the SSH session's user, or locally --as EMAIL, or the
// owner, since whoever holds the data directory holds the organization.
func (g *Globals) Actor() (*store.Store, store.Actor, error) {
	s, err := g.Store()
	if err != nil {
		return nil, store.Actor{}, err
	}
	if g.env.Session != nil {
		return s, store.Actor{UserID: g.env.Session.UserID, Via: g.env.Session.Via, Key: g.env.Session.Key}, nil
	}
	if g.As != "" {
		u, err := s.User(g.As)
		if err != nil {
			return nil, store.Actor{}, fmt.Errorf("--as: %w", err)
		}
		return s, store.Actor{UserID: u.ID, Via: "cli"}, nil
	}
	o, err := s.Owner()
	if errors.Is(err, models.ErrNotInitialized) {
		return nil, store.Actor{}, fmt.Errorf("no organization in %s yet; run `keydesk init --owner-name NAME --owner-email EMAIL` or `keydesk demo`", s.Location())
	}
	if err != nil {
		return nil, store.Actor{}, err
	}
	return s, store.Actor{UserID: o.ID, Via: "cli"}, nil
}
