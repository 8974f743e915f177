package cli

import (
	"context"
	"fmt"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "instance show",
		args:    "ID [--json]",
		summary: "describe one of your live instances, with its billing channel's capacity",
		run:     instanceShow,
	})
}

func instanceShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	insts, err := c.Instances(ctx)
	if err != nil {
		return err
	}
	for _, i := range insts {
		if i.ID != pos[0] {
			continue
		}
		if *asJSON {
			return writeJSON(e.Stdout, i)
		}
		fmt.Fprintf(e.Stdout, "instance:   %s\nfactory:    %s\nstate:      %s\npid:        %d\nrequestor:  %s\ncreated:    %s\n",
			i.ID, i.Factory, i.State, i.Pid, i.Requestor, stamp(i.Created))
		if i.Billing != nil {
			printCapacity(e.Stdout, "billing:   ", i.Billing)
		}
		return nil
	}
	return fmt.Errorf("instance %q: %w (see 'factoryctl instance ls'; ended instances: 'factoryctl instance usage')", pos[0], client.ErrNotFound)
}
