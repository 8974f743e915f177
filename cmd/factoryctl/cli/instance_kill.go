package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "instance kill",
		args:    "ID",
		summary: "end one of your instances",
		run:     instanceKill,
	})
}

func instanceKill(ctx context.Context, e *env, args []string) error {
	pos, err := parse(e.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.KillInstance(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "instance %s killed\n", pos[0])
	return nil
}
