package client

import "github.com/factoryd/factoryd/config"

// SocketEnv names the environment variable that overrides the default socket path.
const SocketEnv = config.SocketEnv

// DefaultSocket returns the socket factoryd listens on by default; see config.DefaultSocket.
func DefaultSocket() string { return config.DefaultSocket() }
