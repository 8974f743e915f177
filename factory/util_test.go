package factory

import (
	"errors"
	"syscall"

	"github.com/factoryd/factoryd/schema"
)

type schemaControlParams = schema.Requestor_control_Params

// processAlive reports whether pid exists (and is not a zombie we could still see).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return !errors.Is(err, syscall.ESRCH)
}
