package vat

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// handsOver: on this architecture the helper does not exec the program itself. It starts it as
// a vfork child (spawn_amd64.s), the daemon's child and pid 1 of a pid namespace the helper
// unshared ahead of its request, and exits. The program's exec then costs what a plain
// vfork+exec costs: the helper's other threads and its address space are torn down when it
// exits, off the program's path, instead of by the program's execve.
const handsOver = true

// spawnArgs is what spawnProgram reads and, in the child, writes. Every field is 8 bytes: the
// assembly addresses them by offset (TestSpawnArgsLayout). Pointers are typed as pointers, not
// uintptrs, and spawnProgram lets its argument escape: so *a and everything it points to are on
// the heap, which never moves, while the child reads them from its copy of the registers.
type spawnArgs struct {
	clone    *cloneArgs
	path     *byte
	argv     **byte
	envv     **byte
	fprog    *unix.SockFprog // nil: no filter
	sflags   uint64          // seccomp flags
	ctl      uint64          // the control socket
	msg      *unix.Msghdr    // carrying one fd
	msgFD    unsafe.Pointer  // *int32: where that fd goes in the control message
	zero     *uint64         // the empty signal set
	sleep    *unix.Timespec  // between exec attempts on ETXTBSY
	tries    uint64
	step     uint64 // out: the step that failed (childSteps), 0 if none
	errno    uint64 // out: its errno
	listener uint64 // out: the seccomp listener, in log mode
}

// spawnProgram is spawn_amd64.s. No go:noescape: a must be on the heap (spawnArgs).
func spawnProgram(a *spawnArgs) (pid int, errno uintptr)

// The child's steps, as spawnArgs.step numbers them.
var childSteps = [...]string{1: "parent-death signal", 2: "pidfd", 3: "hand-over", 4: "seccomp", 5: "exec"}

// spawnClone: the child shares the helper's memory and fd table until it execs (the listener it
// creates in log mode lands in the helper's table, for the helper to send), the helper sleeps
// until then, the daemon, not the helper, is its parent, and its signal handlers are the
// defaults.
const spawnClone = unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_FILES | unix.CLONE_PARENT | unix.CLONE_CLEAR_SIGHAND

// cloneArgs is struct clone_args, version 0 (64 bytes).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// spawned is what became of a spawn: the program's pid (in the daemon's pid namespace), and
// when the child failed, its step and errno.
type spawned struct {
	pid      int
	step     string
	errno    unix.Errno
	listener int // -1 unless the filter was loaded in log mode
}

// spawn starts the program from this (locked) thread, whose credentials, capabilities,
// securebits, no_new_privs and rlimits it inherits. prog is the filter (nil: none).
func spawn(ctl int, path string, argv, env []string, prog []unix.SockFilter, logMode bool, tries int, pause unix.Timespec) (spawned, error) {
	bpath, err := unix.BytePtrFromString(path)
	if err != nil {
		return spawned{}, err
	}
	bargv, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return spawned{}, err
	}
	benv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return spawned{}, err
	}
	payload := handOverPayload
	oob := unix.UnixRights(-1)
	iov := &unix.Iovec{Base: &payload[0]}
	iov.SetLen(len(payload))
	msg := &unix.Msghdr{Iov: iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	a := &spawnArgs{
		// No exit signal: with CLONE_PARENT the child's is the helper's own (SIGCHLD to the
		// daemon), and clone3 refuses to be told one.
		clone: &cloneArgs{flags: spawnClone},
		path:  bpath,
		argv:  &bargv[0],
		envv:  &benv[0],
		ctl:   uint64(ctl),
		msg:   msg,
		msgFD: unsafe.Pointer(&oob[unix.CmsgLen(0)]),
		zero:  new(uint64),
		sleep: &pause,
		tries: uint64(max(tries, 1)),
	}
	if len(prog) > 0 {
		a.fprog = &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if logMode {
			a.sflags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
	}
	// Signals stay blocked in the child until it is about to exec, so that none reaches it
	// where it shares this process's memory and stack.
	var all, old [1]uint64
	all[0] = ^uint64(0)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, errno := spawnProgram(a)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if errno != 0 {
		return spawned{}, unix.Errno(errno)
	}
	s := spawned{pid: pid, listener: -1}
	if a.step != 0 {
		s.step, s.errno = childSteps[min(a.step, uint64(len(childSteps)-1))], unix.Errno(a.errno)
	} else if a.fprog != nil && logMode {
		s.listener = int(a.listener)
	}
	return s, nil
}
