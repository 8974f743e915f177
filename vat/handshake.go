package vat

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// HelperName is argv[0] of a helper process; RunHelperIfRequested recognises it.
const HelperName = "factoryd-vat"

// maxControlMessage bounds one message on the control socket.
const maxControlMessage = 64 << 10

// The fds a request carries, in SCM_RIGHTS order.
const (
	fdRPC = iota
	fdStdout
	fdStderr
	fdStdin   // the vat's own open of /dev/null: no open file description is shared between vats
	fdProgram // present only when request.ProgramFD is set
)

// request is what the daemon tells a helper. It is versioned so that a daemon and a helper
// from different builds (an upgrade with vats starting) refuse each other clearly.
type request struct {
	Version   int             `json:"version"`
	Hostname  string          `json:"hostname"`
	Env       []string        `json:"env"`
	Rlimits   []rlimit        `json:"rlimits"`
	ProgramFD bool            `json:"program_fd"` // a detached mount of the program travels as fdProgram
	Program   string          `json:"program"`    // else: the helper bind-mounts this path itself
	RunAs     *ids            `json:"run_as"`     // ids inside the namespace to run the program as; nil: stay 0
	Seccomp   *seccompRequest `json:"seccomp"`    // nil: no filter (only for experiments)
}

type seccompRequest struct {
	// Filter is the program compiled by the daemon (seccomp.go) in the kernel's layout, 8 bytes
	// per instruction (encodeFilter). It travels as one base64 string because the helper decodes
	// it on the path of every start: that takes microseconds, where an array of per-instruction
	// JSON objects would cost a cold helper about a quarter of a millisecond.
	Filter []byte `json:"filter"`
	Log    bool   `json:"log"` // notify the daemon of each refusal (it sends its listener first)
}

const requestVersion = 3

// sockFilterSize is the size of one classic BPF instruction: code (16 bits), jt, jf (8 bits
// each), k (32 bits).
const sockFilterSize = 8

// encodeFilter lays prog out as the kernel's struct sock_filter array, little-endian.
func encodeFilter(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, len(prog)*sockFilterSize)
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b
}

// decodeFilter is the inverse of encodeFilter.
func decodeFilter(b []byte) ([]unix.SockFilter, error) {
	if len(b)%sockFilterSize != 0 {
		return nil, fmt.Errorf("a filter of %d bytes is not a whole number of instructions", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/sockFilterSize)
	for i := range prog {
		in := b[i*sockFilterSize:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3],
			K: binary.LittleEndian.Uint32(in[4:])}
	}
	return prog, nil
}

type ids struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// What a vat's start sends the daemon, in order. Where the helper hands over (handsOver): the
// program's process, a pidfd of itself (SCM_RIGHTS) as its first act; then the helper, in log
// mode, the seccomp listener (SCM_RIGHTS); and "started" with the program's pid, or a failure.
// Otherwise: the listener in log mode, just before exec, and a failure if a step fails; the exec
// itself shows as end-of-file, the control socket being close-on-exec.
const (
	msgFailure  = "failure"
	msgListener = "listener"
	msgProgram  = "program"
	msgStarted  = "started"
)

// message is what a helper, or the program's process before its exec, sends.
type message struct {
	Kind    string `json:"kind"`
	Step    string `json:"step,omitempty"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message,omitempty"`
	// Pid is the program's pid in the daemon's pid namespace: in "started", and in a failure of
	// the program's process before its exec (whose pidfd the daemon may not have).
	Pid int `json:"pid,omitempty"`
}

// handOverPayload is the program process's message, built before it exists (it cannot run Go).
var handOverPayload = []byte(`{"kind":"` + msgProgram + `"}`)

// failure is a step's failure, as the daemon reports it.
type failure struct {
	Step    string
	Errno   int
	Message string
}

func (f *failure) Error() string { return f.Step + ": " + f.Message }

func sendRequest(ctl int, req *request, fds []int) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return unix.Sendmsg(ctl, b, unix.UnixRights(fds...), nil, 0)
}

// warmDecoder decodes a request shaped like a real one, so that the decoder's per-type state is
// built and its code paged in while the helper waits in the pool rather than after its request
// arrives: on a cold helper that first decode costs tens of microseconds, on the start's path.
func warmDecoder() {
	var req request
	if json.Unmarshal(warmRequest, &req) == nil && req.Seccomp != nil {
		decodeFilter(req.Seccomp.Filter)
	}
}

// warmRequest has every field of a request, each non-empty.
var warmRequest = []byte(`{"version":1,"hostname":"h","env":["e"],"rlimits":[{"resource":1,"cur":1,"max":1}],` +
	`"program_fd":true,"program":"p","run_as":{"uid":1,"gid":1},"seccomp":{"filter":"AQEBAQEBAQE=","log":true}}`)

// recvRequest reads the daemon's request and the fds it carries.
func recvRequest(ctl int) (*request, []int, error) {
	buf := make([]byte, maxControlMessage)
	oob := make([]byte, unix.CmsgSpace(4*(fdProgram+1)))
	n, oobn, flags, _, err := unix.Recvmsg(ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("receive request: %w", err)
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return nil, nil, errors.New("receive request: message truncated")
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	req := new(request)
	if err := json.Unmarshal(buf[:n], req); err != nil {
		return nil, fds, fmt.Errorf("decode request: %w", err)
	}
	if req.Version != requestVersion {
		return nil, fds, fmt.Errorf("request version %d, helper speaks %d", req.Version, requestVersion)
	}
	want := fdStdin + 1
	if req.ProgramFD {
		want++
	}
	if len(fds) != want {
		return nil, fds, fmt.Errorf("request carries %d fds, want %d", len(fds), want)
	}
	return req, fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("parse rights: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func sendFailure(ctl int, step string, err error) {
	m := message{Kind: msgFailure, Step: step, Message: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	var child *childFailure
	if errors.As(err, &child) {
		m.Step, m.Errno, m.Pid = child.step, int(child.errno), child.pid
	}
	b, _ := json.Marshal(&m)
	unix.Write(ctl, b)
}

func sendStarted(ctl, pid int) error {
	b, _ := json.Marshal(&message{Kind: msgStarted, Pid: pid})
	_, err := unix.Write(ctl, b)
	return err
}

func sendListener(ctl, fd int) error {
	b, _ := json.Marshal(&message{Kind: msgListener})
	return unix.Sendmsg(ctl, b, unix.UnixRights(fd), nil, 0)
}

// outcome is what the daemon learnt of a vat's start. It owns the files.
type outcome struct {
	listener *os.File // the seccomp listener, in log mode
	program  *os.File // the program's pidfd, where the helper hands over
	pid      int      // the program's pid, from "started" or a failure
	started  bool     // the helper said "started"
	failure  *failure // the step that failed, if one did
}

func (o *outcome) closeListener() {
	if o.listener != nil {
		o.listener.Close()
		o.listener = nil
	}
}

// readOutcome reads what a start sends until the helper has said "started" (with the program's
// pidfd received before it), or else until end-of-file: the helper has exited or exec'd, and
// the program's process has exec'd or exited. It returns early, with what it has so far, only
// on a read error (the caller's deadline): the caller then ends the helper and calls it again,
// so that a pidfd sent meanwhile is not lost with the socket.
func readOutcome(ctl *os.File, o *outcome) error {
	for {
		if o.started && o.program != nil && o.failure == nil {
			return nil
		}
		m, fds, err := readMessage(ctl)
		if err != nil || m == nil {
			return err
		}
		switch {
		case m.Kind == msgListener && len(fds) == 1 && o.listener == nil && o.failure == nil:
			f, err := pollable(fds[0], "seccomp-listener")
			if err != nil {
				return err
			}
			o.listener = f
		case m.Kind == msgProgram && len(fds) == 1 && o.program == nil:
			f, err := pollable(fds[0], "pidfd")
			if err != nil {
				return err
			}
			o.program = f
		case m.Kind == msgStarted && len(fds) == 0 && m.Pid > 0:
			o.started, o.pid = true, m.Pid
		case m.Kind == msgFailure && o.failure == nil:
			closeAll(fds)
			o.closeListener()
			o.failure = &failure{Step: m.Step, Errno: m.Errno, Message: m.Message}
			o.pid = m.Pid
		default:
			closeAll(fds)
		}
	}
}

// pollable makes fd non-blocking, so that the runtime's netpoller watches it, and wraps it.
func pollable(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// readMessage reads one message; nil at end-of-file.
func readMessage(ctl *os.File) (*message, []int, error) {
	raw, err := ctl.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, maxControlMessage)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read from helper: %w", err)
	}
	if n == 0 {
		return nil, nil, nil
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	m := new(message)
	if err := json.Unmarshal(buf[:n], m); err != nil {
		closeAll(fds)
		return nil, nil, fmt.Errorf("helper sent an unreadable message: %q", buf[:n])
	}
	return m, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
