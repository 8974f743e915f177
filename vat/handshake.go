package vat

import (
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
	fdProgram // present only when request.ProgramFD is set
)

// request is what the daemon tells a helper. It is versioned so that a daemon and a helper
// from different builds (an upgrade with vats starting) refuse each other clearly.
type request struct {
	Version   int      `json:"version"`
	Hostname  string   `json:"hostname"`
	Env       []string `json:"env"`
	Rlimits   []rlimit `json:"rlimits"`
	ProgramFD bool     `json:"program_fd"` // a detached mount of the program travels as fdProgram
	Program   string   `json:"program"`    // else: the helper bind-mounts this path itself
	RunAs     *ids     `json:"run_as"`     // ids inside the namespace to run the program as; nil: stay 0
	TmpfsOpts string   `json:"tmpfs_opts"`
}

const requestVersion = 1

type ids struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// failure is the one message a helper sends when a step fails.
type failure struct {
	Step    string `json:"step"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message"`
}

func (f *failure) Error() string { return f.Step + ": " + f.Message }

func sendRequest(ctl int, req *request, fds []int) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return unix.Sendmsg(ctl, b, unix.UnixRights(fds...), nil, 0)
}

// recvRequest reads the daemon's request and the fds it carries.
func recvRequest(ctl int) (*request, []int, error) {
	buf := make([]byte, maxControlMessage)
	oob := make([]byte, unix.CmsgSpace(4*4))
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
	want := fdStderr + 1
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
	f := failure{Step: step, Message: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		f.Errno = int(errno)
	}
	b, _ := json.Marshal(&f)
	unix.Write(ctl, b)
}

// readOutcome waits for the helper's verdict: nil when the control socket reaches end-of-file
// (the helper exec'd the program, closing its end), or the failure it reported.
func readOutcome(ctl *os.File) error {
	buf := make([]byte, maxControlMessage)
	n, err := ctl.Read(buf)
	if n == 0 {
		return nil // end-of-file: exec succeeded
	}
	if err != nil {
		return fmt.Errorf("read helper outcome: %w", err)
	}
	f := new(failure)
	if err := json.Unmarshal(buf[:n], f); err != nil {
		return fmt.Errorf("helper sent an unreadable failure: %q", buf[:n])
	}
	return f
}
