// Package daemon is `keydesk serve`: the SSH console and command server and
// the HTTP token service over one store, until SIGTERM or SIGINT.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/internal/memreturn"
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
	// TLSCert and TLSKey are PEM files; with them HTTP is HTTPS (HTTP/2 and
	// HTTP/1.1), reloaded whenever Reload receives.
	TLSCert, TLSKey string
	// InsecureHTTP allows plain HTTP on an address other machines can reach
	// (behind a TLS-terminating proxy). Without it and without TLS, HTTPAddr
	// must be a loopback address: bearer and refresh tokens are in every
	// request.
	InsecureHTTP bool
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []string
	// MetricsAddr, when set, serves GET /metrics there (plain HTTP) instead
	// of on HTTPAddr.
	MetricsAddr string
	// Reload makes the server load the TLS certificate again (SIGHUP).
	Reload <-chan os.Signal
	Logger *log.Logger
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
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg.Reload = hup
			if !cmd.Flags().Changed("http-addr") && cfg.TLSCert == "" && !cfg.InsecureHTTP {
				// Plain HTTP carries tokens in clear text: this machine only.
				cfg.HTTPAddr = "127.0.0.1:23235"
			}
			cfg.Logger = log.NewWithOptions(cmd.ErrOrStderr(), log.Options{ReportTimestamp: true, Prefix: "keydesk"})
			// The store is closed by cli when this returns, after both
			// servers have stopped.
			return Serve(ctx, s, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.SSHAddr, "ssh-addr", sshserver.DefaultAddr, "SSH listen address")
	f.StringVar(&cfg.HTTPAddr, "http-addr", ":23235", "HTTP listen address (empty to disable); without --tls-cert the default is 127.0.0.1:23235")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) for HTTPS; reloaded on SIGHUP")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)")
	f.StringSliceVar(&cfg.TrustedProxies, "trusted-proxy", nil, "CIDR or address of a reverse proxy whose X-Forwarded-For names the client (repeatable)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve GET /metrics on this address instead of the HTTP address")
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
		return fmt.Errorf("no organization in %s yet: run `keydesk init --owner-name NAME --owner-email EMAIL --owner-key ~/.ssh/id_ed25519.pub` first, or set %s to the owner's public key (text or file)", s.Location(), EnvOwnerKey)
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

// Heap held beyond the live objects goes back to the OS when more than
// memReturnOver of it is held at a check, made every memReturnEvery, and
// less than that was allocated since the previous one: after a burst, once
// the server is quiet again; never more than one forced collection a check.
const (
	memReturnEvery = 2 * time.Second
	memReturnOver  = 8 << 20
)

// listenError says what to do about an address serve cannot listen on: most
// often the port is another program's, such as another keydesk serve.
func listenError(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use by another program (another keydesk serve?): stop it, or give %s another address", addr, flag)
	}
	return fmt.Errorf("cannot listen on %s (%s): %w", addr, flag, err)
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
	var certs *certReloader
	if cfg.HTTPAddr != "" {
		switch {
		case (cfg.TLSCert == "") != (cfg.TLSKey == ""):
			return errors.New("give both --tls-cert and --tls-key, or neither")
		case cfg.TLSCert != "":
			var err error
			if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey); err != nil {
				return err
			}
		case !cfg.InsecureHTTP && !loopbackOnly(cfg.HTTPAddr):
			return fmt.Errorf("plain HTTP on %s would send tokens in clear text to other machines: give --tls-cert and --tls-key, listen on 127.0.0.1 (--http-addr 127.0.0.1:23235), or pass --insecure-http if a TLS proxy is in front", cfg.HTTPAddr)
		}
	}
	proxies, err := parseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return err
	}
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
		return listenError("--ssh-addr", cfg.SSHAddr, err)
	}

	var httpSrv, metricsSrv *http.Server
	var httpLn, metricsLn net.Listener
	if cfg.HTTPAddr != "" {
		apiSrv, err := api.New(s, api.Options{AccessTTL: cfg.AccessTTL, Logger: logger.WithPrefix("http"),
			TrustedProxies: proxies, NoMetricsRoute: cfg.MetricsAddr != ""})
		if err != nil {
			return err
		}
		apiSrv.SetActiveSessionsFunc(func() float64 { return float64(sshSrv.ActiveSessions()) })
		httpSrv = apiSrv.HTTPServer(cfg.HTTPAddr)
		if certs != nil {
			httpSrv.TLSConfig = certs.tlsConfig()
		}
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return listenError("--http-addr", cfg.HTTPAddr, err)
		}
		// One address may hold only so many connections: idle keep-alives
		// would otherwise use up the descriptors SSH needs too.
		httpLn = apiSrv.Listener(httpLn)
		if cfg.MetricsAddr != "" {
			metricsSrv = &http.Server{Handler: apiSrv.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second,
				WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
			if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
				return listenError("--metrics-addr", cfg.MetricsAddr, err)
			}
			metricsLn = apiSrv.Listener(metricsLn)
		}
	}

	errc := make(chan error, 3)
	go func() { errc <- sshSrv.Serve() }()
	// Console logins come in bursts whose garbage the runtime would keep
	// for minutes after collecting it; give it back (internal/memreturn).
	go memreturn.Run(ctx, memReturnEvery, memReturnOver)
	var httpAddr net.Addr
	if httpSrv != nil {
		httpAddr = httpLn.Addr()
		if certs != nil {
			logger.Info("HTTP listening", "addr", httpAddr.String(), "tls", true)
		} else {
			logger.Info("HTTP listening", "addr", httpAddr.String(), "tls", false)
		}
		go func() {
			var err error
			if certs != nil {
				err = httpSrv.ServeTLS(httpLn, "", "")
			} else {
				err = httpSrv.Serve(httpLn)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	if metricsSrv != nil {
		logger.Info("metrics listening", "addr", metricsLn.Addr().String())
		go func() {
			err := metricsSrv.Serve(metricsLn)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	if cfg.Reload != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-cfg.Reload:
				}
				if certs == nil {
					logger.Info("SIGHUP: no TLS certificate to reload")
					continue
				}
				if err := certs.reload(); err != nil {
					logger.Error("TLS certificate not reloaded; serving the previous one", "err", err)
					continue
				}
				logger.Info("TLS certificate reloaded", "cert", cfg.TLSCert)
			}
		}()
	}
	logger.Info("SSH listening", "addr", sshAddr.String(), "data", s.Location())
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
	if metricsSrv != nil {
		_ = metricsSrv.Close()
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
