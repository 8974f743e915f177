package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "factory verify",
		args:    "NAME --instance ID",
		summary: "check that one of your instances was created by factory NAME",
		run:     factoryVerify,
	})
}

func factoryVerify(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	id := fs.String("instance", "", "the instance's id (see 'factoryctl instance ls')")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *id == "" {
		return usageErr("factory verify: --instance is required")
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ok, err := c.VerifyInstance(ctx, pos[0], *id)
	if err != nil {
		return err
	}
	if ok {
		fmt.Fprintf(e.Stdout, "yes: instance %s was created by factory %s\n", *id, pos[0])
	} else {
		fmt.Fprintf(e.Stdout, "no: instance %s was not created by factory %s\n", *id, pos[0])
	}
	return nil
}
