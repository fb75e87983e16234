package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/store/cluster"
	"google.golang.org/grpc/grpclog"
)

// TestGRPCLogsGoThroughKeydesksLogger: gRPC's process-wide log (the etcd
// client's connection messages) reaches the logger main hands it, warnings
// and above only, instead of gRPC's own stderr logger.
func TestGRPCLogsGoThroughKeydesksLogger(t *testing.T) {
	var buf bytes.Buffer
	cluster.RouteGRPCLogs(slog.New(slog.NewTextHandler(&buf, nil)))
	grpclog.Info("chatty connection detail")
	grpclog.Warning("subchannel to 127.0.0.1:2379 failed")
	out := buf.String()
	if !strings.Contains(out, "subchannel to 127.0.0.1:2379 failed") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("the warning did not reach keydesk's logger: %q", out)
	}
	if strings.Contains(out, "chatty connection detail") {
		t.Fatalf("gRPC info reached the log: %q", out)
	}
}
