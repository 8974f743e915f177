package vat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configures a Spawner. A nil *Options means defaults.
type Options struct {
	// HelperPath is the executable re-executed as the helper; it must call
	// RunHelperIfRequested. Default: this process's own executable.
	HelperPath string
	// HostIDBase and HostIDCount bound the host uids and gids given to vats when the daemon
	// runs as root (two per live vat). Defaults: 1,800,000,000 and 65,536. Ignored when
	// rootless, where every vat runs as the daemon's own uid mapped to root in its namespace.
	HostIDBase, HostIDCount uint32
	// Hostname inside every vat. Default "yield".
	Hostname string
	// Env is the program's whole environment. Default: empty.
	Env []string
	// OpenFiles is RLIMIT_NOFILE. Default 64.
	OpenFiles uint64
	// Processes is RLIMIT_NPROC (threads count), applied when root. Default 256.
	Processes uint64

	// Cgroups picks the cgroup hierarchy for memory, pids and CPU limits (default: detect).
	Cgroups CgroupMode
	// Pool is how many helpers wait, ready, for a vat to start; negative: none. Default 4.
	Pool int

	// NoSeccomp and NoNetNS switch off one layer of confinement. They exist to show what each
	// layer stops (the escape suite must fail without them); never set them in production.
	NoSeccomp, NoNetNS bool
}

func (o *Options) withDefaults() Options {
	r := Options{}
	if o != nil {
		r = *o
	}
	if r.HelperPath == "" {
		r.HelperPath = "/proc/self/exe"
	}
	if r.HostIDBase == 0 {
		r.HostIDBase = 1_800_000_000
	}
	if r.HostIDCount == 0 {
		r.HostIDCount = 65536
	}
	if r.Hostname == "" {
		r.Hostname = "yield"
	}
	if r.OpenFiles == 0 {
		r.OpenFiles = 64
	}
	if r.Processes == 0 {
		r.Processes = 256
	}
	if r.Pool == 0 {
		r.Pool = 4
	}
	return r
}

// programUID is the uid (and gid) a program runs as inside its namespace when the daemon is
// root; the helper runs as 0 there. Both map to unprivileged host ids from the id range.
const programUID = 1000

// Spawner starts vats. It is safe for concurrent use.
type Spawner struct {
	opts      Options
	rootless  bool
	ids       *idRange
	devnull   *os.File
	cgroups   cgroupDriver // nil: no cgroup limits on this machine
	cgroupErr error        // why there is none
	pool      *pool
	filters   filterCache
}

// NewSpawner returns a Spawner. It does not start anything.
func NewSpawner(opts *Options) (*Spawner, error) {
	o := opts.withDefaults()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	s := &Spawner{opts: o, rootless: os.Geteuid() != 0, devnull: devnull}
	if !s.rootless {
		s.ids = newIDRange(o.HostIDBase, o.HostIDCount)
	}
	s.cgroups, s.cgroupErr = cgroupsOfThisMachine(o.Cgroups)
	if s.cgroups != nil {
		s.cgroups.sweep()
	}
	if s.cgroups == nil && s.cgroupErr == nil {
		s.cgroupErr = errors.New("cgroups are switched off")
	}
	s.pool = newPool(s, o.Pool)
	return s, nil
}

// Cgroups names the cgroup hierarchy vats get ("v1", "v2"), or says why there is none.
func (s *Spawner) Cgroups() (string, error) {
	if s.cgroups == nil {
		return "", s.cgroupErr
	}
	return s.cgroups.kind(), nil
}

// Close releases the Spawner's own resources, and its cgroup directory once no vat is left in
// it; running vats are not affected.
func (s *Spawner) Close() error {
	s.pool.close()
	if s.cgroups != nil {
		s.cgroups.close()
	}
	return s.devnull.Close()
}

// Rootless reports whether vats run without a root daemon (one uid mapped, no setgroups).
func (s *Spawner) Rootless() bool { return s.rootless }

// Spec says what to run in a new vat.
type Spec struct {
	// Program is the path of the program file (a stored blob, checked by CheckProgram).
	Program string
	// Stdout and Stderr receive the program's output; nil discards it. They are borrowed.
	Stdout, Stderr *os.File
	// Syscalls are the extra syscalls the factory declares (see CheckSyscalls).
	Syscalls []string
	// LogSyscalls makes each refused syscall reach the daemon first (Process.ServeRefusals).
	LogSyscalls bool
	// Limits bound what the vat may use.
	Limits Limits
}

// Spawn starts a vat running spec.Program and returns once the program has been exec'd (or the
// start failed, leaving nothing behind). ctx bounds the start. A helper from the pool is used
// when one is ready: its namespaces, cgroup and new root are made already.
func (s *Spawner) Spawn(ctx context.Context, spec Spec) (*Process, error) {
	h := s.pool.take()
	if h == nil {
		var err error
		if h, err = s.prepare(); err != nil {
			return nil, err
		}
	}
	return s.launch(ctx, h, spec)
}

func (s *Spawner) takeIDs() (uint32, func(), error) {
	if s.rootless {
		return 0, func() {}, nil
	}
	id, err := s.ids.take()
	if err != nil {
		return 0, nil, err
	}
	return id, func() { s.ids.give(id) }, nil
}

// fdSet closes what it holds unless it was handed over.
type fdSet []int

func (f fdSet) close() {
	for _, fd := range f {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// helperProc is a helper started ahead of its request: in its namespaces and its cgroup, its
// new root built, waiting on its control socket.
type helperProc struct {
	p        *Process
	ctl      int // the daemon's end of the control socket
	rpcChild int // the vat's end of the RPC socket, sent with the request
}

// discard ends a helper that will not be used.
func (h *helperProc) discard() {
	unix.Close(h.ctl)
	unix.Close(h.rpcChild)
	h.p.Kill()
	<-h.p.Done()
	h.p.conn.Close()
}

// prepare starts a helper: everything that does not depend on what it will run.
func (s *Spawner) prepare() (*helperProc, error) {
	hostID, release, err := s.takeIDs()
	if err != nil {
		return nil, err
	}
	rpc, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		release()
		return nil, fmt.Errorf("%w: rpc socketpair: %v", ErrStart, err)
	}
	ctl, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		release()
		fdSet(rpc[:]).close()
		return nil, fmt.Errorf("%w: control socketpair: %v", ErrStart, err)
	}
	pid, pidfd, err := s.startHelper(ctl[1], hostID)
	unix.Close(ctl[1])
	if err != nil {
		release()
		fdSet{rpc[0], rpc[1], ctl[0]}.close()
		return nil, err
	}
	p, err := newProcess(pid, pidfd, os.NewFile(uintptr(rpc[0]), "vat-rpc"), release)
	if err != nil {
		fdSet{rpc[1], ctl[0]}.close()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	h := &helperProc{p: p, ctl: ctl[0], rpcChild: rpc[1]}
	if err := s.place(p); err != nil {
		h.discard()
		return nil, err
	}
	return h, nil
}

// launch sends a prepared helper its request. It returns at once: whether the helper reached
// the exec (or which step failed) is learnt in the background (Process.Started), so that the
// caller can talk to the program meanwhile. It owns h: on failure the helper is gone.
func (s *Spawner) launch(ctx context.Context, h *helperProc, spec Spec) (*Process, error) {
	progFD := -1
	req, err := s.request(spec, &progFD)
	if err == nil {
		err = s.limit(h.p, spec.Limits)
	}
	if err != nil {
		if progFD >= 0 {
			unix.Close(progFD)
		}
		h.discard()
		return nil, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		if progFD >= 0 {
			unix.Close(progFD)
		}
		h.discard()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	fds := s.requestFDs(spec, h.rpcChild, null, progFD)
	h.p.launching()
	ctl, err := s.send(h.ctl, req, fds)
	null.Close()
	unix.Close(h.rpcChild)
	if progFD >= 0 {
		unix.Close(progFD)
	}
	if err != nil {
		h.p.abandon(err)
		<-h.p.Done()
		h.p.conn.Close()
		return nil, err
	}
	// The wait for the exec outlives the caller's ctx: a caller that returns (say, because the
	// program already answered it) must not have the vat killed as unfinished. Only ctx's
	// deadline, the start timeout, still bounds it.
	actx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		actx, cancel = context.WithDeadline(actx, dl)
	}
	go func() {
		defer cancel()
		h.p.awaitExec(actx, ctl)
	}()
	return h.p, nil
}

// place puts a new helper, which has done nothing but wait, into a cgroup of its own; the
// program it execs inherits it. Every vat gets one where the machine allows, limits or not:
// its counters are the vat's usage.
func (s *Spawner) place(p *Process) error {
	if s.cgroups == nil {
		return nil
	}
	g, err := s.cgroups.create(vatDirName(p.Pid(), time.Now()))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStart, err)
	}
	if !p.setCgroup(g) {
		g.remove()
		return fmt.Errorf("%w: the helper exited before it was placed in its cgroup", ErrStart)
	}
	if err := g.add(p.Pid()); err != nil {
		return fmt.Errorf("%w: %v", ErrStart, err)
	}
	return nil
}

// limit sets the vat's limits on its cgroup, before the program runs.
func (s *Spawner) limit(p *Process, lim Limits) error {
	g := p.setLimits(lim)
	if g == nil {
		if lim.needsCgroup() {
			return fmt.Errorf("%w: memory, process and CPU share limits need cgroups: %v", ErrUnsupported, s.cgroupErr)
		}
		return nil
	}
	if err := g.setLimits(lim); err != nil {
		return fmt.Errorf("%w: %v", ErrStart, err)
	}
	return nil
}

// request builds the helper's request; when root, it opens a detached mount of the program
// into *progFD.
func (s *Spawner) request(spec Spec, progFD *int) (*request, error) {
	if err := CheckSyscalls(spec.Syscalls); err != nil {
		return nil, err
	}
	if err := spec.Limits.Validate(); err != nil {
		return nil, err
	}
	req := &request{
		Version:  requestVersion,
		Hostname: s.opts.Hostname,
		Env:      s.opts.Env,
		Rlimits:  s.rlimits(spec.Limits),
	}
	if !s.opts.NoSeccomp {
		prog, err := s.filters.get(spec.Syscalls, spec.LogSyscalls)
		if err != nil {
			return nil, err
		}
		req.Seccomp = &seccompRequest{Filter: prog, Log: spec.LogSyscalls}
	}
	if s.rootless {
		req.Program = spec.Program
		return req, nil
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, spec.Program, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%w: open program %s: %v", ErrStart, spec.Program, err)
	}
	*progFD = fd
	req.ProgramFD = true
	req.RunAs = &ids{UID: programUID, GID: programUID}
	return req, nil
}

// rlimits are the vat's rlimits: open files, CPU time (SIGKILL at the limit), no core dumps,
// no file writes, no locked memory, no message queues, and (root) a thread count.
func (s *Spawner) rlimits(lim Limits) []rlimit {
	files := s.opts.OpenFiles
	if lim.OpenFiles > 0 {
		files = uint64(lim.OpenFiles)
	}
	lims := []rlimit{
		{unix.RLIMIT_NOFILE, files, files},
		{unix.RLIMIT_CORE, 0, 0},
		{unix.RLIMIT_FSIZE, 0, 0},
		{unix.RLIMIT_MEMLOCK, 0, 0},
		{unix.RLIMIT_MSGQUEUE, 0, 0},
	}
	if !s.rootless {
		lims = append(lims, rlimit{unix.RLIMIT_NPROC, s.opts.Processes, s.opts.Processes})
	}
	if lim.CPUSeconds > 0 {
		// The same soft and hard limit: the kernel sends SIGKILL, which nothing can catch.
		lims = append(lims, rlimit{unix.RLIMIT_CPU, uint64(lim.CPUSeconds), uint64(lim.CPUSeconds)})
	}
	return lims
}

// requestFDs lists the fds a request carries (handshake.go). null is the vat's own open of
// /dev/null: an open file description shared between vats would be a channel between them
// (its file status flags, and the locks and signals set through it).
func (s *Spawner) requestFDs(spec Spec, rpcChild int, null *os.File, progFD int) []int {
	out := func(f *os.File) int {
		if f == nil {
			return int(null.Fd())
		}
		return int(f.Fd())
	}
	fds := []int{rpcChild, out(spec.Stdout), out(spec.Stderr), int(null.Fd())}
	if progFD >= 0 {
		fds = append(fds, progFD)
	}
	return fds
}

func (s *Spawner) startHelper(ctl int, hostID uint32) (pid, pidfd int, err error) {
	pidfd = -1
	attr := &syscall.ProcAttr{
		// Few threads (fewer to tear down at exec), and no collector: the helper lives briefly.
		Env:   []string{"GOMAXPROCS=1", "GOGC=off"},
		Files: []uintptr{s.devnull.Fd(), s.devnull.Fd(), s.devnull.Fd(), uintptr(ctl)},
		Sys:   s.sysProcAttr(hostID, &pidfd),
	}
	argv := []string{HelperName}
	if !s.rootless {
		argv = append(argv, earlyDetach)
	}
	pid, _, err = syscall.StartProcess(s.opts.HelperPath, argv, attr)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: start helper: %v", ErrStart, err)
	}
	if pidfd < 0 {
		return 0, 0, fmt.Errorf("%w: the kernel returned no pidfd", ErrUnsupported)
	}
	return pid, pidfd, nil
}

func (s *Spawner) sysProcAttr(hostID uint32, pidfd *int) *syscall.SysProcAttr {
	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
		syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNS)
	if s.opts.NoNetNS {
		flags &^= syscall.CLONE_NEWNET
	}
	if handsOver {
		flags &^= syscall.CLONE_NEWPID // the helper makes the program's (pidNamespace)
	}
	attr := &syscall.SysProcAttr{
		Cloneflags: flags,
		Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
		Setsid:     true,
		PidFD:      pidfd,
	}
	if s.rootless {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		return attr
	}
	h := int(hostID)
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: h, Size: 1}, {ContainerID: programUID, HostID: h + 1, Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: h, Size: 1}, {ContainerID: programUID, HostID: h + 1, Size: 1}}
	attr.GidMappingsEnableSetgroups = true
	return attr
}

// send sends the request on the control socket, which it turns into a non-blocking file (so
// that reads take deadlines) for the caller to read the outcome from. It owns ctl.
func (s *Spawner) send(ctl int, req *request, fds []int) (*os.File, error) {
	if err := unix.SetNonblock(ctl, true); err != nil {
		unix.Close(ctl)
		return nil, fmt.Errorf("%w: control socket: %v", ErrStart, err)
	}
	f := os.NewFile(uintptr(ctl), "vat-control")
	if err := sendRequest(ctl, req, fds); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: send request: %v", ErrStart, err)
	}
	return f, nil
}
