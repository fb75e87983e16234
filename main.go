// Command keydesk is an admin console and token service for an organization's
// API refresh tokens. main only wires: flags and commands live in cli, the
// servers in daemon.
package main

import (
	"os"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/daemon"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, daemon.Command))
}
