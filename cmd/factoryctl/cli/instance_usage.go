package cli

import (
	"context"
	"fmt"
	"time"
)

func init() {
	register(&command{
		name:    "instance usage",
		args:    "ID [--json]",
		summary: "what one of your instances consumed (CPU, peak memory, wall time), from the kernel's counters; never shown to the builder",
		run:     instanceUsage,
	})
}

func instanceUsage(ctx context.Context, e *env, args []string) error {
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
	u, err := c.Usage(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, u)
	}
	state := "ended"
	if u.Live {
		state = "running (so far)"
	} else if u.EndReason != "" {
		state = "ended: " + u.EndReason
	}
	fmt.Fprintf(e.Stdout, "instance:     %s\nfactory:      %s\nstate:        %s\n", u.Instance, u.Factory, state)
	if u.Measured {
		fmt.Fprintf(e.Stdout, "cpu time:     %v\npeak memory:  %s\n", u.CPU.Round(time.Microsecond), size(u.PeakMemory))
	} else {
		fmt.Fprintln(e.Stdout, "cpu time:     not measured (no cgroup)\npeak memory:  not measured (no cgroup)")
	}
	fmt.Fprintf(e.Stdout, "wall time:    %v\n", u.Wall.Round(time.Millisecond))
	return nil
}
