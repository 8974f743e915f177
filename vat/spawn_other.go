//go:build !amd64

package vat

import (
	"errors"

	"golang.org/x/sys/unix"
)

// handsOver is false here: the helper execs the program itself (spawn_amd64.go says what the
// hand-over saves), so the daemon starts it as pid 1 of a new pid namespace.
const handsOver = false

type spawned struct {
	pid      int
	step     string
	errno    unix.Errno
	listener int
}

func spawn(int, string, []string, []string, []unix.SockFilter, bool, int, unix.Timespec) (spawned, error) {
	return spawned{}, errors.New("no hand-over on this architecture")
}
