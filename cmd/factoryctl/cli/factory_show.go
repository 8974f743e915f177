package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "factory show",
		args:    "NAME [--json]",
		summary: "describe a factory: program, components, verdict",
		run:     factoryShow,
	})
}

func factoryShow(ctx context.Context, e *env, args []string) error {
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
	f, err := c.Factory(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, f)
	}
	printFactory(e.Stdout, f)
	return nil
}

func printFactory(w io.Writer, f client.FactoryInfo) {
	fmt.Fprintf(w, "factory:  %s\nid:       %s\nowner:    %s\ncreated:  %s\n", f.Name, f.ID, f.Owner, stamp(f.Created))
	if f.Program != nil {
		fmt.Fprintf(w, "program:  sha256:%s (%d bytes)\n", f.Program, f.ProgramSize)
	} else {
		fmt.Fprintln(w, "program:  (none)")
	}
	if f.SealedAt != nil {
		fmt.Fprintf(w, "sealed:   %s\n", stamp(*f.SealedAt))
	} else {
		fmt.Fprintln(w, "sealed:   no")
	}
	fmt.Fprintf(w, "verdict:  %s\n", verdict(f))
	if len(f.Charges) > 0 {
		fmt.Fprintf(w, "charges:  %s\n", chargesText(f.Charges))
	}
	if len(f.Capabilities) > 0 || f.Strict {
		strict := ""
		if f.Strict {
			strict = " (strict)"
		}
		fmt.Fprintf(w, "capabilities: %s%s\n", strings.Join(f.Capabilities, " "), strict)
	}
	if f.Rights != "" {
		fmt.Fprintf(w, "you hold: %s\n", f.Rights)
	}
	if len(f.Components) == 0 {
		fmt.Fprintln(w, "components: (none)")
		return
	}
	fmt.Fprintln(w, "components:")
	tw := table(w)
	for _, comp := range f.Components {
		detail := comp.Label
		if comp.Digest != nil {
			detail = fmt.Sprintf("sha256:%s (%d bytes)", short(comp.Digest), comp.Size)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", comp.Name, comp.Kind, detail)
	}
	tw.Flush()
}
