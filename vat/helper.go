package vat

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
	req *request
	fds []int
	ctl int
}

// A step is one stage of confinement; its name is what a failure reports.
type step struct {
	name string
	run  func(*helper) error
}

// steps run in this order; docs/vat-handshake.md tables them.
var steps = []step{
	{"mounts", (*helper).mounts},
	{"pivot", (*helper).pivot},
	{"hostname", (*helper).hostname},
	{"fds", (*helper).arrangeFDs},
	{"rlimits", (*helper).rlimits},
	{"privileges", (*helper).dropPrivileges},
	{"seccomp", (*helper).seccomp},
	{"exec", (*helper).exec},
}

func helperMain() int {
	// Capabilities, securebits, no_new_privs and the parent-death signal are per thread: all
	// of it must happen on the thread that finally calls execve.
	runtime.LockOSThread()
	h := &helper{ctl: 3}
	req, fds, err := recvRequest(h.ctl)
	if err != nil {
		sendFailure(h.ctl, "request", err)
		return 1
	}
	h.req, h.fds = req, fds
	for _, s := range steps {
		if err := s.run(h); err != nil {
			sendFailure(h.ctl, s.name, err)
			return 1
		}
	}
	return 1 // exec returned without an error: cannot happen
}

func (h *helper) mounts() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", flags, h.req.TmpfsOpts); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	target := filepath.Join(newRoot, progDir, progName)
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(target, nil, 0o555); err != nil {
		return err
	}
	if err := h.attachProgram(target); err != nil {
		return err
	}
	ro := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	if err := unix.Mount("", target, "", ro, ""); err != nil {
		return fmt.Errorf("make program read-only: %w", err)
	}
	return nil
}

// attachProgram puts the program at target: the daemon's detached mount when it sent one (a
// root daemon, whose data directory this namespace's uid cannot traverse), else a bind mount of
// the path (a rootless daemon, whose own uid is this namespace's root).
func (h *helper) attachProgram(target string) error {
	if h.req.ProgramFD {
		err := unix.MoveMount(h.fds[fdProgram], "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
		if err != nil {
			return fmt.Errorf("attach program: %w", err)
		}
		return unix.Close(h.fds[fdProgram])
	}
	if err := unix.Mount(h.req.Program, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind program: %w", err)
	}
	return nil
}

func (h *helper) pivot() error {
	old := filepath.Join(newRoot, oldRootDir)
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(newRoot, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
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

// arrangeFDs leaves exactly fd 0 (/dev/null, inherited), 1, 2 and 3 (the RPC socket) open
// across exec. The control socket moves above them and, like every other fd, closes on exec.
func (h *helper) arrangeFDs() error {
	ctl, err := unix.FcntlInt(uintptr(h.ctl), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return err
	}
	h.ctl = ctl
	for target, fd := range map[int]int{1: h.fds[fdStdout], 2: h.fds[fdStderr], 3: h.fds[fdRPC]} {
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

func (h *helper) exec() error {
	env := h.req.Env
	if env == nil {
		env = []string{}
	}
	return unix.Exec(ProgramPath, []string{progName}, env)
}
