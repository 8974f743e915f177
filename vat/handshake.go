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

// A helper sends at most two messages: its seccomp notification listener (as SCM_RIGHTS, in
// log mode, just before exec) and, if a step fails, the failure.
const (
	msgFailure  = "failure"
	msgListener = "listener"
)

// message is what a helper sends.
type message struct {
	Kind    string `json:"kind"`
	Step    string `json:"step,omitempty"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message,omitempty"`
}

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
	b, _ := json.Marshal(&m)
	unix.Write(ctl, b)
}

func sendListener(ctl, fd int) error {
	b, _ := json.Marshal(&message{Kind: msgListener})
	return unix.Sendmsg(ctl, b, unix.UnixRights(fd), nil, 0)
}

// readOutcome waits for the helper's verdict: nil when the control socket reaches end-of-file
// (the helper exec'd the program, closing its end), or the failure it reported. It returns the
// seccomp listener the helper sent, if any, which the caller owns.
func readOutcome(ctl *os.File) (*os.File, error) {
	var listener *os.File
	for {
		m, fds, err := readMessage(ctl)
		if err != nil || m == nil {
			if err != nil && listener != nil {
				listener.Close()
				listener = nil
			}
			return listener, err
		}
		switch {
		case m.Kind == msgListener && len(fds) == 1 && listener == nil:
			// Non-blocking before os.NewFile, so that the runtime's netpoller watches it.
			if err := unix.SetNonblock(fds[0], true); err != nil {
				closeAll(fds)
				return nil, err
			}
			listener = os.NewFile(uintptr(fds[0]), "seccomp-listener")
		case m.Kind == msgFailure:
			closeAll(fds)
			if listener != nil {
				listener.Close()
			}
			return nil, &failure{Step: m.Step, Errno: m.Errno, Message: m.Message}
		default:
			closeAll(fds)
		}
	}
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
