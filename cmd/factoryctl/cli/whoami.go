package cli

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	register(&command{
		name:    "whoami",
		args:    "[--json]",
		summary: "show who the daemon thinks you are: your access token",
		run:     whoami,
	})
}

func whoami(ctx context.Context, e *env, args []string) error {
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
	p, err := c.Whoami(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, p)
	}
	fmt.Fprintf(e.Stdout, "%s (uid %d, gid %d, pid %d)\n", p.Name, p.UID, p.GID, p.PID)
	fmt.Fprint(e.Stdout, p.Token)
	if !strings.HasSuffix(p.Token, "\n") {
		fmt.Fprintln(e.Stdout)
	}
	return nil
}
