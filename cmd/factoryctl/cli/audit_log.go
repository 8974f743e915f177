package cli

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	register(&command{
		name:    "audit log",
		args:    "[--factory NAME] [--limit N] [--json]",
		summary: "the audit log entries you may see: factory events, and your own",
		run:     auditLog,
	})
}

func auditLog(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	factory := fs.String("factory", "", "only this factory's entries")
	limit := fs.Int("limit", 100, "the last N entries")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	entries, err := c.AuditLog(ctx, *factory, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, entries)
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "SEQ\tTIME\tPRINCIPAL\tACTION\tFACTORY\tDETAIL")
	for _, en := range entries {
		detail := joinNonEmpty(en.Instance, en.Component, en.Kind, quoteIf(en.Label), en.Detail)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", en.Seq, stamp(en.Time), en.Principal, en.Action, en.Factory, detail)
	}
	return tw.Flush()
}

func quoteIf(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%q", s)
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
