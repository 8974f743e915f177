package main

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel attacks: IPC objects and keys the host could see, mounts and namespaces, privileges,
// the hostname and the clock, and the kernel interfaces only seccomp closes.

const (
	ipcCreat   = 0o1000
	ipcPrivate = 0
)

func attackSysV(req *request, r *report) {
	k := uintptr(req.SysVKey)
	// Creating an object is allowed where the factory declares it: it must stay in the vat's
	// IPC namespace, which the test checks from outside.
	r.try("shmget create", rawFD0(unix.SYS_SHMGET, k, 4096, ipcCreat|0o666))
	r.try("msgget create", rawFD0(unix.SYS_MSGGET, k, ipcCreat|0o666))
	r.try("semget create", rawFD0(unix.SYS_SEMGET, k, 1, ipcCreat|0o666))
	// Objects the test made on the host, readable and writable by anyone.
	h := uintptr(req.HostSysVKey)
	r.try("shmget host", rawFD0(unix.SYS_SHMGET, h, 0, 0))
	r.try("msgget host", rawFD0(unix.SYS_MSGGET, h, 0))
	r.try("semget host", rawFD0(unix.SYS_SEMGET, h, 0, 0))
}

// rawFD0 is raw for calls that return an id, not an fd.
func rawFD0(nr uintptr, args ...uintptr) error { return raw(nr, args...) }

// mqAttr is struct mq_attr.
type mqAttr struct {
	Flags, Maxmsg, Msgsize, Curmsgs int64
	_                               [4]int64
}

func mqOpen(name string, flags int, attr *mqAttr) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	return rawFD(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), 0o666,
		uintptr(unsafe.Pointer(attr)))
}

func attackMqueue(req *request, r *report) {
	attr := &mqAttr{Maxmsg: 1, Msgsize: 16}
	r.try("mq_open create "+req.MQ, mqOpen(req.MQ, unix.O_CREAT|unix.O_RDWR, attr))
	r.try("mq_open host "+req.HostMQ, mqOpen(req.HostMQ, unix.O_RDWR, nil))
	r.try("mq_open host read-only "+req.HostMQ, mqOpen(req.HostMQ, unix.O_RDONLY, nil))
}

func attackKeyring(req *request, r *report) {
	desc := "factoryd-escape-" + req.Nonce
	for _, ring := range []struct {
		name string
		id   int
	}{{"process", unix.KEY_SPEC_PROCESS_KEYRING}, {"session", unix.KEY_SPEC_SESSION_KEYRING},
		{"user", unix.KEY_SPEC_USER_KEYRING}, {"user-session", unix.KEY_SPEC_USER_SESSION_KEYRING}} {
		_, err := unix.AddKey("user", desc, []byte(req.Nonce), ring.id)
		r.try("add_key "+ring.name, err)
	}
	_, err := unix.KeyctlJoinSessionKeyring(desc)
	r.try("keyctl join session keyring", err)
	_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, true)
	r.try("keyctl get user keyring", err)
	_, err = unix.RequestKey("user", desc, "", unix.KEY_SPEC_PROCESS_KEYRING)
	r.try("request_key", err)
}

// namespaceFlags are every kind of namespace unshare can make.
var namespaceFlags = []struct {
	name string
	flag uintptr
}{{"CLONE_NEWNS", unix.CLONE_NEWNS}, {"CLONE_NEWUTS", unix.CLONE_NEWUTS}, {"CLONE_NEWIPC", unix.CLONE_NEWIPC},
	{"CLONE_NEWNET", unix.CLONE_NEWNET}, {"CLONE_NEWPID", unix.CLONE_NEWPID}, {"CLONE_NEWUSER", unix.CLONE_NEWUSER},
	{"CLONE_NEWCGROUP", unix.CLONE_NEWCGROUP}, {"CLONE_NEWTIME", unix.CLONE_NEWTIME}}

func attackMounts(req *request, r *report) {
	onFreshThread(func() {
		r.try("remount / read-write", unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND, ""))
		r.try("remount /bin/prog read-write", unix.Mount("", "/bin/prog", "", unix.MS_REMOUNT|unix.MS_BIND, ""))
		r.try("mount tmpfs on /bin", unix.Mount("tmpfs", "/bin", "tmpfs", 0, ""))
		r.try("mount proc on /bin", unix.Mount("proc", "/bin", "proc", 0, ""))
		r.try("mount sysfs on /bin", unix.Mount("sysfs", "/bin", "sysfs", 0, ""))
		r.try("bind / on /bin", unix.Mount("/", "/bin", "", unix.MS_BIND|unix.MS_REC, ""))
		r.try("make / shared", unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""))
		r.try("umount /bin/prog", unix.Unmount("/bin/prog", unix.MNT_DETACH))
		r.try("umount /", unix.Unmount("/", unix.MNT_DETACH))
		r.try("chroot /bin", unix.Chroot("/bin"))
		r.try("pivot_root", unix.PivotRoot("/bin", "/bin"))
		fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
		if err == nil {
			unix.Close(fd)
		}
		r.try("fsopen tmpfs", err)
		fd, err = unix.OpenTree(unix.AT_FDCWD, "/bin", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err == nil {
			unix.Close(fd)
		}
		r.try("open_tree /bin", err)
	})
	for _, ns := range namespaceFlags {
		onFreshThread(func() { r.try("unshare "+ns.name, raw(unix.SYS_UNSHARE, ns.flag)) })
	}
	r.try("clone CLONE_NEWUSER", forkChild(unix.CLONE_NEWUSER, false))
	r.try("clone CLONE_NEWNET", forkChild(unix.CLONE_NEWNET, false))
	// setns: by the host's namespace files, and by a pidfd of a host process or of itself.
	targets := []string{"/proc/1/ns/net", "/proc/1/ns/mnt", "/proc/1/ns/pid", "/proc/1/ns/user"}
	for _, pid := range hostPids(req) {
		targets = append(targets, "/proc/"+itoa(pid)+"/ns/net", "/proc/"+itoa(pid)+"/ns/mnt")
	}
	for _, path := range targets {
		f, err := os.Open(path)
		if err == nil {
			onFreshThread(func() { err = unix.Setns(int(f.Fd()), 0) })
			f.Close()
		}
		r.try("setns "+path, err)
	}
	for _, pid := range append([]int{1}, hostPids(req)...) {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == nil {
			onFreshThread(func() { err = unix.Setns(fd, unix.CLONE_NEWNET|unix.CLONE_NEWNS|unix.CLONE_NEWUSER) })
			unix.Close(fd)
		}
		r.try("setns pidfd "+itoa(pid), err)
	}
}

func attackPrivileges(req *request, r *report) {
	onFreshThread(func() {
		r.try("setuid 0", raw(unix.SYS_SETUID, 0))
		r.try("setgid 0", raw(unix.SYS_SETGID, 0))
		r.try("setresuid 0", raw(unix.SYS_SETRESUID, 0, 0, 0))
		r.try("setresgid 0", raw(unix.SYS_SETRESGID, 0, 0, 0))
		r.try("setreuid 0", raw(unix.SYS_SETREUID, 0, 0))
		groups := []uint32{0}
		r.try("setgroups [0]", raw(unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0]))))
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		all := [2]unix.CapUserData{{Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)},
			{Effective: ^uint32(0), Permitted: ^uint32(0), Inheritable: ^uint32(0)}}
		r.try("capset all", unix.Capset(&hdr, &all[0]))
		r.try("raise ambient CAP_SYS_ADMIN", unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_SYS_ADMIN, 0, 0))
		r.try("clear securebits", unix.Prctl(unix.PR_SET_SECUREBITS, 0, 0, 0, 0))
		r.try("keep capabilities", unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0))
		var got [2]unix.CapUserData
		hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		if unix.Capget(&hdr, &got[0]) == nil {
			r.Caps = []uint32{got[0].Effective, got[0].Permitted, got[0].Inheritable,
				got[1].Effective, got[1].Permitted, got[1].Inheritable}
		}
	})
	// After all that, who is it?
	r.UID, r.EUID, r.GID, r.EGID = unix.Getuid(), unix.Geteuid(), unix.Getgid(), unix.Getegid()
}

func attackHostname(req *request, r *report) {
	r.try("sethostname", unix.Sethostname([]byte("escaped-"+req.Nonce[:8])))
	r.try("setdomainname", unix.Setdomainname([]byte("escaped-"+req.Nonce[:8])))
}

// attackClock moves the wall clock forward by ten seconds, four ways: the test watches the
// host's clock.
func attackClock(req *request, r *report) {
	var tv unix.Timeval
	unix.Gettimeofday(&tv)
	tv.Sec += 10
	r.try("settimeofday", unix.Settimeofday(&tv))
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	ts.Sec += 10
	r.try("clock_settime", unix.ClockSettime(unix.CLOCK_REALTIME, &ts))
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: 10}}
	_, err := unix.Adjtimex(&tx)
	r.try("adjtimex", err)
	tx = unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: 10}}
	_, err = unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx)
	r.try("clock_adjtime", err)
}

// attackSeccompOnly tries what only the seccomp filter stops: each would work for an
// unprivileged process otherwise.
func attackSeccompOnly(req *request, r *report) {
	r.try("fork", forkChild(0, false))
	r.try("clone CLONE_NEWUSER", forkChild(unix.CLONE_NEWUSER, false))
	onFreshThread(func() { r.try("unshare CLONE_NEWUSER", raw(unix.SYS_UNSHARE, unix.CLONE_NEWUSER)) })
	_, err := unix.AddKey("user", "factoryd-escape-"+req.Nonce, []byte(req.Nonce), unix.KEY_SPEC_PROCESS_KEYRING)
	r.try("add_key", err)
	_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_PROCESS_KEYRING, true)
	r.try("keyctl", err)
	var params [120]byte
	r.try("io_uring_setup", rawFD(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0]))))
	var bpfAttr [48]byte
	*(*uint32)(unsafe.Pointer(&bpfAttr[0])) = 2  // BPF_MAP_TYPE_ARRAY
	*(*uint32)(unsafe.Pointer(&bpfAttr[4])) = 4  // key size
	*(*uint32)(unsafe.Pointer(&bpfAttr[8])) = 4  // value size
	*(*uint32)(unsafe.Pointer(&bpfAttr[12])) = 1 // entries
	r.try("bpf map create", rawFD(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&bpfAttr[0])), 48))
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})), Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	r.try("perf_event_open", err)
	const uffdUserModeOnly = 1
	r.try("userfaultfd", rawFD(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly))
	m, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err == nil {
		unix.Munmap(m)
	}
	r.try("mmap PROT_EXEC", err)
	m, err = unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err == nil {
		r.try("mprotect PROT_EXEC", unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC))
		unix.Munmap(m)
	}
	onFreshThread(func() {
		const readImpliesExec = 0x0400000
		old, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		err := raw(unix.SYS_PERSONALITY, readImpliesExec)
		if err == nil {
			raw(unix.SYS_PERSONALITY, old)
		}
		r.try("personality READ_IMPLIES_EXEC", err)
		// Outlive the daemon.
		err = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
		if err == nil {
			unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		}
		r.try("clear parent-death signal", err)
	})
}
