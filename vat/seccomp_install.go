package vat

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// installFilter loads the compiled filter on the calling thread (the one that will exec the
// program; the helper's other threads die with the exec, so no TSYNC is needed). In log mode it
// returns the notification listener fd.
func installFilter(prog []unix.SockFilter, logMode bool) (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	flags := uintptr(0)
	if logMode {
		flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: %w", errno)
	}
	return int(r), nil
}

// seccomp installs the request's filter, sending the listener to the daemon in log mode; where
// the helper hands over, it only decodes it.
func (h *helper) seccomp() error {
	if h.req.Seccomp == nil {
		return nil
	}
	prog, err := decodeFilter(h.req.Seccomp.Filter)
	if err != nil {
		return err
	}
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("a filter of %d instructions", len(prog))
	}
	if handsOver {
		h.filter = prog // the program's process loads it, in spawnProgram
		return nil
	}
	fd, err := installFilter(prog, h.req.Seccomp.Log)
	if err != nil || !h.req.Seccomp.Log {
		return err
	}
	defer unix.Close(fd)
	return sendListener(h.ctl, fd)
}
