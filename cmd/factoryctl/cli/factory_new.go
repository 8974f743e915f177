package cli

import (
	"context"
	"fmt"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "factory new",
		args:    "NAME --program FILE [--data KEY=FILE]... [--seal]",
		summary: "publish a program as a new factory, with immutable data components",
		run:     factoryNew,
	})
}

func factoryNew(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	prog := fs.String("program", "", "the program: a static executable for this machine (required)")
	var data keyValues
	fs.Var(&data, "data", "install FILE as the data component KEY (repeatable)")
	seal := fs.Bool("seal", false, "seal the factory once installed")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *prog == "" {
		return usageErr("factory new: --program is required")
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := publish(ctx, c, pos[0], *prog, data, *seal); err != nil {
		return err
	}
	state := "unsealed: install more, then 'factoryctl factory seal " + pos[0] + "'"
	if *seal {
		state = "sealed"
	}
	fmt.Fprintf(e.Stdout, "factory %s created (%s)\n", pos[0], state)
	return nil
}

// publish uploads the program and data, creates the factory, installs them and optionally
// seals. On failure the half-built factory is destroyed: it exists complete or not at all.
func publish(ctx context.Context, c *client.Client, name, prog string, data keyValues, seal bool) (err error) {
	pd, err := c.UploadFile(ctx, prog)
	if err != nil {
		return fmt.Errorf("upload program: %w", err)
	}
	b, err := c.NewFactory(ctx, name)
	if err != nil {
		return err
	}
	defer b.Release()
	defer func() {
		if err != nil {
			b.Destroy(context.WithoutCancel(ctx))
		}
	}()
	if err := b.SetProgram(ctx, pd); err != nil {
		return fmt.Errorf("set program: %w", err)
	}
	for _, kv := range data {
		d, err := c.UploadFile(ctx, kv.value)
		if err != nil {
			return fmt.Errorf("upload data %s: %w", kv.key, err)
		}
		if err := b.InstallData(ctx, kv.key, d); err != nil {
			return fmt.Errorf("install data %s: %w", kv.key, err)
		}
	}
	if !seal {
		return nil
	}
	r, err := b.Seal(ctx)
	r.Release()
	return err
}
