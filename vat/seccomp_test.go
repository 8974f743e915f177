package vat

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// seccompData is the input a filter sees.
type seccompData struct {
	nr   uintptr
	arch uint32
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], uint32(d.nr))
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets the classic BPF the assembler emits: absolute word loads, JEQ/JSET/JGE with
// constants, returns.
func run(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	data := d.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if jumpTaken(in, acc) {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("unexpected instruction %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

func jumpTaken(in unix.SockFilter, acc uint32) bool {
	switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
	case unix.BPF_JEQ:
		return acc == in.K
	case unix.BPF_JSET:
		return acc&in.K != 0
	}
	return acc >= in.K
}

func sc(name string, args ...uint64) seccompData {
	d := seccompData{nr: syscallNumbers[name], arch: auditArch}
	copy(d.args[:], args)
	return d
}

func TestFilterDecisions(t *testing.T) {
	prog, err := filter([]string{"openat"}, false)
	require.NoError(t, err)
	require.Less(t, len(prog), 4096, "the kernel's limit on filter length")
	assert.Less(t, maxPath(prog), 40, "a decision takes a handful of comparisons, not one per rule")
	thread := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	tests := []struct {
		name string
		in   seccompData
		want uint32
	}{
		{"read", sc("read", 3), actAllow},
		{"declared openat", sc("openat"), actAllow},
		{"undeclared socket", sc("socket", unix.AF_INET), actEPERM},
		{"mount", sc("mount"), actEPERM},
		{"ptrace", sc("ptrace"), actEPERM},
		{"clone a thread", sc("clone", thread), actAllow},
		{"clone a process", sc("clone", uint64(unix.SIGCHLD)), actEPERM},
		{"clone a thread into a new user namespace", sc("clone", thread|unix.CLONE_NEWUSER), actEPERM},
		{"clone flags in the high word", sc("clone", thread|1<<40), actEPERM},
		{"clone3", sc("clone3"), actENOSYS},
		{"tgkill own thread", sc("tgkill", 1, 7, 23), actAllow},
		{"tgkill another process", sc("tgkill", 2, 2, 9), actEPERM},
		{"kill", sc("kill", 1, 9), actEPERM},
		{"mmap data", sc("mmap", 0, 4096, unix.PROT_READ|unix.PROT_WRITE), actAllow},
		{"mmap executable", sc("mmap", 0, 4096, unix.PROT_READ|unix.PROT_EXEC), actEPERM},
		{"mprotect executable", sc("mprotect", 0, 4096, unix.PROT_EXEC), actEPERM},
		{"prlimit64 read own", sc("prlimit64", 0, unix.RLIMIT_NOFILE, 0, 0xdead), actAllow},
		{"prlimit64 set", sc("prlimit64", 0, unix.RLIMIT_NOFILE, 0xbeef, 0), actEPERM},
		{"prlimit64 another process", sc("prlimit64", 5, unix.RLIMIT_NOFILE, 0, 0xdead), actEPERM},
		{"prctl name a mapping", sc("prctl", prSetVMA), actAllow},
		{"prctl name a thread", sc("prctl", unix.PR_SET_NAME), actAllow},
		{"prctl drop no_new_privs", sc("prctl", unix.PR_SET_NO_NEW_PRIVS), actEPERM},
		{"prctl option in the high word", sc("prctl", prSetVMA|1<<32), actEPERM},
		{"fcntl set flags", sc("fcntl", 0, unix.F_SETFL, unix.O_NONBLOCK), actAllow},
		{"fcntl dup", sc("fcntl", 5, unix.F_DUPFD_CLOEXEC, 100), actAllow},
		{"fcntl lock", sc("fcntl", 0, unix.F_SETLK), actEPERM},
		{"fcntl open file description lock", sc("fcntl", 0, unix.F_OFD_SETLK), actEPERM},
		{"fcntl query locks", sc("fcntl", 0, unix.F_GETLK), actEPERM},
		{"fcntl signal owner", sc("fcntl", 0, unix.F_SETOWN, 1), actEPERM},
		{"fcntl signal", sc("fcntl", 0, unix.F_SETSIG, 10), actEPERM},
		{"fcntl lease", sc("fcntl", 0, unix.F_SETLEASE), actEPERM},
		{"flock", sc("flock", 0, unix.LOCK_EX), actEPERM},
		{"another architecture", seccompData{nr: syscallNumbers["read"], arch: auditArch + 1}, actKill},
	}
	if x32Bit != 0 {
		tests = append(tests, struct {
			name string
			in   seccompData
			want uint32
		}{"x32 convention", seccompData{nr: syscallNumbers["read"] | x32Bit, arch: auditArch}, actKill})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, fmt.Sprintf("%#x", tt.want), fmt.Sprintf("%#x", run(t, prog, tt.in)))
		})
	}
	logProg, err := filter(nil, true)
	require.NoError(t, err)
	assert.Equal(t, uint32(actNotify), run(t, logProg, sc("socket")), "log mode notifies instead")
	assert.Equal(t, uint32(actAllow), run(t, logProg, sc("read")))
	_, err = filter([]string{"bpf"}, false)
	assert.ErrorIs(t, err, ErrInvalidPolicy)
}

// Declaring a syscall that has argument checks gives it its declared form, never an
// unconditional allow beside the checked rule: what stays forbidden stays so.
func TestDeclaredCheckedSyscallsKeepTheirLimits(t *testing.T) {
	var declarable []string
	for name, c := range checkedSyscalls {
		if c.declared != nil {
			declarable = append(declarable, name)
		} else {
			assert.ErrorIs(t, CheckSyscalls([]string{name}), ErrInvalidPolicy, "%s has no declared form", name)
		}
	}
	sets := [][]string{append(slices.Clone(declarable), "openat", "socket", "kill")}
	for _, n := range declarable {
		sets = append(sets, []string{n})
	}
	for _, extra := range sets {
		prog, err := filter(extra, false)
		require.NoError(t, err)
		for _, in := range []seccompData{
			sc("clone", uint64(unix.SIGCHLD)|unix.CLONE_NEWUSER),
			sc("clone", unix.CLONE_NEWNET),
			sc("clone", uint64(unix.SIGCHLD)|1<<40),
			sc("prctl", unix.PR_SET_PDEATHSIG, 0),
			sc("prctl", unix.PR_SET_NO_NEW_PRIVS),
			sc("fcntl", 0, unix.F_SETLK),
			sc("fcntl", 0, unix.F_OFD_SETLK),
			sc("unshare", unix.CLONE_NEWUSER),
		} {
			assert.Equal(t, uint32(actEPERM), run(t, prog, in), "declared %v: %s %#x", extra, SyscallName(int(in.nr)), in.args[0])
		}
	}
	prog, err := filter([]string{"clone", "mmap", "tgkill"}, false)
	require.NoError(t, err)
	assert.Equal(t, uint32(actAllow), run(t, prog, sc("clone", uint64(unix.SIGCHLD))), "declared clone: processes")
	assert.Equal(t, uint32(actAllow), run(t, prog, sc("mmap", 0, 4096, unix.PROT_READ|unix.PROT_EXEC)), "declared mmap: a JIT")
	assert.Equal(t, uint32(actEPERM), run(t, prog, sc("mprotect", 0, 4096, unix.PROT_EXEC)), "mprotect was not declared")
	assert.Equal(t, uint32(actAllow), run(t, prog, sc("tgkill", 2, 2, 9)), "declared tgkill: other processes of the vat")
	assert.ErrorIs(t, CheckSyscalls([]string{"flock"}), ErrInvalidPolicy)
}

func TestEveryBaseSyscallIsAllowed(t *testing.T) {
	prog, err := filter(nil, false)
	require.NoError(t, err)
	for _, name := range baseSyscalls {
		if _, ok := syscallNumbers[name]; ok {
			assert.Equal(t, uint32(actAllow), run(t, prog, sc(name)), name)
		}
	}
	for _, name := range neverSyscalls {
		if _, ok := syscallNumbers[name]; ok && name != "clone3" {
			assert.NotEqual(t, uint32(actAllow), run(t, prog, sc(name)), name)
		}
	}
}

// maxPath is the longest number of instructions any input executes, over every syscall number
// the filter knows and a few it does not.
func maxPath(prog []unix.SockFilter) int {
	longest := 0
	for nr := uint32(0); nr < 600; nr++ {
		data := seccompData{nr: uintptr(nr), arch: auditArch}.bytes()
		var acc uint32
		steps := 0
		for pc := 0; pc < len(prog); pc++ {
			steps++
			in := prog[pc]
			switch in.Code {
			case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
				acc = binary.LittleEndian.Uint32(data[in.K:])
			case unix.BPF_RET | unix.BPF_K:
				pc = len(prog)
			default:
				if jumpTaken(in, acc) {
					pc += int(in.Jt)
				} else {
					pc += int(in.Jf)
				}
			}
		}
		longest = max(longest, steps)
	}
	return longest
}

func TestFilterEncodingRoundTrips(t *testing.T) {
	prog, err := filter([]string{"statx"}, true)
	require.NoError(t, err)
	b := encodeFilter(prog)
	require.Len(t, b, len(prog)*sockFilterSize)
	got, err := decodeFilter(b)
	require.NoError(t, err)
	require.Equal(t, prog, got)
	_, err = decodeFilter(b[:len(b)-3])
	require.ErrorContains(t, err, "not a whole number of instructions")
}

func TestWarmRequestHasEveryField(t *testing.T) {
	// Re-encoding the sample gives it back only if it names every field of a request, so a
	// field added to request without the sample fails here.
	var req request
	require.NoError(t, json.Unmarshal(warmRequest, &req))
	b, err := json.Marshal(&req)
	require.NoError(t, err)
	require.JSONEq(t, string(warmRequest), string(b))
	prog, err := decodeFilter(req.Seccomp.Filter)
	require.NoError(t, err)
	require.Len(t, prog, 1)
}

// Every syscall number the kernel could see gets the allowlist's answer: allowed when it is in
// the base list or declared, refused otherwise (the checked syscalls, whose answer depends on
// their arguments, are TestFilterDecisions').
func TestFilterDecidesEveryNumber(t *testing.T) {
	for _, extra := range [][]string{nil, {"openat", "socket", "bind"}} {
		prog, err := filter(extra, false)
		require.NoError(t, err)
		allow := allowed(extra)
		checked := map[uintptr]bool{}
		for _, r := range specialRules(extra) {
			checked[r.nr] = true
		}
		for nr := uintptr(0); nr < 1024; nr++ {
			if checked[nr] {
				continue
			}
			want := uint32(actEPERM)
			if slices.Contains(allow, nr) {
				want = actAllow
			}
			d := seccompData{nr: nr, arch: auditArch}
			require.Equal(t, want, run(t, prog, d), "syscall %d with %v declared", nr, extra)
		}
	}
}
