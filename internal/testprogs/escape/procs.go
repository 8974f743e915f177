package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Process attacks: signal, trace or read host processes, exhaust processes and memory, and
// say something through the exit status and stderr.

// hostPids are the pids the program may aim at: the test's, never 0, 1 (itself) or a negative
// pid (a process group, or every process).
func hostPids(req *request) []int {
	var out []int
	for _, p := range req.Pids {
		if p > 1 {
			out = append(out, p)
		}
	}
	return out
}

func attackSignals(req *request, r *report) {
	for _, pid := range hostPids(req) {
		p := itoa(pid)
		r.try("kill "+p+" 0", unix.Kill(pid, 0))
		r.try("kill "+p+" SIGUSR1", unix.Kill(pid, unix.SIGUSR1))
		r.try("kill "+p+" SIGTERM", unix.Kill(pid, unix.SIGTERM))
		r.try("tgkill "+p+" SIGUSR2", unix.Tgkill(pid, pid, unix.SIGUSR2))
		r.try("tkill "+p+" SIGUSR2", raw(unix.SYS_TKILL, uintptr(pid), uintptr(unix.SIGUSR2)))
		r.try("rt_sigqueueinfo "+p+" SIGHUP", sigqueue(pid, unix.SIGHUP))
		fd, err := unix.PidfdOpen(pid, 0)
		r.try("pidfd_open "+p, err)
		if err == nil {
			r.try("pidfd_send_signal "+p+" SIGHUP", unix.PidfdSendSignal(fd, unix.SIGHUP, nil, 0))
			unix.Close(fd)
		}
	}
	// Which processes can it see at all? pidfd_open finds processes, not threads.
	for pid := 2; pid < 4096; pid++ {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			unix.Close(fd)
			r.VisiblePids = append(r.VisiblePids, pid)
		}
	}
}

// sigqueue sends sig with rt_sigqueueinfo, which does not go through kill's checks in seccomp.
func sigqueue(pid int, sig unix.Signal) error {
	var info [128]byte
	*(*int32)(unsafe.Pointer(&info[0])) = int32(sig)
	*(*int32)(unsafe.Pointer(&info[8])) = -1 // SI_QUEUE
	return raw(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&info[0])))
}

func attackPtrace(req *request, r *report) {
	targets := append([]int{1}, hostPids(req)...)
	for _, pid := range targets {
		p := itoa(pid)
		onFreshThread(func() {
			err := unix.PtraceAttach(pid)
			if err == nil {
				unix.PtraceDetach(pid)
			}
			r.try("PTRACE_ATTACH "+p, err)
			err = unix.PtraceSeize(pid)
			if err == nil {
				unix.PtraceDetach(pid)
			}
			r.try("PTRACE_SEIZE "+p, err)
		})
	}
	for _, pid := range hostPids(req) {
		p := itoa(pid)
		buf := make([]byte, 16)
		local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: len(buf)}}
		_, err := unix.ProcessVMReadv(pid, local, remote, 0)
		r.try("process_vm_readv "+p, err)
		_, err = unix.ProcessVMWritev(pid, local, remote, 0)
		r.try("process_vm_writev "+p, err)
		r.try("kcmp "+p, raw(unix.SYS_KCMP, 1, uintptr(pid), 0, 0, 0)) // KCMP_FILE
		fd, err := unix.PidfdOpen(pid, 0)
		if err == nil {
			r.try("pidfd_getfd "+p, rawFD(unix.SYS_PIDFD_GETFD, uintptr(fd), 0, 0))
			unix.Close(fd)
		} else {
			r.try("pidfd_getfd "+p, err)
		}
	}
}

// forkChild starts a copy of the program (which does nothing but exit, or sleep) in a new
// process, with extra clone flags, and reaps it unless it sleeps.
func forkChild(flags uintptr, sleep bool) error {
	argv := []string{childName}
	if sleep {
		argv = append(argv, "sleep")
	}
	pid, err := syscall.ForkExec("/bin/prog", argv, &syscall.ProcAttr{
		Env: []string{}, Sys: &syscall.SysProcAttr{Cloneflags: flags}})
	if err != nil {
		return err
	}
	if !sleep {
		// The clone and the exec worked: that is the escape. Reap the child if wait4 is
		// allowed; a zombie left otherwise ends with the vat.
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	return nil
}

// attackForkBomb makes processes, then threads, until the kernel refuses; the Go runtime
// dies when it cannot make a thread, so it reports nothing.
func attackForkBomb(req *request, r *report) {
	for i := 0; i < 10000; i++ {
		if forkChild(0, true) != nil {
			break
		}
		r.Count++
	}
	block := make(chan struct{})
	for i := 0; i < 100000; i++ {
		started := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(started)
			<-block
		}()
		<-started
		r.Count++
	}
}

var hoard [][]byte

func attackMemHog(req *request, r *report) {
	for i := 0; i < 1<<16; i++ { // at most 64 GiB: until the memory limit kills it
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		hoard = append(hoard, b)
		r.Count++
	}
}

// attackExit writes the nonce to stdout and stderr and exits with the status asked for,
// without answering.
func attackExit(req *request, r *report) {
	fmt.Fprintln(os.Stdout, "escape stdout "+req.Nonce)
	fmt.Fprintln(os.Stderr, "escape stderr "+req.Nonce)
	os.Exit(req.Exit)
}
