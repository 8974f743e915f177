package vat

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fields of a SIGCHLD siginfo, which x/sys/unix leaves opaque. On 64-bit Linux the union
// after signo, errno and code is 8-byte aligned: pid at offset 16, uid at 20, status at 24.
type sigchldInfo struct {
	signo  int32
	errno  int32
	code   int32
	_      int32
	pid    int32
	uid    uint32
	status int32
}

const (
	cldExited = 1 // CLD_EXITED: status is the exit code
)

func siginfoPid(si *unix.Siginfo) int {
	return int((*sigchldInfo)(unsafe.Pointer(si)).pid)
}

func statusOf(si *unix.Siginfo) ExitStatus {
	c := (*sigchldInfo)(unsafe.Pointer(si))
	if c.code == cldExited {
		return ExitStatus{Code: int(c.status)}
	}
	return ExitStatus{Signal: unix.Signal(c.status)}
}
