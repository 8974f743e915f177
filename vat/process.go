package vat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ExitStatus says how a vat ended.
type ExitStatus struct {
	Code   int         // exit code, when Signal is 0
	Signal unix.Signal // the signal that ended it, or 0
	// Limit names the limit that ended it, e.g. "memory limit 64 MiB exceeded", or "".
	Limit string
}

// String formats the status: the limit that ended the vat if one did, else "exited with status
// 2" or "killed by signal 9 (killed)".
func (s ExitStatus) String() string {
	if s.Limit != "" {
		return s.Limit
	}
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return fmt.Sprintf("exited with status %d", s.Code)
}

// Process is a running vat. It is signalled and reaped only through its pidfd, so a recycled
// pid can never be hit. Its methods are safe for concurrent use.
//
// It starts as the helper; where the helper hands over (handsOver), it becomes the program's
// process, a child of the daemon's the helper started, once the helper has exited: Kill, Done
// and Status then concern the program.
type Process struct {
	pidfd    *os.File // non-blocking, polled by the runtime's netpoller: no thread per vat
	conn     *os.File
	listener *os.File // the seccomp notification listener, in log mode
	release  func()
	cgroup   cgroup // nil without limits that need one
	limits   Limits
	usage    Usage // set before done closes, under cgroupMu
	// rusageCPU is the CPU time the kernel reported when reaping the process (set before done).
	rusageCPU uint64

	cgroupMu   sync.Mutex // guards cgroup, limits and cgroupGone: placing, limiting, reading, removing
	cgroupGone bool

	done   chan struct{}
	status ExitStatus // set before done closes

	started  chan struct{} // closed once the helper exec'd the program, or failed
	startErr error         // set before started closes

	mu       sync.Mutex // guards what follows
	pid      int
	launched bool     // the helper has (or may have) its request: a hand-over may come
	program  *os.File // the program's pidfd, once handed over
	killed   bool     // Kill was called: the program is killed as soon as it is known
}

func newProcess(pid, pidfd int, conn *os.File, release func()) (*Process, error) {
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.Close(pidfd)
		return nil, fmt.Errorf("pidfd: %w", err)
	}
	p := &Process{pid: pid, pidfd: os.NewFile(uintptr(pidfd), "pidfd"), conn: conn,
		release: release, done: make(chan struct{}), started: make(chan struct{})}
	go p.reap()
	return p, nil
}

// Pid returns the vat's pid in the daemon's pid namespace, for display only: the helper's until
// it has handed over, then the program's.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Conn returns the daemon's end of the vat's RPC socket (the vat's fd 3). The caller closes it.
func (p *Process) Conn() *os.File { return p.conn }

// Done is closed once the vat has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Status returns how the vat ended; valid once Done is closed.
func (p *Process) Status() ExitStatus {
	<-p.done
	return p.status
}

// Kill sends SIGKILL through the pidfd: the program's once the helper has handed over (or as
// soon as it does), else the helper's. Killing a vat that has exited is not an error.
func (p *Process) Kill() error {
	p.mu.Lock()
	p.killed = true
	f := p.pidfd
	if p.program != nil {
		f = p.program
	}
	p.mu.Unlock()
	return p.kill(f)
}

func (p *Process) kill(pidfd *os.File) error {
	raw, err := pidfd.SyscallConn()
	if err != nil {
		return nil // closed: reaped already
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0)
	}); err != nil {
		return nil
	}
	if serr != nil && !errors.Is(serr, unix.ESRCH) {
		return fmt.Errorf("kill vat %d: %w", p.Pid(), serr)
	}
	return nil
}

// reap waits for the helper to exit and, when it handed over, for the program; then collects
// the status.
func (p *Process) reap() {
	defer close(p.done)
	info, ru, ok := waitExit(p.pidfd)
	p.pidfd.Close()
	if prog := p.handedOver(); prog != nil {
		info, ru, ok = waitExit(prog)
		prog.Close()
	}
	if ok {
		p.status = statusOf(&info)
		p.rusageCPU = uint64(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
	}
	p.endCgroup()
	if p.release != nil {
		p.release()
	}
}

// handedOver returns the program's pidfd once the helper has exited, if it handed over. It waits
// for awaitExec, which has read "started" by then, or reads the control socket to its end:
// with the helper gone that is soon.
func (p *Process) handedOver() *os.File {
	p.mu.Lock()
	launched := p.launched
	p.mu.Unlock()
	if !launched {
		return nil
	}
	<-p.started
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.program
}

// waitExit waits, without blocking a thread, for the pidfd to become readable (the process
// exited), then collects its status.
func waitExit(pidfd *os.File) (unix.Siginfo, unix.Rusage, bool) {
	var info unix.Siginfo
	var ru unix.Rusage
	raw, err := pidfd.SyscallConn()
	if err != nil {
		return info, ru, false
	}
	rerr := raw.Read(func(fd uintptr) bool {
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG, &ru)
		if errors.Is(err, unix.EINTR) {
			return false
		}
		return err != nil || siginfoPid(&info) != 0
	})
	return info, ru, rerr == nil
}

// endCgroup reads why and how much, from the kernel's counters, then removes the cgroup.
func (p *Process) endCgroup() {
	p.cgroupMu.Lock()
	defer p.cgroupMu.Unlock()
	p.cgroupGone = true
	if p.cgroup == nil {
		p.status.Limit = p.cpuCause()
		return
	}
	p.usage = p.cgroup.usage()
	// The process's own CPU time also counts the helper's steps before it joined the cgroup.
	p.usage.CPUNanos = max(p.usage.CPUNanos, p.rusageCPU)
	p.status.Limit = p.cgroup.cause(p.limits)
	if p.status.Limit == "" {
		p.status.Limit = p.cpuCause()
	}
	p.cgroup.remove()
}

// setCgroup records the vat's cgroup; false if the vat has ended meanwhile (its cgroup is then
// the caller's to remove).
func (p *Process) setCgroup(g cgroup) bool {
	p.cgroupMu.Lock()
	defer p.cgroupMu.Unlock()
	if p.cgroupGone {
		return false
	}
	p.cgroup = g
	return true
}

// setLimits records the limits the vat runs under, and returns its cgroup (nil without one).
func (p *Process) setLimits(lim Limits) cgroup {
	p.cgroupMu.Lock()
	defer p.cgroupMu.Unlock()
	p.limits = lim
	return p.cgroup
}

// cpuCause names the CPU time limit when it is what killed the vat: SIGKILL, and the vat used
// its whole allowance. RLIMIT_CPU counts the process's CPU time since its fork, the helper's
// steps before the program's exec included, which its rusage holds and its cgroup (joined
// later) does not.
func (p *Process) cpuCause() string {
	lim := uint64(p.limits.CPUSeconds)
	used := max(p.usage.CPUNanos, p.rusageCPU)
	if lim == 0 || p.status.Signal != unix.SIGKILL || used+uint64(time.Second/10) < lim*uint64(time.Second) {
		return ""
	}
	return fmt.Sprintf("CPU time limit of %ds exceeded", lim)
}

// Usage returns what the vat consumed, from its cgroup's counters (zero without a cgroup);
// valid once Done is closed.
func (p *Process) Usage() Usage {
	<-p.done
	return p.usage
}

// Measured reports whether the vat's usage comes from the kernel's counters: false without a
// cgroup, where Usage and LiveUsage are zero.
func (p *Process) Measured() bool {
	p.cgroupMu.Lock()
	defer p.cgroupMu.Unlock()
	return p.cgroup != nil
}

// LiveUsage returns what the vat has consumed so far, or in all once it has ended.
func (p *Process) LiveUsage() Usage {
	p.cgroupMu.Lock()
	defer p.cgroupMu.Unlock()
	switch {
	case p.cgroupGone:
		return p.usage
	case p.cgroup == nil:
		return Usage{}
	}
	return p.cgroup.usage()
}

// Started is closed once the program has been exec'd — where the helper hands over, once the
// helper said so, the vat's process and pid being the program's from then on — (StartErr is
// nil), or a step failed (StartErr says which, and the vat is being killed).
func (p *Process) Started() <-chan struct{} { return p.started }

// StartErr is the helper's failure; valid once Started is closed.
func (p *Process) StartErr() error {
	<-p.started
	return p.startErr
}

// WaitStarted waits until Started is closed or ctx is done, and returns StartErr.
func (p *Process) WaitStarted(ctx context.Context) error {
	select {
	case <-p.started:
		return p.startErr
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrStart, ctx.Err())
	}
}

// launching records that the helper is about to get its request; from then on a hand-over may
// come, and awaitExec or abandon must follow.
func (p *Process) launching() {
	p.mu.Lock()
	p.launched = true
	p.mu.Unlock()
}

// abandon ends a start whose request never reached the helper.
func (p *Process) abandon(err error) {
	p.startErr = err
	close(p.started)
	p.Kill()
}

// takeProgram records the program's pidfd: from now on the vat is the program. A vat killed
// before is killed now.
func (p *Process) takeProgram(f *os.File, pid int) {
	p.mu.Lock()
	p.program = f
	if pid > 0 {
		p.pid = pid
	}
	killed := p.killed
	p.mu.Unlock()
	if killed {
		p.kill(f)
	}
}

// awaitExec reads the start's outcome from the control socket (readOutcome). On failure (or
// ctx's end first) the vat is killed. It owns ctl.
func (p *Process) awaitExec(ctx context.Context, ctl *os.File) {
	defer close(p.started)
	defer ctl.Close()
	stop := context.AfterFunc(ctx, func() { ctl.SetReadDeadline(time.Now()) })
	var o outcome
	err := readOutcome(ctl, &o)
	stop()
	if err != nil {
		// The deadline, or an unreadable message: end the helper, then read on to the end, for
		// a pidfd the program's process may have sent meanwhile (and must not be lost with the
		// socket). The helper's death, and the child's exec or exit, bring the end soon.
		p.Kill()
		ctl.SetReadDeadline(time.Time{})
		readOutcome(ctl, &o)
	}
	if o.program == nil && o.pid > 0 && handsOver {
		// The program's process failed before it could send its pidfd; it is the daemon's
		// child, not reaped, so its pid still names it.
		if fd, perr := unix.PidfdOpen(o.pid, 0); perr == nil {
			o.program, _ = pollable(fd, "pidfd")
		}
	}
	if o.program != nil {
		p.takeProgram(o.program, o.pid)
	}
	switch {
	case o.failure != nil:
		p.startErr = fmt.Errorf("%w: %v", ErrStart, o.failure)
	case err != nil && ctx.Err() != nil:
		p.startErr = fmt.Errorf("%w: helper did not finish: %v", ErrStart, ctx.Err())
	case err != nil:
		p.startErr = fmt.Errorf("%w: %v", ErrStart, err)
	case handsOver && (!o.started || o.program == nil):
		p.startErr = fmt.Errorf("%w: the helper ended before it started the program", ErrStart)
	default:
		p.listener = o.listener
		return
	}
	o.closeListener()
	p.Kill()
}
