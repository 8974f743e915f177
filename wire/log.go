package wire

import "strings"

// Logger adapts a logger for the RPC system's own reports. A peer that goes away — the normal
// end of every client connection and every instance — is reported at debug level, not as an
// error.
type Logger struct {
	L interface {
		Debug(msg string, args ...any)
		Info(msg string, args ...any)
		Warn(msg string, args ...any)
		Error(msg string, args ...any)
	}
}

var hangups = []string{"connection closed", "EOF", "use of closed network connection",
	"broken pipe", "connection reset by peer", "context canceled"}

func isHangup(msg string) bool {
	for _, h := range hangups {
		if strings.Contains(msg, h) {
			return true
		}
	}
	return false
}

// Debug implements rpc.Logger.
func (l Logger) Debug(msg string, args ...any) { l.L.Debug(msg, args...) }

// Info implements rpc.Logger.
func (l Logger) Info(msg string, args ...any) { l.L.Info(msg, args...) }

// Warn implements rpc.Logger.
func (l Logger) Warn(msg string, args ...any) {
	if isHangup(msg) {
		l.L.Debug(msg, args...)
		return
	}
	l.L.Warn(msg, args...)
}

// Error implements rpc.Logger.
func (l Logger) Error(msg string, args ...any) {
	if isHangup(msg) {
		l.L.Debug(msg, args...)
		return
	}
	l.L.Error(msg, args...)
}
