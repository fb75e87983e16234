package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// runConsole opens the console locally. (Wired to tui once it lands.)
func runConsole(g *Globals) error {
	return errors.New("the console is not built yet")
}

func demoCmd(g *Globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Seed a demo organization and open the console", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return errors.New("demo is not built yet") }}
}
