// Command probe is a test program: a Job whose input selects what it does.
//
//	(empty)   return nothing
//	view      report, as JSON, what the program can see of the machine
//	echo:X    return X
//	crash     exit with status 2 without answering
//	hang      never answer
//	stderr:X  write X to stderr and return it
//	hog       use ever more memory
//	charge:KIND:UNITS:N   charge UNITS of KIND N times at once; report how many were accepted
//	storm:KIND:UNITS:N    charge UNITS of KIND from N goroutines until killed, writing "ack
//	                      UNITS" to stdout for each acknowledged (durable) charge
//	open:ARG:NAME         open factory NAME's requestor facet through the directory passed as
//	                      capability argument ARG; return "opened" and the facet's factory name
//	build:ARG:NAME        the same with its builder facet
//	list:ARG              list what the directory ARG shows, one "name rights" per line
//	token:ARG             the directory's token
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/program"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
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
	case "charge":
		return charge(ctx, env, arg)
	case "storm":
		storm(ctx, env, arg)
	case "open", "build", "list", "token":
		return lookup(ctx, env, cmd, arg)
	case "stderr":
		fmt.Fprint(os.Stderr, arg)
		fmt.Fprint(os.Stdout, "out:"+arg)
		return []byte(arg), nil
	}
	return nil, errors.New("unknown command " + cmd)
}

// Charges is what charge reports.
type Charges struct {
	Accepted int      `json:"accepted"`
	Refused  int      `json:"refused"`
	Errors   []string `json:"errors,omitempty"`
}

func chargeArgs(arg string) (kind string, units uint64, n int, err error) {
	parts := strings.Split(arg, ":")
	if len(parts) != 3 {
		return "", 0, 0, errors.New("want KIND:UNITS:N")
	}
	if units, err = strconv.ParseUint(parts[1], 10, 64); err == nil {
		n, err = strconv.Atoi(parts[2])
	}
	return parts[0], units, n, err
}

func charge(ctx context.Context, env *program.Env, arg string) ([]byte, error) {
	kind, units, n, err := chargeArgs(arg)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var out Charges
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ok, err := env.Meter().Charge(ctx, kind, units)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				out.Errors = append(out.Errors, err.Error())
			case ok:
				out.Accepted++
			default:
				out.Refused++
			}
		})
	}
	wg.Wait()
	return json.Marshal(out)
}

func storm(ctx context.Context, env *program.Env, arg string) {
	kind, units, n, err := chargeArgs(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for range n {
		go func() {
			for {
				ok, err := env.Meter().Charge(ctx, kind, units)
				if err != nil {
					return
				}
				if ok {
					mu.Lock()
					fmt.Fprintf(os.Stdout, "ack %d\n", units)
					mu.Unlock()
				}
			}
		}()
	}
	<-ctx.Done()
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

// lookup uses a directory handed to the yield as a capability argument.
func lookup(ctx context.Context, env *program.Env, cmd, arg string) ([]byte, error) {
	argName, name, _ := strings.Cut(arg, ":")
	c, err := env.ArgCap(argName)
	if err != nil {
		return nil, err
	}
	dir := schema.Directory(c)
	switch cmd {
	case "open":
		fut, release := dir.Requestor(ctx, func(p schema.Directory_requestor_Params) error { return p.SetName(name) })
		defer release()
		info, irelease := fut.Requestor().Info(ctx, nil)
		defer irelease()
		return infoName(info.Struct())
	case "build":
		fut, release := dir.Builder(ctx, func(p schema.Directory_builder_Params) error { return p.SetName(name) })
		defer release()
		info, irelease := fut.Builder().Info(ctx, nil)
		defer irelease()
		return infoName(info.Struct())
	case "list":
		fut, release := dir.List(ctx, nil)
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return nil, wire.Decode(err)
		}
		list, err := res.Entries()
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		for i := 0; i < list.Len(); i++ {
			n, _ := list.At(i).Name()
			r, _ := list.At(i).Rights()
			fmt.Fprintf(&b, "%s %s\n", n, r)
		}
		return []byte(b.String()), nil
	}
	fut, release := dir.Token(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	tok, err := res.Token()
	return []byte(tok), err
}

// infoName answers "opened NAME", or the reason the open failed.
func infoName[R interface {
	Info() (schema.FactoryInfo, error)
}](res R, err error) ([]byte, error) {
	if err != nil {
		return []byte("refused: " + wire.Decode(err).Error()), nil
	}
	info, err := res.Info()
	if err != nil {
		return nil, err
	}
	name, _ := info.Name()
	return []byte("opened " + name), nil
}
