package cli

import (
	"context"
	"fmt"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "factory compare",
		args:    "NAME POLICY",
		summary: "check NAME against POLICY, a factory whose holes are the holes you accept",
		run:     factoryCompare,
	})
}

func factoryCompare(ctx context.Context, e *env, args []string) error {
	pos, err := parse(e.flags(), args, 2, 2)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	policy, err := c.Requestor(ctx, pos[1])
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	defer policy.Release()
	candidate, err := c.Requestor(ctx, pos[0])
	if err != nil {
		return err
	}
	defer candidate.Release()
	v, err := policy.Compare(ctx, capnp.Client(candidate.Cap()))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s: %s\n", v, compareMeaning(v, pos[0], pos[1]))
	return nil
}

func compareMeaning(v client.Verdict, name, policy string) string {
	switch v {
	case client.Subset:
		return fmt.Sprintf("every hole of %s is one %s accepts", name, policy)
	case client.ExtraHoles:
		return fmt.Sprintf("%s has a hole %s does not accept", name, policy)
	}
	return name + " is not a sealed factory of this daemon"
}
