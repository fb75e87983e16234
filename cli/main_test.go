package cli_test

import (
	"os"
	"testing"

	"github.com/keydesk/keydesk/cli"
)

// TestMain lets the test binary stand in for keydesk in a real shell (the
// completion tests source its script in bash): with KEYDESK_CLI_TEST_MAIN=1
// it runs the command line instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("KEYDESK_CLI_TEST_MAIN") == "1" {
		os.Exit(cli.Run(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}
