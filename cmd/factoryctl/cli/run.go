package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "run",
		args:    "NAME [--input FILE|-] [--arg KEY=VALUE]... [--debug]",
		summary: "create an instance, call its Job.run with the input, print the output, end it",
		run:     runJob,
	})
}

func runJob(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	input := fs.String("input", "", "file holding the input, or - for stdin (default: empty input)")
	var argv keyValues
	fs.Var(&argv, "arg", "pass KEY=VALUE as a data argument of the instance (repeatable)")
	debug := fs.Bool("debug", false, "show the instance's stdout and stderr on stderr (only you see it)")
	startTimeout := fs.Duration("start-timeout", 0, "bound the program's start (default: the daemon's)")
	pos, err := parse(fs, args, 1, 1)
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
	out, err := runOnce(ctx, c, pos[0], in, createOptions(e, argv, *debug, *startTimeout))
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
	inst, err := r.Create(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("create instance of %s: %w", name, err)
	}
	defer inst.Release()
	out, err := inst.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	// End the instance and wait until it has ended: the last of its output has reached the
	// debug sink, and nothing of it is left when run returns.
	if err := inst.Kill(ctx); err != nil {
		return nil, fmt.Errorf("end instance of %s: %w", name, err)
	}
	return out, nil
}
