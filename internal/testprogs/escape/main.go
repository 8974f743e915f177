// Command escape is the hostile program of the escape challenge suite (tests/escape_test.go).
// It is a Job whose input, JSON, names an attack and its targets (addresses of listeners the
// test runs, host pids, host paths, IPC keys, a nonce); it tries every way it knows to get the
// nonce out of its vat or to change the host, and answers, as JSON, what each attempt returned.
// The suite's verdict comes from what the test saw outside; the report only says which calls
// that must fail did not.
//
// It refuses to run — exits with status 3 before doing anything — unless it is confined: pid 1
// of its own pid namespace, hostname "yield", a socket on fd 3. Run by itself as
// "escape-child" (what its fork attempts exec), it only exits, or sleeps.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/program"
)

// childName is argv[0] of the copies the fork attempts start.
const childName = "escape-child"

// startFDs are the fds open when the program started, before the SDK opened any of its own.
var startFDs = openFDs(1024)

func main() {
	if len(os.Args) > 0 && os.Args[0] == childName {
		child()
	}
	if why := notConfined(); why != "" {
		fmt.Fprintln(os.Stderr, "escape: refusing to run outside a vat:", why)
		os.Exit(3)
	}
	program.MainJob(run)
}

// notConfined says why the program does not believe it is in a vat, or "".
func notConfined() string {
	if pid := unix.Getpid(); pid != 1 {
		return fmt.Sprintf("pid %d, not 1", pid)
	}
	if h := hostname(); h != "yield" {
		return fmt.Sprintf("hostname %q, not \"yield\"", h)
	}
	var st unix.Stat_t
	if err := unix.Fstat(program.DaemonFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "fd 3 is not a socket"
	}
	return ""
}

// child is what a fork attempt runs: a copy that exits at once, or ("sleep") stays until its
// vat ends. It does nothing else.
func child() {
	if hostname() != "yield" {
		os.Exit(3)
	}
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		for {
			time.Sleep(time.Hour)
		}
	}
	os.Exit(0)
}

func hostname() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Nodename[:])
}

// request is the Job's input.
type request struct {
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

// attempt is one call and what it returned.
type attempt struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Err  string `json:"err,omitempty"`
}

// fdInfo describes one open fd.
type fdInfo struct {
	FD   int    `json:"fd"`
	Type string `json:"type"`
}

// report is the Job's output.
type report struct {
	Attack      string    `json:"attack"`
	Attempts    []attempt `json:"attempts"`
	StartFDs    []int     `json:"start_fds"`
	FDs         []fdInfo  `json:"fds,omitempty"`
	Env         []string  `json:"env"`
	UID         int       `json:"uid"`
	EUID        int       `json:"euid"`
	GID         int       `json:"gid"`
	EGID        int       `json:"egid"`
	Hostname    string    `json:"hostname"`
	Root        []string  `json:"root,omitempty"`
	Caps        []uint32  `json:"caps,omitempty"` // effective, permitted, inheritable (low words), when capget is allowed
	VisiblePids []int     `json:"visible_pids,omitempty"`
	Count       int       `json:"count,omitempty"`
}

// try records an attempt: OK when err is nil.
func (r *report) try(name string, err error) {
	a := attempt{Name: name, OK: err == nil}
	if err != nil {
		a.Err = err.Error()
	}
	r.Attempts = append(r.Attempts, a)
}

// attacks maps an attack's name to its code.
var attacks = map[string]func(*request, *report){
	"hello":      func(*request, *report) {},
	"tcp":        attackTCP,
	"udp":        attackUDP,
	"unix":       attackUnix,
	"abstract":   attackAbstract,
	"files":      attackFiles,
	"signals":    attackSignals,
	"sysv":       attackSysV,
	"mqueue":     attackMqueue,
	"keyring":    attackKeyring,
	"ptrace":     attackPtrace,
	"mounts":     attackMounts,
	"devices":    attackDevices,
	"privileges": attackPrivileges,
	"procsys":    attackProcSys,
	"hostname":   attackHostname,
	"clock":      attackClock,
	"seccomp":    attackSeccompOnly,
	"fds":        attackFDs,
	"locks":      attackLocks,
	"fdflags":    attackFDFlags,
	"environ":    func(*request, *report) {},
	"forkbomb":   attackForkBomb,
	"memhog":     attackMemHog,
	"exit":       attackExit,
}

func run(ctx context.Context, env *program.Env, input []byte) ([]byte, error) {
	var req request
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, err
	}
	attack, ok := attacks[req.Attack]
	if !ok {
		return nil, errors.New("unknown attack " + req.Attack)
	}
	r := &report{Attack: req.Attack, StartFDs: startFDs, Env: os.Environ(), UID: unix.Getuid(),
		EUID: unix.Geteuid(), GID: unix.Getgid(), EGID: unix.Getegid()}
	attack(&req, r)
	r.Hostname = hostname()
	return json.Marshal(r)
}

// onFreshThread runs f on an OS thread of its own that is thrown away afterwards: a call that
// changes the thread (its namespaces, credentials, filesystem root) changes nothing else.
func onFreshThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
		// No unlock: the thread exits with the goroutine.
	}()
	<-done
}

// raw makes a syscall and returns its error.
func raw(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, errno := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if errno != 0 {
		return errno
	}
	return nil
}

// rawFD makes a syscall that returns an fd, closes the fd, and returns the error.
func rawFD(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	fd, _, errno := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if errno != 0 {
		return errno
	}
	unix.Close(int(fd))
	return nil
}

func openFDs(limit int) []int {
	var fds []int
	for fd := 0; fd < limit; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

func fdType(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "closed"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return fmt.Sprintf("char %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		return "block"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return fmt.Sprintf("file (links %d)", st.Nlink)
	case 0:
		return "anonymous" // epoll, eventfd, pidfd, ...
	}
	return fmt.Sprintf("other %o", st.Mode&unix.S_IFMT)
}
