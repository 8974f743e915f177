package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "factory destroy",
		args:    "NAME",
		summary: "remove a factory you own (live instances keep running until they end)",
		run:     factoryDestroy,
	})
}

func factoryDestroy(ctx context.Context, e *env, args []string) error {
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
	if err := b.Destroy(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "factory %s destroyed\n", pos[0])
	return nil
}
