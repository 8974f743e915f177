package vat

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Securebits (linux/securebits.h); x/sys/unix does not define them.
const (
	secbitNoroot                  = 1 << 0
	secbitNorootLocked            = 1 << 1
	secbitNoSetuidFixupLocked     = 1 << 3
	secbitKeepCapsLocked          = 1 << 5
	secbitNoCapAmbientRaise       = 1 << 6
	secbitNoCapAmbientRaiseLocked = 1 << 7

	// lockedBits: root (in this namespace) gains no capabilities on exec, setuid clears
	// capabilities as usual, and none of it can be changed back.
	lockedBits = secbitNoroot | secbitNorootLocked | secbitNoSetuidFixupLocked |
		secbitKeepCapsLocked | secbitNoCapAmbientRaise | secbitNoCapAmbientRaiseLocked
)

// limitCapabilities empties the bounding set, clears the ambient set and locks securebits, on
// the thread that will exec: nothing the program could gain at exec. The helper keeps the
// effective capabilities it still needs for the rest of its steps. It runs before the request.
func (h *helper) limitCapabilities() error {
	for _, f := range []func() error{clearBoundingSet, clearAmbient, lockSecurebits} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// dropPrivileges leaves the thread that will exec the program with no capability in any set,
// an unprivileged uid where the namespace maps one, the parent-death signal re-armed and
// no_new_privs (limitCapabilities did the rest).
func (h *helper) dropPrivileges() error {
	for _, f := range []func() error{h.changeIDs, clearCapabilities, h.rearmParentDeath, noNewPrivs} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func clearBoundingSet() error {
	for c := 0; ; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			if c <= unix.CAP_LAST_CAP {
				return fmt.Errorf("bounding set: capability %d unknown to the kernel", c)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
}

func clearAmbient() error {
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

func lockSecurebits() error {
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, lockedBits, 0, 0, 0); err != nil {
		return fmt.Errorf("lock securebits: %w", err)
	}
	return nil
}

// changeIDs switches to the unprivileged ids the request names. Groups are cleared first where
// the namespace allows setgroups (a root daemon); a rootless daemon's namespace denies it, and
// its supplementary groups are unmapped there.
//
// Credentials are per thread in the kernel, and execve keeps the calling thread's: the raw
// syscalls change this (locked) thread only, which is all the program inherits. Go's
// syscall.Setresuid would stop the world to change every thread, for nothing.
func (h *helper) changeIDs() error {
	if h.req.RunAs == nil {
		return nil
	}
	if err := rawIDCall(unix.SYS_SETGROUPS, 0, 0, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("setgroups: %w", err)
	}
	g, u := uintptr(h.req.RunAs.GID), uintptr(h.req.RunAs.UID)
	if err := rawIDCall(unix.SYS_SETRESGID, g, g, g); err != nil {
		return fmt.Errorf("setresgid %d: %w", g, err)
	}
	if err := rawIDCall(unix.SYS_SETRESUID, u, u, u); err != nil {
		return fmt.Errorf("setresuid %d: %w", u, err)
	}
	return nil
}

func rawIDCall(nr, a, b, c uintptr) error {
	if _, _, errno := unix.RawSyscall(nr, a, b, c); errno != 0 {
		return errno
	}
	return nil
}

func clearCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// rearmParentDeath sets the parent-death signal again (changing credentials cleared it) and
// then checks that the daemon is still there: had it died in between, no signal would come.
func (h *helper) rearmParentDeath() error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	fds := []unix.PollFd{{Fd: int32(h.ctl), Events: unix.POLLRDHUP}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLRDHUP) != 0 {
		return errors.New("the daemon went away")
	}
	return nil
}

func noNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}
