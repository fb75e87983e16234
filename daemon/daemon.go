// Package daemon is `keydesk serve`: the SSH console and command server and
// the HTTP token service over one store, until SIGTERM or SIGINT.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/sshserver"
	"github.com/keydesk/keydesk/store"
	"github.com/spf13/cobra"
)

// Environment variables read on the first start of an empty organization.
const (
	EnvOwnerKey   = "KEYDESK_INITIAL_OWNER_KEY"
	EnvOwnerEmail = "KEYDESK_INITIAL_OWNER_EMAIL"
	EnvOwnerName  = "KEYDESK_INITIAL_OWNER_NAME"

	defaultOwnerEmail = "owner@keydesk.localhost" // models wants a dotted domain; .localhost never resolves elsewhere
	defaultOwnerName  = "Account Owner"
)

// Config is what `keydesk serve` runs with.
type Config struct {
	SSHAddr         string
	HTTPAddr        string // empty: no HTTP server
	AccessTTL       time.Duration
	IdleTimeout     time.Duration
	MaxTimeout      time.Duration
	ShutdownTimeout time.Duration
	Logger          *log.Logger
	// Ready, when set, is called with the bound addresses once both servers
	// listen (tests use it to learn :0 ports).
	Ready func(ssh, http net.Addr)
}

// Command is the serve command, added to the CLI as a local-only extension.
func Command(g *cli.Globals) *cobra.Command {
	cfg := Config{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the console and commands over SSH and the token API over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.OpenOrCreate()
			if err != nil {
				return err
			}
			if err := EnsureOwner(s, g.Env().Getenv); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.Logger = log.NewWithOptions(cmd.ErrOrStderr(), log.Options{ReportTimestamp: true, Prefix: "keydesk"})
			// The store is closed by cli when this returns, after both
			// servers have stopped.
			return Serve(ctx, s, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.SSHAddr, "ssh-addr", sshserver.DefaultAddr, "SSH listen address")
	f.StringVar(&cfg.HTTPAddr, "http-addr", ":23235", "HTTP listen address (empty to disable)")
	f.DurationVar(&cfg.AccessTTL, "access-ttl", time.Hour, "lifetime of issued access tokens")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", sshserver.DefaultIdleTimeout, "close SSH connections idle this long")
	f.DurationVar(&cfg.MaxTimeout, "max-timeout", sshserver.DefaultMaxTimeout, "close SSH connections this long after they open (0: default, negative: never)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", sshserver.DefaultShutdownTimeout, "how long running sessions and requests get to finish on SIGTERM")
	return cmd
}

// EnsureOwner creates the Account Owner from KEYDESK_INITIAL_OWNER_KEY when
// the organization is empty, so a container can start serving without an
// interactive `keydesk init`. Without the variable it fails with what to run.
func EnsureOwner(s *store.Store, getenv func(string) string) error {
	ok, err := s.Initialized()
	if err != nil || ok {
		return err
	}
	keyArg := strings.TrimSpace(getenv(EnvOwnerKey))
	if keyArg == "" {
		return fmt.Errorf("no organization in %s yet: run `keydesk init --owner-name NAME --owner-email EMAIL --owner-key ~/.ssh/id_ed25519.pub` first, or set %s to the owner's public key (text or file)", s.Dir(), EnvOwnerKey)
	}
	keyText, err := readKey(keyArg)
	if err != nil {
		return err
	}
	nu := store.NewUser{
		Name:  orDefault(getenv(EnvOwnerName), defaultOwnerName),
		Email: orDefault(getenv(EnvOwnerEmail), defaultOwnerEmail),
		Role:  models.RoleOwner,
		Keys:  []string{keyText},
	}
	if _, err := s.Init(nu, "serve"); err != nil {
		return fmt.Errorf("create the owner from %s: %w", EnvOwnerKey, err)
	}
	return nil
}

// readKey accepts an authorized_keys line or a path to a file holding one
// (models.SSHKeyArg decides which, as at every other door).
func readKey(arg string) (string, error) {
	k, err := models.SSHKeyArg(arg, true)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvOwnerKey, err)
	}
	return k, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

// Serve runs the SSH server and, when cfg.HTTPAddr is set, the HTTP server
// over the one store until ctx is done, then shuts both down within
// cfg.ShutdownTimeout. A failure of either server stops the other.
func Serve(ctx context.Context, s *store.Store, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = sshserver.DefaultShutdownTimeout
	}
	logger := cfg.Logger
	sshSrv, err := sshserver.New(sshserver.Options{
		Addr:        cfg.SSHAddr,
		Store:       s,
		IdleTimeout: cfg.IdleTimeout,
		MaxTimeout:  cfg.MaxTimeout,
		Logger:      logger,
		Version:     cli.Version,
	})
	if err != nil {
		return err
	}
	sshAddr, err := sshSrv.Listen()
	if err != nil {
		return err
	}

	var httpSrv *http.Server
	var httpLn net.Listener
	if cfg.HTTPAddr != "" {
		apiSrv, err := api.New(s, api.Options{AccessTTL: cfg.AccessTTL, Logger: logger.WithPrefix("http")})
		if err != nil {
			return err
		}
		apiSrv.SetActiveSessionsFunc(func() float64 { return float64(sshSrv.ActiveSessions()) })
		httpSrv = apiSrv.HTTPServer(cfg.HTTPAddr)
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
	}

	errc := make(chan error, 2)
	go func() { errc <- sshSrv.Serve() }()
	var httpAddr net.Addr
	if httpSrv != nil {
		httpAddr = httpLn.Addr()
		logger.Info("HTTP listening", "addr", httpAddr.String())
		go func() {
			err := httpSrv.Serve(httpLn)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	logger.Info("SSH listening", "addr", sshAddr.String(), "data", s.Dir())
	if cfg.Ready != nil {
		cfg.Ready(sshAddr, httpAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-errc:
		logger.Error("server stopped", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := sshSrv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("ssh shutdown: %w", err)
	}
	if httpSrv != nil {
		if err := httpSrv.Shutdown(sctx); err != nil {
			_ = httpSrv.Close()
			if runErr == nil && !errors.Is(err, context.DeadlineExceeded) {
				runErr = fmt.Errorf("http shutdown: %w", err)
			}
		}
	}
	s.FlushUsage()
	logger.Info("stopped")
	return runErr
}
