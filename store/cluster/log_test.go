package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestEtcdClientLogLevels: the etcd client's warnings reach keydesk's logger
// as warnings, except those about a call keydesk cancelled itself, which
// every command that exits mid-retry would otherwise print.
func TestEtcdClientLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	z := ZapLogger(l)
	z.Warn("retrying of unary invoker failed", zap.Error(errors.New("rpc error: code = Canceled desc = context canceled")))
	z.Warn("retrying of unary invoker failed", zap.Error(context.Canceled))
	if buf.Len() != 0 {
		t.Fatalf("a call keydesk cancelled was logged as a warning: %s", buf.String())
	}
	z.Warn("lost leader", zap.Error(errors.New("etcdserver: no leader")))
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "lost leader") || !strings.Contains(out, "from=etcd") {
		t.Fatalf("a real warning did not come through: %q", out)
	}
}
