package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/config"
)

func init() {
	register(&command{
		name:    "run",
		args:    "NAME [--input FILE|-] [--arg KEY=VALUE]... [--directory KEY] [--debug] [--memory SIZE] [--cpu CORES] [--cpu-time DURATION] [--pids N] [--ceiling KIND=PER[/TOTAL]]... [--period DURATION]",
		summary: "create an instance, call its Job.run with the input, print the output, end it",
		run:     runJob,
	})
}

func runJob(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	input := fs.String("input", "", "file holding the input, or - for stdin (default: empty input)")
	var argv keyValues
	fs.Var(&argv, "arg", "pass KEY=VALUE as a data argument of the instance (repeatable)")
	dirArg := fs.String("directory", "", "hand the instance the namespace as capability argument KEY: it opens names with its confined token")
	debug := fs.Bool("debug", false, "show the instance's stdout and stderr on stderr (only you see it)")
	startTimeout := fs.Duration("start-timeout", 0, "bound the program's start (default: the daemon's)")
	var lim limitFlags
	lim.register(fs)
	var bill billingFlags
	bill.register(fs)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	limits, err := lim.limits()
	if err != nil {
		return err
	}
	grant, err := bill.limits()
	if err != nil {
		return err
	}
	in, err := readInput(e, *input)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	opts := createOptions(e, argv, *debug, *startTimeout)
	opts.Limits, opts.Billing = limits, grant
	if *dirArg != "" {
		dir := c.Directory(ctx)
		defer dir.Release()
		cap := capnp.Client(dir.Cap())
		opts.Args = append(opts.Args, client.Arg{Name: *dirArg, Cap: &cap})
	}
	out, err := runOnce(ctx, c, pos[0], in, opts)
	if err != nil {
		return err
	}
	_, err = e.Stdout.Write(out)
	return err
}

func createOptions(e *env, argv keyValues, debug bool, startTimeout time.Duration) *client.CreateOptions {
	opts := &client.CreateOptions{StartTimeout: startTimeout}
	for _, kv := range argv {
		opts.Args = append(opts.Args, client.Arg{Name: kv.key, Data: []byte(kv.value)})
	}
	if debug {
		opts.Stdout, opts.Stderr = e.Stderr, e.Stderr
	}
	return opts
}

func readInput(e *env, path string) ([]byte, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return io.ReadAll(e.Stdin)
	}
	return os.ReadFile(path)
}

// runOnce creates an instance, runs it once and ends it.
func runOnce(ctx context.Context, c *client.Client, name string, in []byte, opts *client.CreateOptions) ([]byte, error) {
	r, err := c.Requestor(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	out, err := r.RunOnce(ctx, opts, in)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	return out, nil
}

// limitFlags are the resource limit flags of commands that create instances.
type limitFlags struct {
	memory, cpu string
	cpuTime     time.Duration
	pids        uint
}

func (l *limitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.memory, "memory", "", "memory limit, e.g. 64MiB (default: the daemon's)")
	fs.StringVar(&l.cpu, "cpu", "", "CPU share in cores, e.g. 0.5 (default: the daemon's)")
	fs.DurationVar(&l.cpuTime, "cpu-time", 0, "total CPU time, e.g. 30s (default: the daemon's)")
	fs.UintVar(&l.pids, "pids", 0, "processes and threads (default: the daemon's)")
}

func (l *limitFlags) limits() (client.Limits, error) {
	var out client.Limits
	if l.memory != "" {
		n, err := config.ParseSize(l.memory)
		if err != nil {
			return out, usageErr("--memory: %v", err)
		}
		out.MemoryBytes = uint64(n)
	}
	if l.cpu != "" {
		cores, err := strconv.ParseFloat(l.cpu, 64)
		if err != nil || cores <= 0 {
			return out, usageErr("--cpu %q: want a number of cores such as 0.5", l.cpu)
		}
		out.CPUMillicores = uint32(cores * 1000)
	}
	out.CPUSeconds = uint32((l.cpuTime + time.Second - 1) / time.Second)
	out.Pids = uint32(l.pids)
	return out, nil
}
