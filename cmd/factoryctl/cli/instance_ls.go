package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "instance ls",
		args:    "[--json]",
		summary: "list your live instances",
		run:     instanceLs,
	})
}

func instanceLs(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
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
	if *asJSON {
		return writeJSON(e.Stdout, insts)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "ID\tFACTORY\tSTATE\tPID\tREQUESTOR\tCREATED")
	for _, i := range insts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", i.ID, i.Factory, i.State, i.Pid, i.Requestor, stamp(i.Created))
	}
	return tw.Flush()
}
