package program

import (
	"context"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/schema"
)

// RunFunc computes a Job's output from its input.
type RunFunc func(ctx context.Context, env *Env, input []byte) ([]byte, error)

// MainJob serves a Job whose run method calls fn; see Main.
func MainJob(fn RunFunc) {
	Main(JobExport(fn))
}

// JobExport returns an ExportFunc publishing a Job whose run method calls fn.
func JobExport(fn RunFunc) ExportFunc {
	return func(ctx context.Context, env *Env) (capnp.Client, error) {
		return capnp.Client(schema.Job_ServerToClient(&job{env: env, fn: fn})), nil
	}
}

type job struct {
	env *Env
	fn  RunFunc
}

func (j *job) Run(ctx context.Context, call schema.Job_run) error {
	input, err := call.Args().Input()
	if err != nil {
		return err
	}
	out, err := j.fn(ctx, j.env, input)
	if err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetOutput(out)
}
