package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "factory ls",
		args:    "[--json]",
		summary: "list factories",
		run:     factoryLs,
	})
}

func factoryLs(ctx context.Context, e *env, args []string) error {
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
	fs2, err := c.Factories(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, fs2)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "NAME\tSTATE\tCOMPONENTS\tPROGRAM\tOWNER\tCREATED")
	for _, f := range fs2 {
		prog := "-"
		if f.Program != nil {
			prog = short(f.Program)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", f.Name, verdict(f), len(f.Components), prog, f.Owner, stamp(f.Created))
	}
	return tw.Flush()
}
