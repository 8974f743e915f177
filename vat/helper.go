package vat

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// RunHelperIfRequested turns the process into a vat helper when it was started as one (argv[0]
// is HelperName) and never returns in that case; otherwise it returns at once.
func RunHelperIfRequested() {
	if filepath.Base(os.Args[0]) != HelperName {
		return
	}
	os.Exit(helperMain())
}

// Where the helper builds the new root, inside its own mount namespace. Mounting there does not
// touch the host: the namespace's mounts are made private first.
const (
	newRoot    = "/tmp"
	oldRootDir = ".old-root"
	progDir    = "bin"
	progName   = "prog"
	// ProgramPath is where the program sits in a vat's root.
	ProgramPath = "/" + progDir + "/" + progName
)

// helper is the state the steps share.
type helper struct {
	req      *request
	fds      []int
	ctl      int
	detached bool              // the old root is gone already
	filter   []unix.SockFilter // the decoded filter, when the child loads it (handsOver)
}

// A step is one stage of confinement; its name is what a failure reports.
type step struct {
	name string
	run  func(*helper) error
}

// Confinement runs in two phases. Before its request, which may be long before (a helper waits
// in the daemon's pool), the helper builds everything that does not depend on the program:
// private mounts and the new root, with the old one kept at /.old-root. After it, the rest.
// docs/vat-handshake.md tables both.
var (
	before = []step{
		{"pid namespace", (*helper).pidNamespace},
		{"mounts", (*helper).mounts},
		{"pivot", (*helper).pivot},
		{"detach", (*helper).detachEarly},
		{"capabilities", (*helper).limitCapabilities},
	}
	after = []step{
		{"program", (*helper).attachProgram},
		{"detach", (*helper).detachLate},
		{"hostname", (*helper).hostname},
		{"fds", (*helper).arrangeFDs},
		{"rlimits", (*helper).rlimits},
		{"privileges", (*helper).dropPrivileges},
		{"seccomp", (*helper).seccomp},
		{"exec", (*helper).start},
	}
)

// tmpfsOptions size the new root: a directory and the placeholder the program is mounted on.
const tmpfsOptions = "size=16k,nr_inodes=16,mode=0755"

func helperMain() int {
	// Capabilities, securebits, no_new_privs and the parent-death signal are per thread: all
	// of it must happen on the thread that finally calls execve.
	runtime.LockOSThread()
	h := &helper{ctl: 3}
	if name, err := h.run(before); err != nil {
		sendFailure(h.ctl, name, err)
		return 1
	}
	warmDecoder()
	req, fds, err := recvRequest(h.ctl)
	if err != nil {
		sendFailure(h.ctl, "request", err)
		return 1
	}
	h.req, h.fds = req, fds
	if name, err := h.run(after); err != nil {
		sendFailure(h.ctl, name, err)
		return 1
	}
	if handsOver {
		return 0 // the program runs, the daemon's child: the helper's work is done
	}
	return 1 // exec returned without an error: cannot happen
}

// pidNamespace makes the program's pid namespace when the helper hands over: the helper stays
// in the daemon's, and the first process it starts (the program, from this thread) is pid 1 of
// the new one. Go's runtime starts no thread from a locked one (it asks its template thread),
// so no thread of the helper's is refused for being in the wrong namespace. Otherwise the
// daemon started the helper in the program's pid namespace already.
func (h *helper) pidNamespace() error {
	if !handsOver {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWPID); err != nil {
		return fmt.Errorf("unshare pid namespace: %w", err)
	}
	return nil
}

func (h *helper) run(steps []step) (string, error) {
	for _, s := range steps {
		if err := s.run(h); err != nil {
			return s.name, err
		}
	}
	return "", nil
}

func (h *helper) mounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", flags, tmpfsOptions); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	target := filepath.Join(newRoot, progDir, progName)
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return os.WriteFile(target, nil, 0o555)
}

// pivot makes the tmpfs the root, keeping the old root at /.old-root until the program is
// attached.
func (h *helper) pivot() error {
	old := filepath.Join(newRoot, oldRootDir)
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(newRoot, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	return unix.Chdir("/")
}

// attachProgram puts the program at /bin/prog, read-only: the daemon's detached mount when it
// sent one (a root daemon, whose data directory this namespace's uid cannot traverse), else a
// bind mount of the path under the old root (a rootless daemon, whose own uid is this
// namespace's root).
func (h *helper) attachProgram() error {
	if h.req.ProgramFD {
		err := unix.MoveMount(h.fds[fdProgram], "", unix.AT_FDCWD, ProgramPath, unix.MOVE_MOUNT_F_EMPTY_PATH)
		if err != nil {
			return fmt.Errorf("attach program: %w", err)
		}
		unix.Close(h.fds[fdProgram])
	} else if err := unix.Mount("/"+oldRootDir+h.req.Program, ProgramPath, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind program: %w", err)
	}
	ro := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	if err := unix.Mount("", ProgramPath, "", ro, ""); err != nil {
		return fmt.Errorf("make program read-only: %w", err)
	}
	return nil
}

// A root daemon sends the program as a detached mount, so its helper needs the old root for
// nothing and drops it before its request (argv[1] says so); a rootless daemon's helper binds
// the program from under the old root, and drops it after.
const earlyDetach = "early-detach"

func (h *helper) detachEarly() error {
	if len(os.Args) < 2 || os.Args[1] != earlyDetach {
		return nil
	}
	h.detached = true
	return detachOldRoot()
}

func (h *helper) detachLate() error {
	if h.detached {
		return nil
	}
	return detachOldRoot()
}

// detachOldRoot drops the old root and makes the new one read-only.
func detachOldRoot() error {
	if err := unix.Unmount("/"+oldRootDir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Rmdir("/" + oldRootDir); err != nil {
		return err
	}
	ro := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("", "/", "", ro, ""); err != nil {
		return fmt.Errorf("make root read-only: %w", err)
	}
	return nil
}

func (h *helper) hostname() error {
	return unix.Sethostname([]byte(h.req.Hostname))
}

// arrangeFDs leaves exactly fd 0 (/dev/null, the vat's own open of it), 1, 2 and 3 (the RPC
// socket) open across exec. The control socket moves above them and, like every other fd, closes on exec.
func (h *helper) arrangeFDs() error {
	ctl, err := unix.FcntlInt(uintptr(h.ctl), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return err
	}
	h.ctl = ctl
	for target, fd := range map[int]int{0: h.fds[fdStdin], 1: h.fds[fdStdout], 2: h.fds[fdStderr], 3: h.fds[fdRPC]} {
		if err := unix.Dup3(fd, target, 0); err != nil {
			return fmt.Errorf("dup %d to %d: %w", fd, target, err)
		}
	}
	if err := unix.CloseRange(4, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	return nil
}

func (h *helper) rlimits() error {
	for _, r := range h.req.Rlimits {
		lim := unix.Rlimit{Cur: r.Cur, Max: r.Max}
		if err := unix.Prlimit(0, r.Resource, &lim, nil); err != nil {
			return fmt.Errorf("rlimit %d: %w", r.Resource, err)
		}
	}
	return nil
}

// start starts the program: by exec (exec) or, where the helper hands over, as its vfork child.
// The child sends the daemon a pidfd of itself before anything else; the helper then sends the
// seccomp listener in log mode, and "started" with the program's pid, or the child's failure.
func (h *helper) start() error {
	if !handsOver {
		return h.exec()
	}
	logMode := h.req.Seccomp != nil && h.req.Seccomp.Log
	pause := unix.NsecToTimespec(int64(execBusyPause))
	s, err := spawn(h.ctl, ProgramPath, []string{progName}, h.env(), h.filter, logMode, int(execBusyWait/execBusyPause), pause)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	if s.step != "" {
		return &childFailure{pid: s.pid, step: s.step, errno: s.errno}
	}
	// What is left of the helper is its exit: tearing down its threads and address space. That
	// can wait for an idle CPU, the program's start cannot: the whole process group (the
	// helper alone, the program has a session of its own) goes to the lowest priority.
	unix.Setpriority(unix.PRIO_PGRP, 0, 19)
	if s.listener >= 0 {
		err := sendListener(h.ctl, s.listener)
		unix.Close(s.listener)
		if err != nil {
			return fmt.Errorf("send listener: %w", err)
		}
	}
	return sendStarted(h.ctl, s.pid)
}

// childFailure is the failure of the program's process before its exec: it has exited, a child
// of the daemon's to reap.
type childFailure struct {
	pid   int
	step  string
	errno unix.Errno
}

// Error is the errno alone: the failure message names the step already.
func (c *childFailure) Error() string { return c.errno.Error() }

func (h *helper) env() []string {
	if h.req.Env == nil {
		return []string{}
	}
	return h.req.Env
}

func (h *helper) exec() error {
	env := h.env()
	// ETXTBSY: some process still holds the program's file open for writing. The daemon wrote
	// it (an upload) and closed it, but a process the daemon forked meanwhile (another helper)
	// holds a copy of that descriptor until its own exec closes it: wait that out.
	start := time.Now()
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := unix.Exec(ProgramPath, []string{progName}, env)
		if err != unix.ETXTBSY || time.Since(start) > execBusyWait {
			return err
		}
		ts := unix.NsecToTimespec(int64(wait))
		unix.Nanosleep(&ts, nil)
	}
}

// execBusyWait bounds the wait for a program's file to stop being open for writing;
// execBusyPause is the hand-over child's pause between attempts.
const (
	execBusyWait  = 2 * time.Second
	execBusyPause = 2 * time.Millisecond
)
