package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/vat"
)

// Breakdown times the starts a confined create is made of, each from fork to the first
// message the started process sends on its fd 3, to show where a confined start's extra time
// goes. The parts are interleaved like the figure.
type Breakdown struct {
	// Program: the program binary started plainly; its first message is its bootstrap
	// request, sent as soon as its Go runtime and main are up.
	Program Summary `json:"program_start"`
	// ProgramInNamespaces: the same in the six fresh namespaces a vat gets (user, pid, net,
	// ipc, uts, mount; uid maps as factoryd writes them), without the helper.
	ProgramInNamespaces Summary `json:"program_in_namespaces_start"`
	// ProgramInNamespacesButUser: in the five namespaces other than the user namespace. Go
	// starts a child with vfork semantics (CLONE_VM|CLONE_VFORK) unless it asks for a new
	// user namespace, when it must copy the parent's page tables (a full fork): the difference
	// from ProgramInNamespaces grows with the parent's memory (ForkingParentRSSMB).
	ProgramInNamespacesButUser Summary `json:"program_in_namespaces_but_user_start"`
	// Helper: the daemon's executable re-executed as the vat helper in those namespaces; its
	// first message is its refusal of a malformed request, sent as soon as its Go runtime and
	// main are up. Every confined start pays this before the helper's own steps and the
	// program's start.
	Helper Summary `json:"helper_start"`
	// ForkingParentRSSMB is the RSS of the process that started these parts (the benchmark);
	// the daemon's own is in the memory figure.
	ForkingParentRSSMB float64 `json:"forking_parent_rss_mb"`
}

// breakdownIDBase is the first of two host ids the breakdown maps in its namespaces, away
// from the daemon's range (1,800,000,000 up).
const breakdownIDBase = 1_799_000_000

func (h *harness) benchBreakdown(ctx context.Context, s *Sizes) (*Breakdown, error) {
	prog := &mode{name: "program start", once: func(context.Context) (time.Duration, error) {
		return timeFirstMessage(exec.Command(h.bins.ping), false, unix.SOCK_STREAM, nil)
	}}
	progNS := &mode{name: "program start in namespaces", once: func(context.Context) (time.Duration, error) {
		return timeFirstMessage(exec.Command(h.bins.ping), true, unix.SOCK_STREAM, nil)
	}}
	progNSButUser := &mode{name: "program start in namespaces but user", once: func(context.Context) (time.Duration, error) {
		cmd := exec.Command(h.bins.ping)
		return timeFirstMessage(cmd, false, unix.SOCK_STREAM, nil, func(a *syscall.SysProcAttr) {
			confineLikeAVat(a)
			a.Cloneflags &^= syscall.CLONE_NEWUSER
			a.UidMappings, a.GidMappings, a.GidMappingsEnableSetgroups = nil, nil, false
		})
	}}
	helper := &mode{name: "helper start", once: func(context.Context) (time.Duration, error) {
		cmd := exec.Command(h.bins.factoryd)
		cmd.Args = []string{vat.HelperName}
		return timeFirstMessage(cmd, true, unix.SOCK_SEQPACKET, []byte("not a request"))
	}}
	if err := interleave(ctx, 2, s.BreakdownRuns, prog, progNS, progNSButUser, helper); err != nil {
		return nil, err
	}
	b := &Breakdown{Program: summarize(prog.samples, "ms"), ProgramInNamespaces: summarize(progNS.samples, "ms"),
		ProgramInNamespacesButUser: summarize(progNSButUser.samples, "ms"), Helper: summarize(helper.samples, "ms")}
	if st, err := readKB("/proc/self/status", "VmRSS"); err == nil {
		b.ForkingParentRSSMB = mb(st["VmRSS"])
	}
	return b, nil
}

// timeFirstMessage starts cmd as a vat's processes are started — an empty environment,
// /dev/null on fds 0-2, one end of a socketpair of type sockType on fd 3, in fresh namespaces
// when ns is set — sends it send (if any), and times from the start to the first message it
// sends on fd 3. adjust may change the process attributes further. Then it hangs up and waits for the process to exit (not timed).
func timeFirstMessage(cmd *exec.Cmd, ns bool, sockType int, send []byte, adjust ...func(*syscall.SysProcAttr)) (time.Duration, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, sockType|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil { // polled: read deadlines work
		unix.Close(fds[0])
		unix.Close(fds[1])
		return 0, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "part"), os.NewFile(uintptr(fds[1]), "part-child")
	defer mine.Close()
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if ns {
		confineLikeAVat(cmd.SysProcAttr)
	}
	for _, f := range adjust {
		f(cmd.SysProcAttr)
	}
	start := time.Now()
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	at, err := firstMessage(mine, send)
	mine.Close()
	werr := waitOrKill(cmd)
	if err != nil {
		return 0, errors.Join(err, werr)
	}
	return at.Sub(start), werr
}

// firstMessage writes send (if any) to f and returns when the peer's first bytes arrived.
func firstMessage(f *os.File, send []byte) (time.Time, error) {
	if len(send) > 0 {
		if _, err := f.Write(send); err != nil {
			return time.Time{}, err
		}
	}
	var buf [4096]byte
	if err := f.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return time.Time{}, err
	}
	if _, err := f.Read(buf[:]); err != nil {
		return time.Time{}, fmt.Errorf("no first message: %w", err)
	}
	return time.Now(), nil
}

// waitOrKill waits for a process that was told to go away; one still running after 5s is
// killed by its pid. Its exit status does not matter.
func waitOrKill(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not exit when its fd 3 closed", cmd.Args[0])
	}
}

// confineLikeAVat sets the namespaces, id maps and session of vat.Spawner's helper start.
func confineLikeAVat(a *syscall.SysProcAttr) {
	a.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
		syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNS
	a.Setsid = true
	a.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
	if os.Geteuid() != 0 {
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		return
	}
	b := breakdownIDBase
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: b, Size: 1}, {ContainerID: 1000, HostID: b + 1, Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: b, Size: 1}, {ContainerID: 1000, HostID: b + 1, Size: 1}}
	a.GidMappingsEnableSetgroups = true
}
