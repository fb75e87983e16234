package api_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/charmbracelet/log"

	"github.com/keydesk/keydesk/api"
	"github.com/keydesk/keydesk/store"
)

// How `keydesk serve` wires the token service beside the SSH server: one
// store, one HTTP server with its limits, and the SSH server's session count
// exported on /metrics.
func Example() {
	s, err := store.Open(os.Getenv("KEYDESK_DATA"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	srv, err := api.New(s, api.Options{AccessTTL: time.Hour, Logger: log.Default()})
	if err != nil {
		log.Fatal(err)
	}
	activeSessions := func() float64 { return 0 } // the SSH server's counter
	srv.SetActiveSessionsFunc(activeSessions)

	hs := srv.HTTPServer(":23235")
	go func() {
		if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http", "err", err)
		}
	}()
	// … on shutdown:
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
}
