package cli

import (
	"errors"
	"fmt"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/tui"
	"github.com/keydesk/keydesk/tui/firstrun"
	"github.com/spf13/cobra"
)

// runConsole opens the console locally as --as or the owner. An empty data
// directory first shows the form that creates the organization.
func runConsole(g *Globals) error {
	s, err := g.Store()
	if err != nil {
		return err
	}
	ok, err := s.Initialized()
	if err != nil {
		return err
	}
	if !ok {
		if g.As != "" {
			return fmt.Errorf("%w: there is no organization in %s yet, so no %s", models.ErrNotFound, s.Dir(), models.Sanitize(g.As))
		}
		nu, submitted, err := firstrun.Run(s.Dir())
		if err != nil {
			return err
		}
		if !submitted {
			return errors.New("no organization created; run `keydesk` again or `keydesk init` when ready")
		}
		if _, err := s.Init(nu, "console"); err != nil {
			return err
		}
	}
	_, a, err := g.Actor()
	if err != nil {
		return err
	}
	return tui.Run(tui.Options{Backend: s, UserID: a.UserID, Via: "console"})
}

func demoCmd(g *Globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Seed a demo organization and open the console", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return errors.New("demo is not built yet") }}
}
