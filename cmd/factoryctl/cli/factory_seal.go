package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "factory seal",
		args:    "NAME",
		summary: "freeze a factory: no more installs; requestors may create instances",
		run:     factorySeal,
	})
}

func factorySeal(ctx context.Context, e *env, args []string) error {
	pos, err := parse(e.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	b, err := c.Builder(ctx, pos[0])
	if err != nil {
		return err
	}
	defer b.Release()
	r, err := b.Seal(ctx)
	if err != nil {
		return err
	}
	r.Release()
	info, err := b.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "factory %s sealed: %s\n", pos[0], verdict(info))
	return nil
}
