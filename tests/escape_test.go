package tests

// TestEscape is the escape challenge suite. A hostile program (internal/testprogs/escape),
// run as a requestor would run it, tries every overt channel out of its vat: sockets to
// listeners this test runs on the host's loopback and in its filesystem, files in every place
// that might be the host's, signals to this process, SysV and POSIX IPC, the kernel keyring,
// ptrace, mounts and namespaces, devices, privileges, /proc and /sys, the hostname, the clock,
// fork bombs and memory hogs, extra fds, the environment, file locks and file status flags on
// what it shares with the host, and its exit status and stderr reaching the builder.
// Conspirators outside watch; each subtest asserts they observed nothing, that the calls that
// must fail did, and that the host is unchanged. Each conspirator is first shown to hear this
// process (a positive control), so that no subtest passes for want of a listener.
//
// Every attack runs in three variants: "default" (a factory declaring no syscalls), "declared"
// (a factory declaring every syscall a builder may declare: the other layers must then hold
// on their own) and "logged" (declared, with a debug sink: seccomp refusals go through the
// daemon); the seccomp attack also runs in "declared-<syscall>" factories, each declaring one
// syscall that the filter allows only with some arguments. FACTORYD_ESCAPE_WEAKEN=seccomp,netns
// runs the suite against a daemon with that layer switched off: it must then fail, naming the
// channel that opened ("<channel> channel OPEN: ...").

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/factory"
	"github.com/factoryd/factoryd/internal/daemontest"
	"github.com/factoryd/factoryd/vat"
)

const (
	// escapeWeakenEnv names layers of confinement to switch off: "seccomp", "netns".
	escapeWeakenEnv = "FACTORYD_ESCAPE_WEAKEN"
	// escapeSecretEnv is set in this process, so in the daemon's environment, while the suite runs.
	escapeSecretEnv = "FACTORYD_ESCAPE_SECRET"
	// programUID is the uid a program runs as inside its vat (vat.programUID).
	programUID = 1000
)

// escapeRequest, escapeAttempt and escapeReport mirror the escape program's JSON.
type escapeRequest struct {
	Attack      string   `json:"attack"`
	Nonce       string   `json:"nonce"`
	TCP         []string `json:"tcp,omitempty"`
	UDP         []string `json:"udp,omitempty"`
	Unix        []string `json:"unix,omitempty"`
	Abstract    []string `json:"abstract,omitempty"`
	Pids        []int    `json:"pids,omitempty"`
	Dirs        []string `json:"dirs,omitempty"`
	SysVKey     int32    `json:"sysv_key,omitempty"`
	HostSysVKey int32    `json:"host_sysv_key,omitempty"`
	MQ          string   `json:"mq,omitempty"`
	HostMQ      string   `json:"host_mq,omitempty"`
	Exit        int      `json:"exit,omitempty"`
	LockStart   int64    `json:"lock_start,omitempty"`
}

type escapeAttempt struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Err  string `json:"err,omitempty"`
}

type escapeReport struct {
	Attack   string          `json:"attack"`
	Attempts []escapeAttempt `json:"attempts"`
	StartFDs []int           `json:"start_fds"`
	FDs      []struct {
		FD   int    `json:"fd"`
		Type string `json:"type"`
	} `json:"fds"`
	Env         []string `json:"env"`
	UID         int      `json:"uid"`
	EUID        int      `json:"euid"`
	GID         int      `json:"gid"`
	EGID        int      `json:"egid"`
	Hostname    string   `json:"hostname"`
	Root        []string `json:"root"`
	Caps        []uint32 `json:"caps"`
	VisiblePids []int    `json:"visible_pids"`
	Count       int      `json:"count"`
}

// escapeVariant is one way of running the hostile program.
type escapeVariant struct {
	name    string
	factory string
	b       *client.Builder
	r       *client.Requestor
	sink    bool // a debug sink: seccomp in log mode
	// declared are the syscalls its factory declares (shown in its audit).
	declared []string
}

// escapeAttack is one subtest: the variants it runs in ("" = all) and its checks.
type escapeAttack struct {
	name     string
	variants []string
	run      func(s *escapeSuite, t *testing.T, v *escapeVariant)
}

var escapeAttacks = []escapeAttack{
	{name: "status", run: (*escapeSuite).testStatus},
	{name: "tcp", run: (*escapeSuite).testNetwork},
	{name: "udp", run: (*escapeSuite).testNetwork},
	{name: "unix", run: (*escapeSuite).testNetwork},
	{name: "abstract", run: (*escapeSuite).testNetwork},
	{name: "files", run: (*escapeSuite).testFiles},
	{name: "signals", run: (*escapeSuite).testSignals},
	{name: "sysv", run: (*escapeSuite).testSysV},
	{name: "mqueue", run: (*escapeSuite).testMqueue},
	{name: "keyring", run: (*escapeSuite).testKeyring},
	{name: "ptrace", run: (*escapeSuite).testPtrace},
	{name: "mounts", run: (*escapeSuite).testMounts},
	{name: "devices", run: (*escapeSuite).testAllFail},
	{name: "privileges", run: (*escapeSuite).testPrivileges},
	{name: "procsys", run: (*escapeSuite).testProcSys},
	{name: "hostname", run: (*escapeSuite).testHostname},
	{name: "clock", run: (*escapeSuite).testClock},
	{name: "seccomp", variants: append([]string{"default", "declared", "logged"}, escapeCheckedVariants...),
		run: (*escapeSuite).testSeccomp},
	{name: "fds", run: (*escapeSuite).testFDs},
	{name: "locks", run: (*escapeSuite).testLocks},
	{name: "fdflags", run: (*escapeSuite).testFDFlags},
	{name: "environ", run: (*escapeSuite).testEnviron},
	{name: "forkbomb", variants: []string{"declared"}, run: (*escapeSuite).testForkBomb},
	{name: "memhog", variants: []string{"default"}, run: (*escapeSuite).testMemHog},
	{name: "exit", variants: []string{"default"}, run: (*escapeSuite).testExit},
}

// escapeChecked are the syscalls the vat's filter allows only with some arguments: a factory
// declaring one of them must not lift the check. Each gets a factory of its own
// ("declared-<name>"), for the seccomp attack.
var escapeChecked = []string{"clone", "mmap", "mprotect", "prctl", "tgkill", "prlimit64", "fcntl"}

var escapeCheckedVariants = func() []string {
	var out []string
	for _, n := range escapeChecked {
		out = append(out, "declared-"+n)
	}
	return out
}()

// escapeCandidateSyscalls are every syscall the vat package names on amd64, and a few it does
// not: the "declared" factory declares each one vat.CheckSyscalls accepts, as a hostile builder
// would (a syscall moved off the never list is then declared, and tried).
var escapeCandidateSyscalls = strings.Fields(`read write readv writev pread64 pwrite64 close fstat
	newfstatat lseek fcntl dup dup3 getsockopt setsockopt getsockname getpeername shutdown recvfrom
	sendto recvmsg sendmsg epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd2 pipe2
	ppoll poll select pselect6 mmap munmap mprotect madvise mremap brk mincore mlock futex
	set_robust_list get_robust_list rseq clone clone3 fork vfork execve execveat exit exit_group wait4
	waitid gettid getpid getppid getuid geteuid getgid getegid kill tkill tgkill rt_sigaction
	rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait sigaltstack sched_yield
	sched_getaffinity sched_setaffinity nanosleep clock_nanosleep clock_gettime clock_getres
	gettimeofday time getrusage getrandom uname restart_syscall set_tid_address membarrier getcwd
	getrlimit prlimit64 umask arch_prctl prctl ioctl openat open openat2 readlinkat getdents64 statx
	faccessat faccessat2 chdir fchdir socket socketpair bind listen accept4 connect memfd_create
	timerfd_create timerfd_settime timerfd_gettime signalfd4 inotify_init1 pidfd_open
	pidfd_send_signal pidfd_getfd mount umount2 pivot_root chroot unshare setns bpf keyctl add_key
	request_key ptrace process_vm_readv process_vm_writev io_uring_setup io_uring_enter
	io_uring_register perf_event_open userfaultfd kexec_load kexec_file_load init_module
	finit_module delete_module reboot swapon swapoff open_by_handle_at name_to_handle_at setuid
	setgid setreuid setregid setresuid setresgid setgroups getgroups capset personality fsopen
	fsmount fsconfig fspick move_mount open_tree mount_setattr quotactl acct syslog vhangup
	settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname iopl ioperm kcmp
	seccomp msgget shmget semget mq_open mknodat mkdirat unlinkat renameat2 linkat symlinkat fchmod
	fchown ftruncate fsync sync flock sysinfo getpriority setpriority sched_getparam getitimer
	setitimer alarm pause rt_sigqueueinfo capget renameat fchmodat`)

// escapeSuite is the state the subtests share.
type escapeSuite struct {
	ids       uidRange
	secret    string
	plant     string // a world-writable host directory the programs are told about
	before    hostSnapshot
	signals   *signalWatcher
	sleeper   *sleeper
	children  *childTracker
	d         *daemontest.Daemon
	c         *client.Client
	variants  map[string]*escapeVariant
	bystander *client.Instance
	// bystanderPid is its vat's pid.
	bystanderPid int

	mu     sync.Mutex // guards nonces
	nonces []string
}

// escapeWeakening reads FACTORYD_ESCAPE_WEAKEN.
func escapeWeakening(t *testing.T) (noSeccomp, noNetNS bool) {
	for _, w := range strings.Split(os.Getenv(escapeWeakenEnv), ",") {
		switch strings.TrimSpace(w) {
		case "":
		case "seccomp":
			noSeccomp = true
		case "netns":
			noNetNS = true
		default:
			t.Fatalf("%s: unknown layer %q (want seccomp, netns)", escapeWeakenEnv, w)
		}
	}
	if noSeccomp || noNetNS {
		t.Logf("WEAKENED: seccomp off: %v, network namespace off: %v: this suite must fail", noSeccomp, noNetNS)
	}
	return noSeccomp, noNetNS
}

func TestEscape(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the escape suite needs a root daemon: vats get host uids of their own")
	}
	noSeccomp, noNetNS := escapeWeakening(t)
	s := &escapeSuite{
		// A uid range of its own, so that what is left behind is this suite's.
		ids:    uidRange{base: 1_870_000_000 + uint32(os.Getpid()%4096)*4096, count: 4096},
		secret: "secret-" + randomHex(8),
		plant:  worldWritableDir(t),
	}
	s.before = takeHostSnapshot()
	s.signals = newSignalWatcher()
	defer s.signals.stop()
	s.signals.checkControl(t)
	s.sleeper = startSleeper(t)
	defer s.sleeper.kill()
	s.children = newChildTracker()
	require.NoError(t, os.Setenv(escapeSecretEnv, s.secret))
	defer os.Unsetenv(escapeSecretEnv)

	t.Run("attacks", func(t *testing.T) {
		s.start(t, &vat.Options{HostIDBase: s.ids.base, HostIDCount: s.ids.count,
			NoSeccomp: noSeccomp, NoNetNS: noNetNS})
		for _, a := range escapeAttacks {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				variants := a.variants
				if len(variants) == 0 {
					variants = []string{"default", "declared", "logged"}
				}
				for _, name := range variants {
					t.Run(name, func(t *testing.T) { a.run(s, t, s.variants[name]) })
				}
			})
		}
	})
	s.children.stop()
	t.Run("host-unchanged", s.checkHost)
}

// start starts the daemon, publishes the hostile program as two factories and a well-behaved
// one, and starts an instance of the latter. The daemon stops when t ends.
func (s *escapeSuite) start(t *testing.T, vopts *vat.Options) {
	s.d = daemontest.Start(t, &factory.Options{Vat: vopts,
		DefaultLimits: vat.Limits{MemoryBytes: 256 << 20, Pids: 64}})
	s.c = s.d.Client(t)
	// Runs after every attack, before the daemon stops: what the programs could not write.
	t.Cleanup(func() { checkBlobs(t, s.d.Dir+"/data") })
	ctx := ctxT(t)
	var declare []string
	for _, n := range escapeCandidateSyscalls {
		if vat.CheckSyscalls([]string{n}) == nil {
			declare = append(declare, n)
		}
	}
	t.Logf("the declared factory declares %d syscalls", len(declare))
	def := s.publish(t, "escape-default", bins["escape"])
	decl := s.publish(t, "escape-declared", bins["escape"], declare...)
	s.variants = map[string]*escapeVariant{
		"default":  def,
		"declared": decl,
		"logged":   {name: "logged", factory: decl.factory, b: decl.b, r: decl.r, sink: true, declared: decl.declared},
	}
	for _, n := range escapeChecked {
		if vat.CheckSyscalls([]string{n}) == nil {
			s.variants["declared-"+n] = s.publish(t, "escape-declared-"+n, bins["escape"], n)
		} else {
			s.variants["declared-"+n] = def // not declarable: the default factory stands in
		}
	}
	by := s.publish(t, "bystander", bins["probe"])
	inst, err := by.r.Create(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(inst.Release)
	out, err := inst.Run(ctx, []byte("echo:alive"))
	require.NoError(t, err)
	require.Equal(t, "alive", string(out))
	s.bystander = inst
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	s.bystanderPid = int(info.Pid)
	s.children.add(s.bystanderPid)
}

func (s *escapeSuite) publish(t *testing.T, name, program string, syscalls ...string) *escapeVariant {
	ctx := ctxT(t)
	b, err := s.c.NewFactory(ctx, name)
	require.NoError(t, err)
	t.Cleanup(b.Release)
	d, err := s.c.UploadFile(ctx, program)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	if len(syscalls) > 0 {
		require.NoError(t, b.AllowSyscalls(ctx, syscalls...))
	}
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	t.Cleanup(r.Release)
	return &escapeVariant{name: strings.TrimPrefix(name, "escape-"), factory: name, b: b, r: r, declared: syscalls}
}

// worldWritableDir returns a temporary directory any uid may reach and write: only the vat's
// mount namespace, not permissions, keeps a program out of it.
func worldWritableDir(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	require.NoError(t, os.Chmod(dir, 0o777))
	return dir
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// nonce returns a fresh nonce, remembered for the final search of the host.
func (s *escapeSuite) nonce() string {
	n := "N" + randomHex(10)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonces = append(s.nonces, n)
	return n
}

func (s *escapeSuite) allNonces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.nonces)
}

// lockedBuffer is a debug sink's writer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// create starts an instance of v's factory and returns it with its host pid. It is killed
// when t ends, and its pid must then be gone.
func (s *escapeSuite) create(t *testing.T, v *escapeVariant, opts *client.CreateOptions) (*client.Instance, int) {
	t.Helper()
	ctx := ctxT(t)
	if opts == nil {
		opts = &client.CreateOptions{}
	}
	if v.sink && opts.Stderr == nil {
		opts.Stdout, opts.Stderr = &lockedBuffer{}, &lockedBuffer{}
	}
	inst, err := v.r.Create(ctx, opts)
	require.NoError(t, err)
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	pid := int(info.Pid)
	require.NotZero(t, pid)
	s.children.add(pid)
	t.Cleanup(func() {
		kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		inst.Kill(kctx)
		inst.Release()
		uids := strings.Fields(procStatus(fmt.Sprintf("/proc/%d/status", pid))["Uid"])
		if len(uids) > 0 {
			if uid, err := strconv.ParseUint(uids[0], 10, 32); err == nil && s.ids.has(uid) {
				t.Errorf("vat %d is still there after its instance was killed: uid %d", pid, uid)
			}
		}
	})
	return inst, pid
}

// attack runs req in a new instance of v and returns the program's report, the instance still
// running (so that what it made in its namespaces can be looked for on the host), and its pid.
func (s *escapeSuite) attack(t *testing.T, v *escapeVariant, req escapeRequest) (*escapeReport, int) {
	t.Helper()
	_, rep, pid := s.attackInstance(t, v, req, nil)
	return rep, pid
}

func (s *escapeSuite) attackInstance(t *testing.T, v *escapeVariant, req escapeRequest, opts *client.CreateOptions) (*client.Instance, *escapeReport, int) {
	t.Helper()
	if req.Nonce == "" {
		req.Nonce = s.nonce()
	}
	inst, pid := s.create(t, v, opts)
	in, err := json.Marshal(req)
	require.NoError(t, err)
	out, err := inst.Run(ctxT(t), in)
	require.NoError(t, err, "attack %s did not report", req.Attack)
	t.Logf("report: %s", out)
	var rep escapeReport
	require.NoError(t, json.Unmarshal(out, &rep), "report: %s", out)
	require.Equal(t, req.Attack, rep.Attack)
	return inst, &rep, pid
}

// mustAllFail: every attempt of the report failed, and there were at least min of them.
func mustAllFail(t *testing.T, channel string, rep *escapeReport, min int) {
	t.Helper()
	if len(rep.Attempts) < min {
		t.Errorf("%s: the program made %d attempts, want at least %d", channel, len(rep.Attempts), min)
	}
	for _, a := range rep.Attempts {
		if a.OK {
			t.Errorf("%s channel OPEN: %q succeeded inside the vat", channel, a.Name)
		}
	}
}

// mustFail: each named attempt was made and failed.
func mustFail(t *testing.T, channel string, rep *escapeReport, names ...string) {
	t.Helper()
	for _, n := range names {
		i := slices.IndexFunc(rep.Attempts, func(a escapeAttempt) bool { return a.Name == n })
		if i < 0 {
			t.Errorf("%s: the program did not try %q", channel, n)
		} else if rep.Attempts[i].OK {
			t.Errorf("%s channel OPEN: %q succeeded inside the vat", channel, n)
		}
	}
}

// Subtests.

// testStatus checks the running vat from outside: ids, capabilities, no_new_privs, seccomp,
// namespaces, root, mounts, fds, environment, cgroup.
func (s *escapeSuite) testStatus(t *testing.T, v *escapeVariant) {
	rep, pid := s.attack(t, v, escapeRequest{Attack: "hello"})
	assert.Equal(t, programUID, rep.UID)
	assert.Equal(t, "yield", rep.Hostname)
	vatView{pid: pid}.checkConfinement(t, s.ids, s.secret)
}

// testNetwork: the conspirators of the attack's kind hear nothing; their positive control is
// this process reaching them.
func (s *escapeSuite) testNetwork(t *testing.T, v *escapeVariant) {
	kind := strings.SplitN(t.Name(), "/", 4)[2]
	nonce := s.nonce()
	c := newConspirators(t, kind, worldWritableDir(t), nonce)
	c.checkControl(t)
	req := escapeRequest{Attack: kind, Nonce: nonce}
	switch kind {
	case "tcp":
		req.TCP = c.addrs()
	case "udp":
		req.UDP = c.addrs()
	case "unix":
		req.Unix = append(c.addrs(), s.d.Socket)
	case "abstract":
		for _, a := range c.addrs() {
			req.Abstract = append(req.Abstract, strings.TrimPrefix(a, "@"))
		}
	}
	rep, _ := s.attack(t, v, req)
	if kind == "udp" {
		// A datagram sent is not a datagram received: only the listeners' word counts.
		require.NotEmpty(t, rep.Attempts)
	} else {
		mustAllFail(t, kind, rep, len(c.addrs()))
	}
	c.assertNothingObserved(t, kind)
}

// testFiles: nothing is written anywhere on the host, nor to the program's stored blob.
func (s *escapeSuite) testFiles(t *testing.T, v *escapeVariant) {
	nonce := s.nonce()
	// The suite's own positive control: the search finds a planted nonce.
	control := s.plant + "/control-" + nonce
	require.NoError(t, os.WriteFile(control, []byte(nonce), 0o600))
	require.NotEmpty(t, hostTraces([]string{nonce}, s.ids, s.plant), "positive control: the search finds a nonce")
	require.NoError(t, os.Remove(control))

	dirs := append([]string{s.plant, s.d.Dir, s.d.Dir + "/data", s.d.Dir + "/data/blobs"}, hostDirs...)
	rep, _ := s.attack(t, v, escapeRequest{Attack: "files", Nonce: nonce, Dirs: dirs})
	mustAllFail(t, "files", rep, 60)
	for _, p := range rep.Root {
		if !slices.Contains([]string{"/", "/bin", "/bin/prog"}, p) {
			t.Errorf("files: the vat's root holds %s", p)
		}
	}
	for _, trace := range hostTraces([]string{nonce}, s.ids, s.plant, s.d.Dir, s.d.Dir+"/data") {
		t.Errorf("files channel OPEN: %s", trace)
	}
	entries, err := os.ReadDir(s.plant)
	require.NoError(t, err)
	for _, e := range entries {
		t.Errorf("files channel OPEN: %s/%s appeared in the world-writable host directory", s.plant, e.Name())
	}
}

// testSignals: this process, which watches, receives nothing; the sleeper it started lives.
func (s *escapeSuite) testSignals(t *testing.T, v *escapeVariant) {
	s.signals.take()
	rep, _ := s.attack(t, v, escapeRequest{Attack: "signals", Pids: []int{os.Getpid(), s.sleeper.pid}})
	mustAllFail(t, "signals", rep, 14)
	assert.Empty(t, rep.VisiblePids, "the program sees no process but its own")
	time.Sleep(200 * time.Millisecond)
	if got := s.signals.take(); len(got) > 0 {
		t.Errorf("signals channel OPEN: this process received %v from inside the vat", got)
	}
	if !s.sleeper.alive() {
		t.Errorf("signals channel OPEN: the sleeper this test started was killed")
	}
}

// testSysV: a host object anyone may open stays out of reach, and what the program makes
// stays in its IPC namespace.
func (s *escapeSuite) testSysV(t *testing.T, v *escapeVariant) {
	hostKey, vatKey := randomKey(), randomKey()
	makeHostIPC(t, hostKey)
	n := 0
	for _, o := range sysvObjects() {
		if o.key == int64(hostKey) {
			n++
		}
	}
	require.Equal(t, 3, n, "positive control: /proc/sysvipc shows the host's own shm, msg and sem")
	rep, _ := s.attack(t, v, escapeRequest{Attack: "sysv", SysVKey: vatKey, HostSysVKey: hostKey})
	mustFail(t, "sysv", rep, "shmget host", "msgget host", "semget host")
	for _, o := range sysvObjects() {
		if o.key == int64(vatKey) || s.ids.has(uint64(o.uid)) {
			t.Errorf("sysv channel OPEN: the host sees the vat's %s object key %d uid %d", o.kind, o.key, o.uid)
		}
	}
}

func randomKey() int32 {
	var b [4]byte
	rand.Read(b[:])
	return int32(binary.LittleEndian.Uint32(b[:])&0x3fffffff) + 1
}

// testMqueue: a host queue anyone may open stays out of reach, and what the program makes
// stays in its IPC namespace.
func (s *escapeSuite) testMqueue(t *testing.T, v *escapeVariant) {
	nonce := s.nonce()
	hostMQ, vatMQ := "factoryd-escape-host-"+nonce, "factoryd-escape-"+nonce
	require.NoError(t, mqOpen(hostMQ, true))
	t.Cleanup(func() { mqUnlink(hostMQ) })
	require.NoError(t, mqOpen(hostMQ, false), "positive control: the host opens its own queue")
	rep, _ := s.attack(t, v, escapeRequest{Attack: "mqueue", Nonce: nonce, MQ: vatMQ, HostMQ: hostMQ})
	mustFail(t, "mqueue", rep, "mq_open host "+hostMQ, "mq_open host read-only "+hostMQ)
	if err := mqOpen(vatMQ, false); !isNotExist(err) {
		t.Errorf("mqueue channel OPEN: the host opens the vat's queue %s: %v", vatMQ, err)
		mqUnlink(vatMQ)
	}
}

// testKeyring: no key is made, and the host's key lists show none of the vat's.
func (s *escapeSuite) testKeyring(t *testing.T, v *escapeVariant) {
	nonce := s.nonce()
	rep, _ := s.attack(t, v, escapeRequest{Attack: "keyring", Nonce: nonce})
	mustAllFail(t, "keyring", rep, 7)
	for _, line := range keyLines("factoryd-escape-"+nonce, s.ids) {
		t.Errorf("keyring channel OPEN: %s", line)
	}
}

// testPtrace: nothing is traced or read; this process has no tracer.
func (s *escapeSuite) testPtrace(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "ptrace", Pids: []int{os.Getpid()}})
	mustAllFail(t, "ptrace", rep, 8)
	assert.Equal(t, "0", procStatus("/proc/self/status")["TracerPid"])
}

// testMounts: no mount, namespace or root changes; the host's mounts are as they were.
func (s *escapeSuite) testMounts(t *testing.T, v *escapeVariant) {
	before := mountinfo("/proc/self/mountinfo")
	rep, _ := s.attack(t, v, escapeRequest{Attack: "mounts", Pids: []int{os.Getpid()}})
	mustAllFail(t, "mounts", rep, 30)
	if after := mountinfo("/proc/self/mountinfo"); !slices.Equal(before, after) {
		t.Errorf("mounts channel OPEN: the host's mounts changed:\nbefore %q\nafter %q", before, after)
	}
}

// testAllFail: attacks whose every attempt must fail (devices, seccomp-only calls).
func (s *escapeSuite) testAllFail(t *testing.T, v *escapeVariant) {
	attack := strings.SplitN(t.Name(), "/", 4)[2]
	rep, _ := s.attack(t, v, escapeRequest{Attack: attack})
	mustAllFail(t, attack, rep, 10)
}

// declaredForms are seccomp attempts a declaration allows, by design and in the factory's
// audit: declaring clone lets a program start processes (inside its pid namespace and cgroup,
// never new namespaces), declaring mmap or mprotect lets it map code (a JIT).
var declaredForms = map[string]string{"fork": "clone", "mmap PROT_EXEC": "mmap", "mprotect PROT_EXEC": "mprotect"}

// testSeccomp: calls only seccomp stops fail, except the declared forms of the syscalls the
// factory declared; those succeed exactly when declared, so the check cannot pass vacuously.
func (s *escapeSuite) testSeccomp(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "seccomp"})
	if len(rep.Attempts) < 10 {
		t.Errorf("seccomp: the program made %d attempts, want at least 10", len(rep.Attempts))
	}
	for _, a := range rep.Attempts {
		by, form := declaredForms[a.Name]
		switch {
		case form && slices.Contains(v.declared, by):
			if !a.OK {
				t.Errorf("seccomp: %q failed although the factory declares %s: %s", a.Name, by, a.Err)
			}
		case a.OK:
			t.Errorf("seccomp channel OPEN: %q succeeded inside the vat", a.Name)
		}
	}
}

// testPrivileges: no privilege is gained; the program stays uid 1000 with no capability.
func (s *escapeSuite) testPrivileges(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "privileges"})
	mustAllFail(t, "privileges", rep, 10)
	assert.Equal(t, []int{programUID, programUID, programUID, programUID}, []int{rep.UID, rep.EUID, rep.GID, rep.EGID})
	for _, c := range rep.Caps {
		if c != 0 {
			t.Errorf("privileges channel OPEN: the program holds capabilities %x", rep.Caps)
			break
		}
	}
}

// testProcSys: nothing of the host is read through /proc or /sys, nor opened for writing.
func (s *escapeSuite) testProcSys(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "procsys", Pids: []int{os.Getpid()}})
	mustAllFail(t, "procsys", rep, 30)
	for _, p := range rep.Root {
		if !slices.Contains([]string{"/", "/bin", "/bin/prog"}, p) {
			t.Errorf("procsys: the vat's root holds %s", p)
		}
	}
}

// testHostname: the host's names are unchanged.
func (s *escapeSuite) testHostname(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "hostname"})
	mustAllFail(t, "hostname", rep, 2)
	assert.Equal(t, "yield", rep.Hostname)
	s.checkNames(t)
}

// checkNames fails, and puts them back, if the host's hostname or domain name changed.
func (s *escapeSuite) checkNames(t *testing.T) {
	t.Helper()
	for _, n := range []struct{ file, want string }{
		{"/proc/sys/kernel/hostname", s.before.hostname}, {"/proc/sys/kernel/domainname", s.before.domainname}} {
		if got := readTrim(n.file); got != n.want {
			t.Errorf("hostname channel OPEN: %s is %q, was %q", n.file, got, n.want)
			os.WriteFile(n.file, []byte(n.want), 0)
		}
	}
}

// testClock: the host's wall clock does not jump.
func (s *escapeSuite) testClock(t *testing.T, v *escapeVariant) {
	before := clockOffset()
	rep, _ := s.attack(t, v, escapeRequest{Attack: "clock"})
	mustAllFail(t, "clock", rep, 4)
	if moved := clockOffset() - before; moved > 2*time.Second || moved < -2*time.Second {
		t.Errorf("clock channel OPEN: the host's wall clock moved by %v", moved)
	}
}

// testFDs: the program starts with fds 0-3 only, none leading to a host file.
func (s *escapeSuite) testFDs(t *testing.T, v *escapeVariant) {
	rep, pid := s.attack(t, v, escapeRequest{Attack: "fds"})
	assert.Equal(t, []int{0, 1, 2, 3}, rep.StartFDs, "fd channel: only fds 0-3 are open at start")
	mustAllFail(t, "fds", rep, 1)
	require.NotEmpty(t, rep.FDs)
	for _, fd := range rep.FDs {
		switch {
		case fd.FD == 0 && fd.Type != "char 1:3":
			t.Errorf("fd channel OPEN: fd 0 is %s, not /dev/null", fd.Type)
		case fd.FD == 3 && fd.Type != "socket":
			t.Errorf("fd channel OPEN: fd 3 is %s, not the RPC socket", fd.Type)
		case strings.HasPrefix(fd.Type, "file") || fd.Type == "directory" || fd.Type == "block":
			t.Errorf("fd channel OPEN: fd %d is a %s", fd.FD, fd.Type)
		}
	}
	vatView{pid: pid}.checkFDs(t)
}

// testLocks: the program's record locks, on the files it shares with the host, show in the
// host's lock table, which any local user reads (/proc/locks), and to anyone who asks F_GETLK.
func (s *escapeSuite) testLocks(t *testing.T, v *escapeVariant) {
	start := int64(randomKey()) << 8
	// Positive control: this process's own lock on /dev/null shows in both places.
	ctl, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	require.NoError(t, err)
	defer ctl.Close()
	ctlStart := start - 64
	require.NoError(t, unix.FcntlFlock(ctl.Fd(), unix.F_OFD_SETLK,
		&unix.Flock_t{Type: unix.F_WRLCK, Start: ctlStart, Len: 1}))
	require.NotEmpty(t, lockLines(0, ctlStart, ctlStart+1), "positive control: /proc/locks shows a lock")
	require.NotEmpty(t, heldLocks(t, ctlStart, ctlStart+1), "positive control: F_GETLK shows a lock")
	require.NoError(t, unix.FcntlFlock(ctl.Fd(), unix.F_OFD_SETLK,
		&unix.Flock_t{Type: unix.F_UNLCK, Start: ctlStart, Len: 1}))

	inst, rep, pid := s.attackInstance(t, v, escapeRequest{Attack: "locks", LockStart: start}, nil)
	require.GreaterOrEqual(t, len(rep.Attempts), 12)
	for _, line := range lockLines(pid, start, start+64) {
		t.Errorf("locks channel OPEN: the host's /proc/locks (world-readable) shows the vat's lock: %s", line)
	}
	for _, l := range heldLocks(t, start, start+64) {
		t.Errorf("locks channel OPEN: F_GETLK on the host's /dev/null finds the vat's lock: %s", l)
	}
	// And once the vat has gone?
	require.NoError(t, inst.Kill(ctxT(t)))
	for _, l := range heldLocks(t, start, start+64) {
		t.Errorf("locks channel OPEN: the vat's lock outlives it, for later vats to read: %s", l)
	}
}

// testFDFlags: file status flags the program sets on its fds 0-2 do not show on another
// vat's (the bystander's) fds 0-2.
func (s *escapeSuite) testFDFlags(t *testing.T, v *escapeVariant) {
	const watched = unix.O_APPEND | unix.O_NONBLOCK
	// What an earlier variant changed would stay: put it back, now and at the end.
	clearFDFlags(t, s.bystanderPid, watched)
	t.Cleanup(func() { clearFDFlags(t, s.bystanderPid, watched) })
	for fd := 0; fd <= 2; fd++ {
		flags, err := fdinfoFlags(s.bystanderPid, fd)
		require.NoError(t, err, "positive control: the host reads the bystander's fd flags")
		require.Zero(t, flags&watched, "the bystander's fd %d starts without the flags", fd)
	}
	require.Zero(t, fdSig(t, s.bystanderPid, 0), "the bystander's fd 0 starts with no signal set")
	rep, _ := s.attack(t, v, escapeRequest{Attack: "fdflags"})
	require.Len(t, rep.Attempts, 4)
	for fd := 0; fd <= 2; fd++ {
		flags, err := fdinfoFlags(s.bystanderPid, fd)
		require.NoError(t, err)
		if flags&watched != 0 {
			t.Errorf("fd-flags channel OPEN: another vat's fd %d now has flags %#o: vats share an open file description", fd, flags)
		}
	}
	if sig := fdSig(t, s.bystanderPid, 0); sig != 0 {
		t.Errorf("fd-flags channel OPEN: another vat's fd 0 now has F_GETSIG %d: vats share an open file description", sig)
	}
}

// testEnviron: the daemon's environment, secret included, does not reach the program.
func (s *escapeSuite) testEnviron(t *testing.T, v *escapeVariant) {
	rep, _ := s.attack(t, v, escapeRequest{Attack: "environ"})
	require.Equal(t, s.secret, os.Getenv(escapeSecretEnv), "positive control: the daemon's process has the secret")
	for _, e := range rep.Env {
		if strings.Contains(e, s.secret) || strings.HasPrefix(e, escapeSecretEnv) {
			t.Errorf("environment channel OPEN: the program sees %q", e)
		}
	}
	assert.Empty(t, rep.Env, "the program's environment is empty")
}

// bystanderWatch calls the well-behaved instance until stopped, and reports how it fared.
func (s *escapeSuite) bystanderWatch() func(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var ok int
	var worst time.Duration
	var errs []error
	go func() {
		defer close(done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := time.Now()
			out, err := s.bystander.Run(ctx, []byte("echo:alive"))
			cancel()
			worst = max(worst, time.Since(start))
			if err == nil && string(out) == "alive" {
				ok++
			} else {
				errs = append(errs, fmt.Errorf("%q %v", out, err))
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func(t *testing.T) {
		t.Helper()
		close(stop)
		<-done
		assert.Empty(t, errs, "the well-behaved instance kept answering")
		assert.Positive(t, ok, "the well-behaved instance answered meanwhile")
		assert.Less(t, worst, 10*time.Second, "the well-behaved instance answered promptly")
	}
}

// testForkBomb: the program makes processes and threads until the pids limit stops it; it is
// contained, its requestor learns why, and another factory's instance answers meanwhile.
func (s *escapeSuite) testForkBomb(t *testing.T, v *escapeVariant) {
	s.testExhaustion(t, v, "forkbomb", client.Limits{Pids: 32}, "process limit of 32 reached")
}

// testMemHog: the same with memory.
func (s *escapeSuite) testMemHog(t *testing.T, v *escapeVariant) {
	s.testExhaustion(t, v, "memhog", client.Limits{MemoryBytes: 64 << 20}, "memory limit 64 MiB exceeded")
}

func (s *escapeSuite) testExhaustion(t *testing.T, v *escapeVariant, attack string, lim client.Limits, reason string) {
	ctx := ctxT(t)
	check := s.bystanderWatch()
	inst, _ := s.create(t, v, &client.CreateOptions{Limits: lim})
	in, _ := json.Marshal(escapeRequest{Attack: attack, Nonce: s.nonce()})
	out, err := inst.Run(ctx, in)
	assert.Error(t, err, "%s: the instance was stopped, not left to report: %s", attack, out)
	ended, err := inst.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, reason, ended.EndReason, "%s: the requestor learns which limit ended the instance", attack)
	check(t)
	out, err = s.bystander.Run(ctx, []byte("echo:after"))
	require.NoError(t, err)
	assert.Equal(t, "after", string(out))
}

// testExit: the program's stderr reaches its requestor's debug sink and its exit status its
// requestor, but nothing of either reaches any view of the builder's.
func (s *escapeSuite) testExit(t *testing.T, v *escapeVariant) {
	ctx := ctxT(t)
	nonce := s.nonce()
	var stdout, stderr lockedBuffer
	inst, _ := s.create(t, v, &client.CreateOptions{Stdout: &stdout, Stderr: &stderr})
	in, _ := json.Marshal(escapeRequest{Attack: "exit", Nonce: nonce, Exit: 42})
	_, err := inst.Run(ctx, in)
	require.Error(t, err, "the program exits without answering")
	ended, err := inst.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "exited with status 42", ended.EndReason, "positive control: the requestor learns the status")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), nonce) }, 5*time.Second,
		10*time.Millisecond, "positive control: stderr reaches the requestor's debug sink")

	views := map[string]func() (any, error){
		"builder info":  func() (any, error) { return v.b.Info(ctx) },
		"builder holes": func() (any, error) { return v.b.Holes(ctx) },
		"factory list":  func() (any, error) { return s.c.Factories(ctx) },
		"audit log":     func() (any, error) { return s.c.AuditLog(ctx, "", 1000) },
		"factory audit log": func() (any, error) {
			return s.c.AuditLog(ctx, v.factory, 1000)
		},
	}
	for name, view := range views {
		got, err := view()
		require.NoError(t, err, name)
		b, err := json.Marshal(got)
		require.NoError(t, err)
		if strings.Contains(name, "audit") {
			require.Contains(t, string(b), ended.ID, "positive control: the %s covers the instance", name)
		}
		for _, secret := range []string{nonce, ended.EndReason, "status 42"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("exit channel OPEN: the %s shows %q: %s", name, secret, b)
			}
		}
	}
}

// checkHost runs once the daemon has stopped: the host is as the suite found it, and nothing
// of any vat is left.
func (s *escapeSuite) checkHost(t *testing.T) {
	s.checkNames(t)
	after := takeHostSnapshot()
	if !slices.Equal(s.before.mountinfo, after.mountinfo) {
		t.Errorf("the host's mounts changed:\nbefore %q\nafter %q", s.before.mountinfo, after.mountinfo)
	}
	if moved := after.clockOffset - s.before.clockOffset; moved > 2*time.Second || moved < -2*time.Second {
		t.Errorf("the host's wall clock moved by %v", moved)
	}
	for d, names := range after.dirs {
		for n := range names {
			if !s.before.dirs[d][n] {
				t.Logf("new in %s: %s (not the vats': checked below)", d, n)
			}
		}
	}
	for _, trace := range hostTraces(s.allNonces(), s.ids, s.plant) {
		t.Errorf("files: %s", trace)
	}
	for _, o := range after.ipc {
		if s.ids.has(uint64(o.uid)) {
			t.Errorf("sysv: a %s object of a vat's uid remains: key %d", o.kind, o.key)
		}
	}
	for _, line := range keyLines("factoryd-escape-", s.ids) {
		t.Errorf("keyring: %s", line)
	}
	if got := s.signals.take(); len(got) > 0 {
		t.Errorf("signals: this process received %v", got)
	}
	assert.True(t, s.sleeper.alive(), "the sleeper survived")
	var left []string
	if !assert.Eventually(t, func() bool { left = vatProcesses(s.ids); return len(left) == 0 }, 5*time.Second,
		20*time.Millisecond, "no process of a vat's uid remains") {
		t.Errorf("left behind: %v", left)
	}
	if !assert.Eventually(t, func() bool { left = s.leftCgroups(); return len(left) == 0 }, 5*time.Second,
		20*time.Millisecond, "no cgroup of this suite's vats remains") {
		t.Errorf("left behind: %v", left)
	}
}

// leftCgroups lists the vat cgroup directories named after this process's children.
func (s *escapeSuite) leftCgroups() []string {
	var out []string
	for _, d := range cgroupVatDirs() {
		if s.children.has(vatDirPid(d)) {
			out = append(out, d)
		}
	}
	return out
}
