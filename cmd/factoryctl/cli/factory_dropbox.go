package cli

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "factory dropbox",
		args:    "NAME KEY [--after SEQ] [--json]",
		summary: "read what instances posted to a dropbox hole of a factory you own",
		run:     factoryDropbox,
	})
}

func factoryDropbox(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	after := fs.Uint64("after", 0, "only messages after this sequence number")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 2, 2)
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
	msgs, err := b.Dropbox(ctx, pos[1], *after)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, msgs)
	}
	for _, m := range msgs {
		fmt.Fprintf(e.Stdout, "%d %s %q\n", m.Seq, stamp(m.Time), m.Data)
	}
	return nil
}
