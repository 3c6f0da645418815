package natsembed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// LevelTrace is the slog level the server's trace lines (every protocol
// message) are logged at: below Debug, because they are far too many to want
// with ordinary debugging on.
const LevelTrace = slog.LevelDebug - 4

// logMessage is the constant message of every line the server logs; the
// server's own text goes in the "line" key.
const logMessage = "nats server"

// slogAdapter implements server.Logger on top of a *slog.Logger.
type slogAdapter struct {
	log *slog.Logger
}

var _ server.Logger = slogAdapter{}

// Noticef logs at Info: notices are the server's normal lifecycle messages
// (starting, listening, JetStream enabled).
func (a slogAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, nil, format, v) }

// Warnf logs at Warn.
func (a slogAdapter) Warnf(format string, v ...any) { a.logf(slog.LevelWarn, nil, format, v) }

// Fatalf logs at Error with fatal=true and does not exit: the server's own
// logger would call os.Exit, which an embedded server must never do to its
// host process.
func (a slogAdapter) Fatalf(format string, v ...any) {
	a.logf(slog.LevelError, []slog.Attr{slog.Bool("fatal", true)}, format, v)
}

// Errorf logs at Error.
func (a slogAdapter) Errorf(format string, v ...any) { a.logf(slog.LevelError, nil, format, v) }

// Debugf logs at Debug.
func (a slogAdapter) Debugf(format string, v ...any) { a.logf(slog.LevelDebug, nil, format, v) }

// Tracef logs at LevelTrace.
func (a slogAdapter) Tracef(format string, v ...any) { a.logf(LevelTrace, nil, format, v) }

// logf formats the line only when the level is enabled.
func (a slogAdapter) logf(level slog.Level, attrs []slog.Attr, format string, v []any) {
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs = append(attrs, slog.String("line", fmt.Sprintf(format, v...)))
	a.log.LogAttrs(ctx, level, logMessage, attrs...)
}

// enabled reports whether the logger wants lines at level, so that the server
// does not even produce debug and trace lines nobody reads.
func (a slogAdapter) enabled(level slog.Level) bool {
	return a.log.Enabled(context.Background(), level)
}
