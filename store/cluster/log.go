package cluster

import (
	"context"
	"log/slog"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zapgrpc"
	"google.golang.org/grpc/grpclog"
)

// RouteGRPCLogs sends gRPC's own process-wide log (connection, resolver and
// balancer messages of the etcd client) to l at warn and above, instead of
// gRPC's default stderr logger. gRPC allows this only before it starts, so
// the binary calls it first thing in main; tests leave gRPC's logger alone.
func RouteGRPCLogs(l *slog.Logger) {
	grpclog.SetLoggerV2(zapgrpc.NewLogger(ZapLogger(l)))
}

// ZapLogger routes etcd's and gRPC's zap logs into l (keydesk's logger), at
// warn and above: etcd's client is chatty at info.
func ZapLogger(l *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{l: l, level: zapcore.WarnLevel})
}

type slogCore struct {
	l      *slog.Logger
	level  zapcore.Level
	fields []zapcore.Field
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.level }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l, level: c.level, fields: append(append([]zapcore.Field(nil), c.fields...), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fs...) {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields)+2)
	args = append(args, "from", "etcd")
	for k, v := range enc.Fields {
		args = append(args, k, v)
	}
	lvl := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		lvl = slog.LevelError
	}
	if ownCancel(enc.Fields["error"]) {
		// A call keydesk itself cancelled (a command exiting, a request
		// timing out): the caller already has the error; no warning.
		lvl = slog.LevelDebug
	}
	c.l.Log(context.Background(), lvl, e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// ownCancel reports whether an etcd client log entry's error is only the
// cancellation of keydesk's own context.
func ownCancel(field any) bool {
	s, ok := field.(string)
	return ok && (strings.Contains(s, "context canceled") || strings.Contains(s, "code = Canceled"))
}
