package vat

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// struct seccomp_notif and struct seccomp_notif_resp (linux/seccomp.h), which x/sys/unix does
// not define.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// ServeRefusals answers, in log mode, every syscall the vat's filter refused: each fails with
// EPERM, exactly as without log mode, after report is told its name. It returns when the vat
// has exited, or at once when the vat is not in log mode. It must be called at most once.
func (p *Process) ServeRefusals(report func(syscall string)) {
	<-p.started
	if p.listener == nil {
		return
	}
	defer p.listener.Close()
	raw, err := p.listener.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n seccompNotif
		var rerr error
		hup := false
		err := raw.Read(func(fd uintptr) bool {
			ready, gone := pending(int(fd))
			switch {
			case gone:
				hup = true
			case ready:
				rerr = notifIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n))
			default:
				return false // wait in the netpoller
			}
			return true
		})
		if err != nil || hup || errors.Is(rerr, unix.EBADF) || p.exited() {
			return
		}
		if rerr != nil {
			continue // the caller died before we read it (ENOENT), or an interrupted read
		}
		report(SyscallName(int(n.Nr)))
		resp := seccompNotifResp{ID: n.ID, Error: -int32(unix.EPERM)}
		raw.Control(func(fd uintptr) { notifIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)) })
	}
}

// pending reports whether a notification is waiting, so that reading it will not block a
// thread, and whether the listener has hung up (no process is left under the filter: a read
// would then block for ever).
func pending(fd int) (ready, gone bool) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		return false, !errors.Is(err, unix.EINTR)
	}
	if n == 0 {
		return false, false
	}
	if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
		return false, true
	}
	return fds[0].Revents&unix.POLLIN != 0, false
}

func notifIoctl(fd uintptr, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
