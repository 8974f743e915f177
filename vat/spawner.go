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
	if s.cgroups == nil && s.cgroupErr == nil {
		s.cgroupErr = errors.New("cgroups are switched off")
	}
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
// start failed, leaving nothing behind). ctx bounds the start.
func (s *Spawner) Spawn(ctx context.Context, spec Spec) (*Process, error) {
	hostID, release, err := s.takeIDs()
	if err != nil {
		return nil, err
	}
	p, err := s.spawn(ctx, spec, hostID, release)
	if err != nil && p == nil {
		release()
	}
	return p, err
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

func (s *Spawner) spawn(ctx context.Context, spec Spec, hostID uint32, release func()) (*Process, error) {
	rpc, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: rpc socketpair: %v", ErrStart, err)
	}
	ctl, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fdSet(rpc[:]).close()
		return nil, fmt.Errorf("%w: control socketpair: %v", ErrStart, err)
	}
	child := fdSet{rpc[1], ctl[1], -1}
	defer child.close()
	req, err := s.request(spec, &child[2])
	if err != nil {
		fdSet{rpc[0], ctl[0]}.close()
		return nil, err
	}
	pid, pidfd, err := s.startHelper(ctl[1], hostID)
	if err != nil {
		fdSet{rpc[0], ctl[0]}.close()
		return nil, err
	}
	unix.Close(ctl[1])
	child[1] = -1
	p, err := newProcess(pid, pidfd, os.NewFile(uintptr(rpc[0]), "vat-rpc"), release)
	if err != nil {
		unix.Close(ctl[0])
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	if err := s.place(p, spec.Limits); err != nil {
		unix.Close(ctl[0])
		p.Kill()
		<-p.Done()
		p.conn.Close()
		return p, err
	}
	listener, err := s.handshake(ctx, ctl[0], req, s.requestFDs(spec, child))
	if err != nil {
		p.Kill()
		<-p.Done()
		p.conn.Close()
		return p, err
	}
	p.listener = listener
	return p, nil
}

// place puts the helper, which waits for its request and has done nothing yet, into a cgroup of
// its own with the vat's limits; the program it execs inherits it. Every vat gets one where the
// machine allows, limits or not: its counters are the vat's usage.
func (s *Spawner) place(p *Process, lim Limits) error {
	if s.cgroups == nil {
		if lim.needsCgroup() {
			return fmt.Errorf("%w: memory, process and CPU share limits need cgroups: %v", ErrUnsupported, s.cgroupErr)
		}
		p.limits = lim
		return nil
	}
	g, err := s.cgroups.create(fmt.Sprintf("vat-%d-%d", p.pid, time.Now().UnixNano()), lim)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStart, err)
	}
	p.setCgroup(g, lim)
	if err := g.add(p.pid); err != nil {
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
	if err := spec.Limits.validate(); err != nil {
		return nil, err
	}
	req := &request{
		Version:   requestVersion,
		Hostname:  s.opts.Hostname,
		Env:       s.opts.Env,
		TmpfsOpts: "size=16k,nr_inodes=16,mode=0755",
		Rlimits:   s.rlimits(spec.Limits),
	}
	if !s.opts.NoSeccomp {
		req.Seccomp = &seccompRequest{Extra: spec.Syscalls, Log: spec.LogSyscalls}
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

func (s *Spawner) requestFDs(spec Spec, child fdSet) []int {
	out := func(f *os.File) int {
		if f == nil {
			return int(s.devnull.Fd())
		}
		return int(f.Fd())
	}
	fds := []int{child[0], out(spec.Stdout), out(spec.Stderr)}
	if child[2] >= 0 {
		fds = append(fds, child[2])
	}
	return fds
}

func (s *Spawner) startHelper(ctl int, hostID uint32) (pid, pidfd int, err error) {
	pidfd = -1
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{s.devnull.Fd(), s.devnull.Fd(), s.devnull.Fd(), uintptr(ctl)},
		Sys:   s.sysProcAttr(hostID, &pidfd),
	}
	pid, _, err = syscall.StartProcess(s.opts.HelperPath, []string{HelperName}, attr)
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

// handshake sends the request and waits for the helper's verdict, returning the seccomp
// listener it sent in log mode. It owns ctl.
func (s *Spawner) handshake(ctx context.Context, ctl int, req *request, fds []int) (*os.File, error) {
	if err := unix.SetNonblock(ctl, true); err != nil {
		unix.Close(ctl)
		return nil, fmt.Errorf("%w: control socket: %v", ErrStart, err)
	}
	f := os.NewFile(uintptr(ctl), "vat-control") // non-blocking: deadlines work
	defer f.Close()
	if err := sendRequest(ctl, req, fds); err != nil {
		return nil, fmt.Errorf("%w: send request: %v", ErrStart, err)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	listener, err := readOutcome(f)
	var fail *failure
	switch {
	case err == nil:
		return listener, nil
	case errors.As(err, &fail):
		return nil, fmt.Errorf("%w: %v", ErrStart, fail)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: helper did not finish: %v", ErrStart, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %v", ErrStart, err)
}
