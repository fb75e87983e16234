// Command keydesk is an admin console and token service for an organization's
// API refresh tokens. main only wires: flags and commands live in cli, the
// servers in daemon.
package main

import (
	"log/slog"
	"os"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/daemon"
	"github.com/keydesk/keydesk/store/cluster"
)

func main() {
	cluster.RouteGRPCLogs(slog.Default()) // before any etcd connection exists
	os.Exit(cli.Run(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, daemon.Command))
}
