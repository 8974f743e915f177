package vat

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// The seccomp policy of every vat: default deny. A program may make the syscalls a Go program
// serving RPC on fd 3 needs, some with argument checks, plus those its factory declares.
// Everything else fails with EPERM; in log mode the daemon is notified of each refusal first,
// and names it to the requestor.

// baseSyscalls need no argument check: they act only on the calling process, its memory, its
// threads and its open fds (which are fds 0-3 and what it makes of them).
var baseSyscalls = []string{
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat",
	"lseek", "dup", "dup3", "getsockopt", "getsockname", "getpeername", "shutdown",
	"recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_create1", "epoll_ctl", "epoll_pwait",
	"epoll_pwait2", "eventfd2", "pipe2", "ppoll", "munmap", "madvise", "mremap", "brk", "futex",
	"set_robust_list", "get_robust_list", "rseq", "gettid", "getpid", "getppid", "getuid",
	"geteuid", "getgid", "getegid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"rt_sigpending", "rt_sigtimedwait", "sigaltstack", "sched_yield", "sched_getaffinity",
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "exit",
	"exit_group", "getrusage", "getrandom", "uname", "restart_syscall", "execve",
	"set_tid_address", "membarrier", "getcwd", "getrlimit", "umask",
	// amd64 only; absent names are skipped on other machines.
	"arch_prctl", "epoll_wait", "time", "poll",
}

// neverSyscalls may not be declared by a factory: each reaches beyond the vat (mounts,
// namespaces, other processes, the kernel's keyring, module or clock), or undoes confinement.
var neverSyscalls = []string{
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "keyctl", "add_key",
	"request_key", "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "perf_event_open", "userfaultfd", "kexec_load",
	"kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
	"swapoff", "open_by_handle_at", "name_to_handle_at", "setuid", "setgid", "setreuid",
	"setregid", "setresuid", "setresgid", "setgroups", "capset", "personality", "fsopen",
	"fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr", "quotactl",
	"acct", "syslog", "vhangup", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "pidfd_getfd", "kcmp", "seccomp",
	"clone3", "fork", "vfork",
	// Locks on a file are seen by every process that can open it, and the one file a vat
	// holds, its program, is shared by every instance of it.
	"flock",
}

// Actions.
const (
	actAllow  = unix.SECCOMP_RET_ALLOW
	actEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	actENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	actNotify = unix.SECCOMP_RET_USER_NOTIF
	actKill   = unix.SECCOMP_RET_KILL_PROCESS
)

// seccomp_data offsets: nr, arch, then the six 64-bit arguments from offset 16.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// CheckSyscalls validates syscalls a factory declares: each must be known on this machine and
// not on the never list.
func CheckSyscalls(names []string) error {
	for _, n := range names {
		if slices.Contains(neverSyscalls, n) {
			return fmt.Errorf("%w: syscall %q may not be declared: it reaches beyond the vat", ErrInvalidPolicy, n)
		}
		if c, ok := checkedSyscalls[n]; ok && c.declared == nil {
			return fmt.Errorf("%w: syscall %q is allowed with argument checks (%s); it cannot be declared beyond them",
				ErrInvalidPolicy, n, c.what)
		}
		if _, ok := syscallNumbers[n]; !ok {
			return fmt.Errorf("%w: unknown syscall %q", ErrInvalidPolicy, n)
		}
	}
	return nil
}

// SyscallName names a syscall number on this machine ("syscall 1234" if unknown).
func SyscallName(nr int) string {
	for name, n := range syscallNumbers {
		if int(n) == nr {
			return name
		}
	}
	return fmt.Sprintf("syscall %d", nr)
}

// filter compiles the policy with the given extra syscalls. logMode makes refusals notify the
// daemon (SECCOMP_RET_USER_NOTIF) instead of failing at once.
func filter(extra []string, logMode bool) ([]unix.SockFilter, error) {
	if err := CheckSyscalls(extra); err != nil {
		return nil, err
	}
	deny := uint32(actEPERM)
	if logMode {
		deny = actNotify
	}
	a := &asm{deny: deny}
	a.header()
	rules := rulesFor(allowed(extra), extra)
	if err := a.tree(rules); err != nil {
		return nil, err
	}
	return a.prog, nil
}

// rule decides one syscall: its block of instructions, which starts with the accumulator
// holding the syscall number and either returns or falls through (not this syscall). A rule
// with no block allows its syscall whatever the arguments: one jump to its leaf's shared
// "allow".
type rule struct {
	nr    uintptr
	block func(a *asm)
}

// rulesFor lists every syscall the filter decides other than by default, one rule per number:
// the allowed ones, and those with argument checks (declared ones in their declared form),
// sorted by number.
func rulesFor(allow []uintptr, declared []string) []rule {
	var out []rule
	for _, nr := range allow {
		out = append(out, rule{nr: nr})
	}
	out = append(out, specialRules(declared)...)
	sort.Slice(out, func(i, j int) bool { return out[i].nr < out[j].nr })
	return out
}

// leafRules is how many rules a leaf of the decision tree tests one after another.
const leafRules = 6

// tree emits a balanced decision tree over rules (sorted by number): each inner node tests
// "number >= pivot" and jumps over its left subtree; each leaf tests its few rules and then
// denies. A syscall costs a handful of comparisons, not one per rule. The filter is short too
// (each unconditional rule is one instruction), which matters because the kernel checks,
// translates and JIT-compiles it at every vat's start: loading the default filter took 117 µs
// here at 239 instructions, 85 µs at 184, against ≈ 35 µs for a filter of one instruction.
func (a *asm) tree(rules []rule) error {
	if len(rules) <= leafRules {
		a.leaf(rules)
		return nil
	}
	mid := len(rules) / 2
	left := &asm{deny: a.deny}
	if err := left.tree(rules[:mid]); err != nil {
		return err
	}
	if len(left.prog) > 255 {
		return fmt.Errorf("%w: filter subtree of %d instructions", ErrInvalidPolicy, len(left.prog))
	}
	a.jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, uint32(rules[mid].nr), uint8(len(left.prog)), 0)
	a.prog = append(a.prog, left.prog...)
	return a.tree(rules[mid:])
}

// leaf emits rules one after another, then "deny" and, if an unconditional rule jumps to it,
// "allow".
func (a *asm) leaf(rules []rule) {
	var jumps []int // unconditional rules, whose jump to "allow" is set once its place is known
	for _, r := range rules {
		if r.block != nil {
			r.block(a)
			continue
		}
		jumps = append(jumps, len(a.prog))
		a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(r.nr), 0, 0)
	}
	a.ret(a.deny)
	if len(jumps) == 0 {
		return
	}
	allow := len(a.prog)
	a.ret(actAllow)
	for _, i := range jumps {
		a.prog[i].Jt = uint8(allow - i - 1) // a leaf is a few dozen instructions at most
	}
}

// allowed lists the syscalls allowed without condition, sorted, known on this machine.
func allowed(extra []string) []uintptr {
	var nrs []uintptr
	for _, n := range append(slices.Clone(baseSyscalls), extra...) {
		if _, checked := checkedSyscalls[n]; checked {
			continue // decided by its own rule
		}
		if nr, ok := syscallNumbers[n]; ok && !slices.Contains(nrs, nr) {
			nrs = append(nrs, nr)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	return nrs
}

// asm assembles a classic BPF program. Every rule is a block that either does not match (and
// leaves the accumulator holding the syscall number) or returns, so no jump is ever longer
// than a block.
type asm struct {
	prog []unix.SockFilter
	deny uint32
}

func (a *asm) stmt(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *asm) jump(code uint16, k uint32, jt, jf uint8) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
}

func (a *asm) ret(action uint32) { a.stmt(unix.BPF_RET|unix.BPF_K, action) }

func (a *asm) loadNr() { a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr) }

// header kills a process calling with another architecture's syscall convention, and leaves
// the syscall number in the accumulator.
func (a *asm) header() {
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, auditArch, 1, 0)
	a.ret(actKill)
	a.loadNr()
	if x32Bit != 0 {
		a.jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, x32Bit, 0, 1)
		a.ret(actKill)
	}
}

func (a *asm) allow(nr uintptr) {
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(nr), 0, 1)
	a.ret(actAllow)
}

// check is one condition on an argument word: the word must (or must not) have mask bits set,
// or must equal value.
type check struct {
	arg   int
	high  bool // the high 32 bits of the argument
	op    uint16
	value uint32
	pass  bool // the condition holds when the jump is taken
}

func eq(arg int, high bool, v uint32) check { return check{arg, high, unix.BPF_JEQ, v, true} }
func set(arg int, mask uint32) check        { return check{arg, false, unix.BPF_JSET, mask, true} }
func clear(arg int, mask uint32) check      { return check{arg, false, unix.BPF_JSET, mask, false} }

// cond allows nr only when every check holds; otherwise the call is denied. The block ends
// with "allow, deny"; each check jumps to the deny at its end when it fails.
func (a *asm) cond(nr uintptr, checks ...check) {
	size := 2*len(checks) + 2
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(nr), 0, uint8(size))
	for i, c := range checks {
		off := uint32(offArgs + 8*c.arg)
		if c.high {
			off += 4 // little-endian: the high word follows
		}
		a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off)
		toDeny := uint8(size - 2*i - 3)
		if c.pass {
			a.jump(unix.BPF_JMP|c.op|unix.BPF_K, c.value, 0, toDeny)
		} else {
			a.jump(unix.BPF_JMP|c.op|unix.BPF_K, c.value, toDeny, 0)
		}
	}
	a.ret(actAllow)
	a.ret(a.deny)
}

// oneOf allows nr only when the low word of argument arg is one of values (and its high word
// is zero). Block, after the syscall test at 0: 1 load high word, 2 test it, 3 load low word,
// 4..3+n test each value, 4+n deny, 5+n allow.
func (a *asm) oneOf(nr uintptr, arg int, values ...uint32) {
	n := len(values)
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(nr), 0, uint8(n+5))
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*arg+4))
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, 0, uint8(n+1)) // a high word is never valid
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*arg))
	for i, v := range values {
		a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, v, uint8(n-i), 0)
	}
	a.ret(a.deny)
	a.ret(actAllow)
}

// prctl options a program may use: naming its own memory mappings (the Go runtime does so at
// start) and threads.
const prSetVMA = 0x53564d41

// fixed returns action for nr whatever its arguments.
func (a *asm) fixed(nr uintptr, action uint32) {
	a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, uint32(nr), 0, 1)
	a.ret(action)
}

// namespaceFlags are the clone flags that would make a process leave the vat's namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// checkedSyscall is a syscall allowed only with some arguments. A factory may declare it to
// lift the check to its declared form, which still keeps the call inside the vat; nil declared
// means no such form exists and the syscall cannot be declared.
type checkedSyscall struct {
	what     string // what the check allows, for people
	strict   func(a *asm, nr uintptr)
	declared func(a *asm, nr uintptr)
}

func allowAll(a *asm, nr uintptr) { a.allow(nr) }

// fcntl commands on the calling process's own descriptors: duplicate, close-on-exec, status
// flags. Locks, leases, owners, signals and notifications are what fcntl does beyond them.
var fcntlCommands = []uint32{unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL, unix.F_SETFL}

// checkedSyscalls are the syscalls with argument checks. The program is pid 1 of its pid
// namespace. Each block that loads an argument returns, so the accumulator holds the syscall
// number again for whatever follows a block that falls through.
var checkedSyscalls = map[string]checkedSyscall{
	"clone": {"threads only",
		func(a *asm, nr uintptr) {
			a.cond(nr, eq(0, true, 0), set(0, unix.CLONE_THREAD), clear(0, namespaceFlags))
		},
		// Declared: processes too (inside the vat's pid namespace and cgroup), never namespaces.
		func(a *asm, nr uintptr) { a.cond(nr, eq(0, true, 0), clear(0, namespaceFlags)) }},
	// Signals to its own threads only; declared, to any process of its pid namespace.
	"tgkill": {"signals to its own threads", func(a *asm, nr uintptr) { a.cond(nr, eq(0, false, 1), eq(0, true, 0)) }, allowAll},
	// No executable memory: nothing in a vat needs to generate code unless it declares so (a JIT).
	"mmap":     {"no executable mappings", func(a *asm, nr uintptr) { a.cond(nr, clear(2, unix.PROT_EXEC)) }, allowAll},
	"mprotect": {"no executable mappings", func(a *asm, nr uintptr) { a.cond(nr, clear(2, unix.PROT_EXEC)) }, allowAll},
	// Read its own limits; declared, also lower them (raising past a hard limit needs a
	// capability no vat has).
	"prlimit64": {"reading its own limits",
		func(a *asm, nr uintptr) { a.cond(nr, eq(0, false, 0), eq(0, true, 0), eq(2, false, 0), eq(2, true, 0)) }, allowAll},
	// Naming its own memory mappings (the Go runtime does so at start) and threads. Other
	// options reach beyond the vat (the parent-death signal, which ties a vat's life to the
	// daemon's) and have no declared form.
	"prctl": {"naming mappings and threads",
		func(a *asm, nr uintptr) { a.oneOf(nr, 0, prSetVMA, unix.PR_SET_NAME, unix.PR_GET_NAME) }, nil},
	"fcntl": {"duplicating descriptors and their flags",
		func(a *asm, nr uintptr) { a.oneOf(nr, 1, fcntlCommands...) }, nil},
}

// specialRules are the rules of the checked syscalls known on this machine, in their declared
// form where declared, and clone3's.
func specialRules(declared []string) []rule {
	var out []rule
	for name, c := range checkedSyscalls {
		nr, ok := syscallNumbers[name]
		if !ok {
			continue
		}
		block := c.strict
		if slices.Contains(declared, name) && c.declared != nil {
			block = c.declared
		}
		out = append(out, rule{nr, func(a *asm) { block(a, nr) }})
	}
	// clone3 cannot have its flags checked (they are in memory): say it does not exist, so
	// runtimes fall back to clone.
	if nr, ok := syscallNumbers["clone3"]; ok {
		out = append(out, rule{nr, func(a *asm) { a.fixed(nr, actENOSYS) }})
	}
	return out
}

// filterCache keeps compiled filters, encoded for the helper's request (encodeFilter), by their
// declared syscalls and mode: a factory's filter is compiled once, not per vat.
//
// mu guards m.
type filterCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *filterCache) get(extra []string, logMode bool) ([]byte, error) {
	key := fmt.Sprint(logMode, extra)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prog, ok := c.m[key]; ok {
		return prog, nil
	}
	compiled, err := filter(extra, logMode)
	if err != nil {
		return nil, err
	}
	prog := encodeFilter(compiled)
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	if len(c.m) < 1024 {
		c.m[key] = prog
	}
	return prog, nil
}
