package tests

// What the escape suite reads of the host: snapshots to compare before and after, and what a
// running vat looks like from outside, through /proc.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hostDirs are the host's shared writable places whose top level the suite watches.
var hostDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/run"}

// hostSnapshot is the host state the suite must leave as it found it.
type hostSnapshot struct {
	hostname, domainname string
	mountinfo            []string
	dirs                 map[string]map[string]bool
	ipc                  []ipcObject
	clockOffset          time.Duration
}

func takeHostSnapshot() hostSnapshot {
	s := hostSnapshot{hostname: readTrim("/proc/sys/kernel/hostname"),
		domainname: readTrim("/proc/sys/kernel/domainname"), mountinfo: mountinfo("/proc/self/mountinfo"),
		dirs: map[string]map[string]bool{}, ipc: sysvObjects(), clockOffset: clockOffset()}
	for _, d := range hostDirs {
		s.dirs[d] = map[string]bool{}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			s.dirs[d][e.Name()] = true
		}
	}
	return s
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// mountinfo lists the mounts of a mount namespace, without mount ids (which a remount changes
// as well, but which say nothing the rest does not).
func mountinfo(path string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// clockOffset is the wall clock less the monotonic clock: it moves when someone sets the time.
func clockOffset() time.Duration {
	now := time.Now()
	return time.Duration(now.UnixNano()) - time.Duration(monotonicNanos())
}

func monotonicNanos() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// ipcObject is one SysV IPC object of the host, from /proc/sysvipc.
type ipcObject struct {
	kind string // shm, msg, sem
	key  int64
	id   int64
	uid  uint32
}

func sysvObjects() []ipcObject {
	var out []ipcObject
	for _, kind := range []string{"shm", "msg", "sem"} {
		f, err := os.Open("/proc/sysvipc/" + kind)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		var cols []string
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if cols == nil {
				cols = fields
				continue
			}
			o := ipcObject{kind: kind}
			for i, c := range cols {
				if i >= len(fields) {
					break
				}
				v, _ := strconv.ParseInt(fields[i], 10, 64)
				switch c {
				case "key":
					o.key = v
				case "shmid", "msqid", "semid":
					o.id = v
				case "uid":
					o.uid = uint32(v)
				}
			}
			out = append(out, o)
		}
		f.Close()
	}
	return out
}

// uidRange is the host ids the suite's daemon gives its vats.
type uidRange struct{ base, count uint32 }

func (r uidRange) has(id uint64) bool {
	return id >= uint64(r.base) && id < uint64(r.base)+uint64(r.count)
}

// vatProcesses lists the host's processes whose real uid is in r.
func vatProcesses(r uidRange) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		st := procStatus(filepath.Join(d, "status"))
		uids := strings.Fields(st["Uid"])
		if len(uids) == 0 {
			continue
		}
		if uid, err := strconv.ParseUint(uids[0], 10, 32); err == nil && r.has(uid) {
			out = append(out, fmt.Sprintf("pid %s (%s) uid %d", filepath.Base(d), st["Name"], uid))
		}
	}
	return out
}

// procStatus reads a /proc/.../status file into its fields.
func procStatus(path string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// cgroupVatDirs lists the per-vat cgroup directories under every factoryd base directory this
// process's cgroups could hold.
func cgroupVatDirs() []string {
	self := map[string]string{}
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			self[c] = parts[2]
		}
	}
	var out []string
	for _, line := range mountinfo("/proc/self/mountinfo") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		var paths []string
		switch tail[0] {
		case "cgroup2":
			paths = []string{self[""]}
		case "cgroup":
			for _, opt := range strings.Split(tail[2], ",") {
				if p, ok := self[opt]; ok {
					paths = append(paths, p)
				}
			}
		default:
			continue
		}
		for _, p := range paths {
			dirs, _ := filepath.Glob(filepath.Join(fields[4], p, "factoryd", "vat-*"))
			out = append(out, dirs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// vatDirPid is the helper pid a vat cgroup directory is named after (vat-<pid>-<nanos>).
func vatDirPid(dir string) int {
	parts := strings.Split(filepath.Base(dir), "-")
	if len(parts) != 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[1])
	return pid
}

// keyLines lists the lines of /proc/keys and /proc/key-users that mention needle, or whose
// uid is in r.
func keyLines(needle string, r uidRange) []string {
	var out []string
	for _, line := range strings.Split(readTrim("/proc/keys"), "\n") {
		f := strings.Fields(line)
		if needle != "" && strings.Contains(line, needle) {
			out = append(out, "/proc/keys: "+line)
		} else if len(f) > 5 {
			if uid, err := strconv.ParseUint(f[5], 10, 32); err == nil && r.has(uid) {
				out = append(out, "/proc/keys: "+line)
			}
		}
	}
	for _, line := range strings.Split(readTrim("/proc/key-users"), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			if uid, err := strconv.ParseUint(strings.TrimSuffix(f[0], ":"), 10, 32); err == nil && r.has(uid) {
				out = append(out, "/proc/key-users: "+line)
			}
		}
	}
	return out
}

// hostTraces lists what, in the watched host directories (and dirs), bears one of the nonces
// or belongs to a vat's uid.
func hostTraces(nonces []string, r uidRange, dirs ...string) []string {
	var out []string
	for _, d := range append(slices.Clone(hostDirs), dirs...) {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			for _, n := range nonces {
				if strings.Contains(e.Name(), n) {
					out = append(out, p+" is named with the nonce")
				}
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) == nil && (r.has(uint64(st.Uid)) || r.has(uint64(st.Gid))) {
				out = append(out, fmt.Sprintf("%s belongs to vat uid %d", p, st.Uid))
			}
			if st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Size > 0 && st.Size < 1<<16 {
				b, _ := os.ReadFile(p)
				for _, n := range nonces {
					if strings.Contains(string(b), n) {
						out = append(out, p+" holds the nonce")
					}
				}
			}
		}
	}
	return out
}

// vatView is what the host sees of a running vat through /proc/<pid>.
type vatView struct {
	pid int
}

func (v vatView) path(parts ...string) string {
	return filepath.Join(append([]string{"/proc", strconv.Itoa(v.pid)}, parts...)...)
}

// checkConfinement checks, from outside, every thread of the vat: ids, capabilities,
// no_new_privs, seccomp, namespaces, root, mounts, open fds, environment and cgroup.
func (v vatView) checkConfinement(t *testing.T, r uidRange, secret string) {
	t.Helper()
	tasks, err := filepath.Glob(v.path("task", "*"))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("vat %d: no tasks in /proc: %v", v.pid, err)
	}
	for _, task := range tasks {
		checkTaskStatus(t, task, procStatus(filepath.Join(task, "status")), r)
	}
	for _, ns := range []string{"user", "pid", "net", "ipc", "uts", "mnt"} {
		mine, err1 := os.Readlink("/proc/self/ns/" + ns)
		theirs, err2 := os.Readlink(v.path("ns", ns))
		if err1 != nil || err2 != nil {
			t.Errorf("namespaces: cannot compare %s namespaces: %v %v", ns, err1, err2)
		} else if mine == theirs {
			t.Errorf("namespaces: the vat shares the host's %s namespace (%s)", ns, mine)
		}
	}
	v.checkRoot(t)
	v.checkMounts(t)
	v.checkFDs(t)
	env, err := os.ReadFile(v.path("environ"))
	if err != nil {
		t.Errorf("environ: %v", err)
	} else if strings.Contains(string(env), secret) || strings.Contains(string(env), escapeSecretEnv) {
		t.Errorf("environment channel OPEN: the vat's environment holds the daemon's secret: %q", env)
	}
	cg, _ := os.ReadFile(v.path("cgroup"))
	for _, c := range []string{"memory", "pids"} {
		if !regexpLine(string(cg), c, "/factoryd/vat-") {
			t.Errorf("cgroup: the vat is not in a cgroup of its own for %s:\n%s", c, cg)
		}
	}
}

// regexpLine reports whether a /proc/<pid>/cgroup line for controller holds path.
func regexpLine(cgroup, controller, path string) bool {
	for _, line := range strings.Split(cgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), controller) {
			return strings.Contains(parts[2], path)
		}
	}
	return false
}

func checkTaskStatus(t *testing.T, task string, st map[string]string, r uidRange) {
	t.Helper()
	name := "task " + filepath.Base(task)
	for _, key := range []string{"Uid", "Gid"} {
		ids := strings.Fields(st[key])
		if len(ids) != 4 {
			t.Errorf("status: %s: %s is %q", name, key, st[key])
			continue
		}
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err != nil || !r.has(n) {
				t.Errorf("privileges: %s runs with host %s %s, outside the vat range %d+%d", name, key, id, r.base, r.count)
			}
		}
	}
	if st["Groups"] != "" {
		t.Errorf("privileges: %s keeps supplementary groups %q", name, st["Groups"])
	}
	for _, key := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if st[key] != "0000000000000000" {
			t.Errorf("capabilities: %s has %s %q, want none", name, key, st[key])
		}
	}
	if st["NoNewPrivs"] != "1" {
		t.Errorf("no_new_privs: %s has NoNewPrivs %q, want 1", name, st["NoNewPrivs"])
	}
	if st["Seccomp"] != "2" {
		t.Errorf("seccomp channel OPEN: %s has Seccomp %q, want 2 (filter): the vat runs without its seccomp filter", name, st["Seccomp"])
	}
}

// checkRoot walks the vat's root from outside: it holds the program and nothing else.
func (v vatView) checkRoot(t *testing.T) {
	t.Helper()
	root := v.path("root") + "/"
	var got []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel := strings.TrimPrefix(p, root); rel != "" {
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Errorf("root: walk %s: %v", root, err)
	}
	if want := []string{"bin", "bin/prog"}; !slices.Equal(got, want) {
		t.Errorf("root: the vat's root holds %v, want %v", got, want)
	}
}

// checkMounts: the vat's mount namespace holds its root and its program, both read-only.
func (v vatView) checkMounts(t *testing.T) {
	t.Helper()
	mounts := mountinfo(v.path("mountinfo"))
	if len(mounts) != 2 {
		t.Errorf("mounts: the vat sees %d mounts, want 2 (root and program):\n%s", len(mounts), strings.Join(mounts, "\n"))
	}
	for _, m := range mounts {
		f := strings.Fields(m)
		if len(f) < 6 || !slices.Contains(strings.Split(f[5], ","), "ro") {
			t.Errorf("mounts: a writable mount in the vat: %s", m)
		}
	}
}

// checkFDs: nothing the vat holds leads to a host file other than /dev/null.
func (v vatView) checkFDs(t *testing.T) {
	t.Helper()
	fds, err := os.ReadDir(v.path("fd"))
	if err != nil {
		t.Errorf("fds: %v", err)
		return
	}
	for _, fd := range fds {
		target, err := os.Readlink(v.path("fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		ok := target == "/dev/null"
		for _, prefix := range []string{"socket:[", "pipe:[", "anon_inode:"} {
			ok = ok || strings.HasPrefix(target, prefix)
		}
		if !ok {
			t.Errorf("fd channel OPEN: the vat holds fd %s -> %s", fd.Name(), target)
		}
	}
}

// checkBlobs: every stored blob still hashes to its name.
func checkBlobs(t *testing.T, dataDir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "blobs", "??", "*"))
	if len(files) == 0 {
		t.Errorf("blobs: no stored blob found under %s", dataDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("blobs: %v", err)
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != filepath.Base(f) {
			t.Errorf("program channel OPEN: the stored blob %s no longer matches its digest", f)
		}
	}
}

// Host SysV IPC objects and POSIX message queues, made world-accessible by the test for a
// program to try to open: only the vat's IPC namespace keeps it out.

type hostIPC struct {
	key          int32
	shm, msg, sm int
}

func makeHostIPC(t *testing.T, key int32) *hostIPC {
	t.Helper()
	h := &hostIPC{key: key, shm: -1, msg: -1, sm: -1}
	t.Cleanup(h.remove)
	const flags = 0o1000 | 0o2000 | 0o666 // IPC_CREAT | IPC_EXCL
	var err error
	if h.shm, err = rawID(unix.SYS_SHMGET, uintptr(key), 4096, flags); err != nil {
		t.Fatalf("host shmget: %v", err)
	}
	if h.msg, err = rawID(unix.SYS_MSGGET, uintptr(key), flags); err != nil {
		t.Fatalf("host msgget: %v", err)
	}
	if h.sm, err = rawID(unix.SYS_SEMGET, uintptr(key), 1, flags); err != nil {
		t.Fatalf("host semget: %v", err)
	}
	return h
}

func (h *hostIPC) remove() {
	const ipcRmid = 0
	if h.shm >= 0 {
		rawID(unix.SYS_SHMCTL, uintptr(h.shm), ipcRmid, 0)
	}
	if h.msg >= 0 {
		rawID(unix.SYS_MSGCTL, uintptr(h.msg), ipcRmid, 0)
	}
	if h.sm >= 0 {
		rawID(unix.SYS_SEMCTL, uintptr(h.sm), 0, ipcRmid, 0)
	}
}

func rawID(nr uintptr, args ...uintptr) (int, error) {
	var a [4]uintptr
	copy(a[:], args)
	r, _, errno := unix.Syscall6(nr, a[0], a[1], a[2], a[3], 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// mqOpen opens (or with create, makes) a POSIX message queue of the host and closes it.
func mqOpen(name string, create bool) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	flags := uintptr(unix.O_RDONLY | unix.O_CLOEXEC)
	var attr *[8]int64
	if create {
		flags = unix.O_RDWR | unix.O_CREAT | unix.O_EXCL | unix.O_CLOEXEC
		attr = &[8]int64{0, 1, 16, 0}
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), flags, 0o666,
		uintptr(unsafe.Pointer(attr)), 0, 0)
	if errno != 0 {
		return errno
	}
	unix.Close(int(fd))
	return nil
}

func mqUnlink(name string) {
	p, err := unix.BytePtrFromString(name)
	if err == nil {
		unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	}
}

// isNotExist reports whether err is ENOENT.
func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }

// lockLines lists the lines of /proc/locks held by pid (0: any) or starting in [from, to).
func lockLines(pid int, from, to int64) []string {
	var out []string
	for _, line := range strings.Split(readTrim("/proc/locks"), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[1] == "->" {
			continue
		}
		start, _ := strconv.ParseInt(f[6], 10, 64)
		if (pid > 0 && f[4] == strconv.Itoa(pid)) || (start >= from && start < to) {
			out = append(out, line)
		}
	}
	return out
}

// heldLocks asks, with F_OFD_GETLK on the host's /dev/null, which bytes of [from, to) someone
// has locked.
func heldLocks(t *testing.T, from, to int64) []string {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/null: %v", err)
	}
	defer f.Close()
	var out []string
	for off := from; off < to; off++ {
		fl := unix.Flock_t{Type: unix.F_WRLCK, Start: off, Len: 1}
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &fl); err != nil {
			t.Fatalf("F_OFD_GETLK: %v", err)
		}
		if fl.Type != unix.F_UNLCK {
			out = append(out, fmt.Sprintf("type %d at %d+%d (pid %d)", fl.Type, fl.Start, fl.Len, fl.Pid))
		}
	}
	return out
}

// fdinfoFlags reads the file status flags of a process's fd, from the host.
func fdinfoFlags(pid, fd int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return int(n), err
		}
	}
	return 0, fmt.Errorf("no flags in fdinfo of %d/%d", pid, fd)
}

// clearFDFlags clears flags on the open file descriptions behind fds 0-2 of a vat this
// process's daemon started, by borrowing them with pidfd_getfd.
func clearFDFlags(t *testing.T, pid, flags int) {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	for fd := 0; fd <= 2; fd++ {
		dup, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			t.Fatalf("pidfd_getfd %d/%d: %v", pid, fd, err)
		}
		if cur, err := unix.FcntlInt(uintptr(dup), unix.F_GETFL, 0); err == nil && cur&flags != 0 {
			unix.FcntlInt(uintptr(dup), unix.F_SETFL, cur&^flags)
		}
		unix.FcntlInt(uintptr(dup), unix.F_SETSIG, 0)
		unix.Close(dup)
	}
}

// fdSig reads F_GETSIG of a vat's fd, borrowing it with pidfd_getfd.
func fdSig(t *testing.T, pid, fd int) int {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	dup, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		t.Fatalf("pidfd_getfd %d/%d: %v", pid, fd, err)
	}
	defer unix.Close(dup)
	sig, err := unix.FcntlInt(uintptr(dup), unix.F_GETSIG, 0)
	if err != nil {
		t.Fatalf("F_GETSIG: %v", err)
	}
	return sig
}
