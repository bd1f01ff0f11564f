package netio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// asyncLogger hands log records to one goroutine that calls the caller's slog handler, so
// event loops never wait for a handler that writes to disk. When the queue is full the
// record is dropped and counted: losing a log line is better than stalling every
// connection of a loop.
type asyncLogger struct {
	logger *slog.Logger     // The caller's logger; nil discards everything.
	queue  chan slog.Record // Bounded (logQueueLength); never closed, so a late log
	// call (a Deliver racing Shutdown) cannot panic: it is queued and never handled.
	dropped atomic.Uint64 // Records dropped because the queue was full.
	stop    chan struct{} // Closed by close: handle what is queued, then return.
	done    chan struct{} // Closed when run returns.
	once    sync.Once
}

func newAsyncLogger(logger *slog.Logger) *asyncLogger {
	l := &asyncLogger{logger: logger, queue: make(chan slog.Record, logQueueLength),
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *asyncLogger) run() {
	defer close(l.done)
	for {
		select {
		case record := <-l.queue:
			l.handle(record)
		case <-l.stop:
			for {
				select {
				case record := <-l.queue:
					l.handle(record)
				default:
					return
				}
			}
		}
	}
}

func (l *asyncLogger) handle(record slog.Record) {
	if l.logger != nil {
		_ = l.logger.Handler().Handle(context.Background(), record)
	}
}

func (l *asyncLogger) enabled(level slog.Level) bool {
	return l.logger != nil && l.logger.Enabled(context.Background(), level)
}

// log queues a record without blocking. The time is taken here, on the caller.
func (l *asyncLogger) log(level slog.Level, message string, attrs ...slog.Attr) {
	if !l.enabled(level) {
		return
	}
	record := slog.NewRecord(timeNow(), level, message, 0)
	record.AddAttrs(attrs...)
	select {
	case l.queue <- record:
	default:
		l.dropped.Add(1)
	}
}

// close handles what is queued and stops the goroutine. Safe to call more than once.
func (l *asyncLogger) close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// gnetLogger adapts gnet's logger interface to the asynchronous logger, so gnet's own
// messages (from its loops) follow the same rule.
type gnetLogger struct{ logger *asyncLogger }

func (g gnetLogger) Debugf(format string, args ...any) {
	if g.logger.enabled(slog.LevelDebug) {
		g.logger.log(slog.LevelDebug, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Infof(format string, args ...any) {
	if g.logger.enabled(slog.LevelInfo) {
		g.logger.log(slog.LevelInfo, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Warnf(format string, args ...any) {
	if g.logger.enabled(slog.LevelWarn) {
		g.logger.log(slog.LevelWarn, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Errorf(format string, args ...any) {
	if g.logger.enabled(slog.LevelError) {
		g.logger.log(slog.LevelError, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Fatalf(format string, args ...any) {
	g.logger.log(slog.LevelError, "gnet (fatal): "+fmt.Sprintf(format, args...))
}
