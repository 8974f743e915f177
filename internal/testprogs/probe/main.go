// Command probe is a test program: a Job whose input selects what it does.
//
//	(empty)   return nothing
//	view      report, as JSON, what the program can see of the machine
//	echo:X    return X
//	crash     exit with status 2 without answering
//	hang      never answer
//	stderr:X  write X to stderr and return it
//	hog       use ever more memory
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/program"
)

// startFDs are the fds open when the program started, before the SDK opened any of its own.
var startFDs = openFDs()

func openFDs() []int {
	var fds []int
	for fd := 0; fd < 256; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "probe: refusing to run outside a vat")
		os.Exit(3)
	}
	program.MainJob(run)
}

func run(ctx context.Context, env *program.Env, input []byte) ([]byte, error) {
	cmd, arg, _ := strings.Cut(strings.TrimRight(string(input), "\n"), ":")
	switch cmd {
	case "":
		return nil, nil
	case "view":
		return json.Marshal(look(ctx, env))
	case "echo":
		return []byte(arg), nil
	case "crash":
		os.Exit(2)
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "hog":
		var hoard [][]byte
		for { // until the memory limit kills the program
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hoard = append(hoard, b)
		}
	case "stderr":
		fmt.Fprint(os.Stderr, arg)
		fmt.Fprint(os.Stdout, "out:"+arg)
		return []byte(arg), nil
	}
	return nil, errors.New("unknown command " + cmd)
}

// View is what the probe reports.
type View struct {
	Pid         int               `json:"pid"`
	UID         int               `json:"uid"`
	Env         []string          `json:"env"`
	FDs         []int             `json:"fds"`
	Root        []string          `json:"root"`
	Interfaces  []string          `json:"interfaces"`
	OtherPids   []int             `json:"other_pids"`
	Hostname    string            `json:"hostname"`
	Components  []string          `json:"components"`
	Args        []string          `json:"args"`
	Data        map[string]string `json:"data"`
	CreateError string            `json:"create_error"`
}

func look(ctx context.Context, env *program.Env) View {
	v := View{Pid: os.Getpid(), UID: os.Getuid(), Env: os.Environ(), Components: env.Components(),
		Args: env.Args(), Data: map[string]string{}}
	v.FDs = startFDs
	filepath.Walk("/", func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			v.Root = append(v.Root, p)
		}
		return nil
	})
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		v.Interfaces = append(v.Interfaces, i.Name)
	}
	// pidfd_open finds processes, not threads (EINVAL for a thread that is not a leader).
	for pid := 2; pid < 4096; pid++ {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == nil {
			unix.Close(fd)
			v.OtherPids = append(v.OtherPids, pid)
		}
	}
	v.Hostname, _ = os.Hostname()
	for _, name := range env.Components() {
		if b, err := env.Data(ctx, name); err == nil {
			v.Data[name] = string(b)
		}
	}
	for _, name := range env.Args() {
		if b, err := env.Arg(name); err == nil {
			v.Data["arg:"+name] = string(b)
		}
	}
	if _, err := os.Create("/probe-file"); err != nil {
		v.CreateError = err.Error()
	}
	return v
}
