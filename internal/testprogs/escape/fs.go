package main

import (
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Filesystem attacks: leave the nonce anywhere that might be the host's, reach devices, read
// the host through /proc and /sys, find an fd that leads out.

// writablePlaces are where a program might hope to leave a file for someone else.
var writablePlaces = []string{"/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/run/user/0", "/root",
	"/home", ".", "/bin", "/proc/self/cwd", "/proc/self/root", "/proc/1/root/tmp", "/sys/fs/cgroup",
	"/.old-root", "/.old-root/tmp", "/dev/mqueue", "/etc"}

func attackFiles(req *request, r *report) {
	places := append(append([]string{}, writablePlaces...), req.Dirs...)
	if home := os.Getenv("HOME"); home != "" {
		places = append(places, home)
	}
	for _, dir := range places {
		name := filepath.Join(dir, "escape-"+req.Nonce)
		r.try("create "+name, os.WriteFile(name, []byte(req.Nonce), 0o666))
		r.try("mkdir "+name+".d", os.Mkdir(name+".d", 0o777))
		r.try("mkfifo "+name+".fifo", unix.Mknod(name+".fifo", unix.S_IFIFO|0o666, 0))
		r.try("symlink "+name+".lnk", os.Symlink(req.Nonce, name+".lnk"))
	}
	// Its own program is a stored blob of the daemon: changing it would reach every later
	// instance, and the builder.
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR | os.O_APPEND, os.O_WRONLY | os.O_TRUNC} {
		f, err := os.OpenFile("/bin/prog", flag, 0)
		if err == nil {
			_, err = f.Write([]byte(req.Nonce))
			f.Close()
		}
		r.try("write /bin/prog", err)
	}
	r.try("rename /bin/prog", os.Rename("/bin/prog", "/bin/prog2"))
	r.try("remove /bin/prog", os.Remove("/bin/prog"))
	r.try("chmod /", os.Chmod("/", 0o777))
	r.try("chmod /bin/prog", os.Chmod("/bin/prog", 0o777))
	r.try("link /bin/prog", os.Link("/bin/prog", "/escape-"+req.Nonce))
	r.Root = listRoot()
}

// listRoot walks the vat's whole root.
func listRoot() []string {
	var out []string
	filepath.Walk("/", func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// devices are nodes that would reach the host's hardware, kernel or terminals.
var devices = []string{"/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/sda1", "/dev/vda",
	"/dev/vda1", "/dev/nvme0n1", "/dev/nvme0n1p1", "/dev/kmsg", "/dev/tty", "/dev/tty0",
	"/dev/console", "/dev/ptmx", "/dev/null", "/dev/fuse", "/dev/net/tun", "/dev/kvm",
	"/dev/random", "/dev/watchdog", "/dev/loop0", "/dev/loop-control"}

func attackDevices(req *request, r *report) {
	for _, d := range devices {
		f, err := os.OpenFile(d, os.O_RDWR, 0)
		if err == nil {
			f.Close()
		}
		r.try("open "+d, err)
	}
	nodes := []struct {
		path string
		mode uint32
		dev  uint64
	}{
		{"/mem", unix.S_IFCHR, unix.Mkdev(1, 1)},
		{"/bin/mem", unix.S_IFCHR, unix.Mkdev(1, 1)},
		{"/sda", unix.S_IFBLK, unix.Mkdev(8, 0)},
		{"/kmsg", unix.S_IFCHR, unix.Mkdev(1, 11)},
	}
	for _, n := range nodes {
		r.try("mknod "+n.path, unix.Mknodat(unix.AT_FDCWD, n.path, n.mode|0o666, int(n.dev)))
	}
	// Inject keystrokes into whatever terminal fds 0-2 might be.
	for fd := 0; fd <= 2; fd++ {
		c := byte('x')
		r.try("TIOCSTI on fd "+itoa(fd), raw(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))))
		r.try("TIOCSCTTY on fd "+itoa(fd), raw(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSCTTY, 1))
	}
	// A file handle is a way around every path: open the host's root by handle.
	handle := make([]byte, 8+128)
	*(*uint32)(unsafe.Pointer(&handle[0])) = 8 // handle_bytes
	*(*int32)(unsafe.Pointer(&handle[4])) = 1  // FILEID_INO32_GEN
	*(*uint32)(unsafe.Pointer(&handle[8])) = 2 // the root inode of most filesystems
	r.try("open_by_handle_at", rawFD(unix.SYS_OPEN_BY_HANDLE_AT, 0, uintptr(unsafe.Pointer(&handle[0])), unix.O_RDONLY))
}

// hostReads are files that would show the host; hostWrites would change it (opened only,
// never written: the open is the escape).
var (
	hostReads = []string{"/proc/1/environ", "/proc/1/cmdline", "/proc/1/status", "/proc/kcore", "/proc/kallsyms", "/proc/mounts", "/proc/net/tcp", "/sys/kernel/notes",
		"/sys/class/net", "/etc/passwd", "/etc/shadow", "/etc/hostname", "/.old-root/etc/passwd",
		"/.old-root", "/root", "/proc/self/mountinfo"}
	hostWrites = []string{"/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern",
		"/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs",
		"/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
		"/sys/fs/cgroup/unified/cgroup.procs", "/sys/kernel/uevent_helper", "/proc/self/uid_map"}
)

func attackProcSys(req *request, r *report) {
	reads := append([]string{}, hostReads...)
	for _, pid := range req.Pids {
		for _, f := range []string{"environ", "cmdline", "status", "mem", "root", "cwd", "ns/net", "fd/0"} {
			reads = append(reads, "/proc/"+itoa(pid)+"/"+f)
		}
	}
	for _, p := range reads {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		r.try("read "+p, err)
	}
	for _, p := range hostWrites {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		r.try("open for writing "+p, err)
	}
	r.Root = listRoot()
}

func attackFDs(req *request, r *report) {
	for _, fd := range openFDs(1024) {
		r.FDs = append(r.FDs, fdInfo{FD: fd, Type: fdType(fd)})
	}
	r.try("dup3 to fd 1000", unix.Dup3(3, 1000, unix.O_CLOEXEC))
	unix.Close(1000)
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// attackLocks writes the nonce (as lock ranges) into the kernel's lock table: record locks on
// the files the vat shares with the host and with other vats (fd 0 is a /dev/null, its
// program a stored blob). They stay while the program runs, for the test to look for.
func attackLocks(req *request, r *report) {
	fds := []struct {
		name string
		fd   int
	}{{"fd 0", 0}, {"fd 1", 1}, {"fd 2", 2}}
	if f, err := os.Open("/bin/prog"); err == nil {
		fds = append(fds, struct {
			name string
			fd   int
		}{"/bin/prog", int(f.Fd())})
		// Kept open: closing any fd of a file drops the process's record locks on it.
		openFiles = append(openFiles, f)
		r.try("flock shared on /bin/prog", unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB))
	}
	for i, f := range fds {
		start := req.LockStart + int64(i)*16
		for _, lock := range []struct {
			name string
			cmd  int
			typ  int16
			off  int64
		}{{"F_SETLK read", unix.F_SETLK, unix.F_RDLCK, 0}, {"F_SETLK write", unix.F_SETLK, unix.F_WRLCK, 2},
			{"F_OFD_SETLK read", unix.F_OFD_SETLK, unix.F_RDLCK, 4}, {"F_OFD_SETLK write", unix.F_OFD_SETLK, unix.F_WRLCK, 6}} {
			fl := unix.Flock_t{Type: lock.typ, Whence: 0, Start: start + lock.off, Len: 1}
			r.try(lock.name+" on "+f.name, unix.FcntlFlock(uintptr(f.fd), lock.cmd, &fl))
		}
	}
}

var openFiles []*os.File

// attackFDFlags sets status flags on fds 0-2: where such an fd shares its open file
// description with other vats (a /dev/null the daemon opened once), they see the change.
func attackFDFlags(req *request, r *report) {
	for fd := 0; fd <= 2; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_APPEND|unix.O_NONBLOCK)
		}
		r.try("F_SETFL O_APPEND|O_NONBLOCK on fd "+itoa(fd), err)
	}
	_, err := unix.FcntlInt(0, unix.F_SETSIG, 40)
	r.try("F_SETSIG 40 on fd 0", err)
}
