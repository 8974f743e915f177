package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name: "factory audit",
		args: "NAME [--json] [--ceiling KIND=PER[/TOTAL]]... [--period DURATION]",
		summary: "prove what an instance could leak: every component, why it is or is not a hole, covert channels " +
			"(with --ceiling: the billing channel an instance would have)",
		run: factoryAudit,
	})
}

func factoryAudit(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	asJSON := fs.Bool("json", false, "print JSON")
	var bill billingFlags
	bill.register(fs)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	grant, err := bill.limits()
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rep, err := auditReport(ctx, c, pos[0])
	if err != nil {
		return err
	}
	var capa *client.Capacity
	if grant != nil {
		if capa, err = capacity(ctx, c, pos[0], grant); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(e.Stdout, struct {
			*client.Report
			Billing *client.Capacity `json:"billing,omitempty"`
		}{rep, capa})
	}
	printReport(e.Stdout, rep)
	if capa != nil {
		fmt.Fprintln(e.Stdout)
		printCapacity(e.Stdout, "billing channel of an instance with these ceilings:", capa)
	}
	return nil
}

func capacity(ctx context.Context, c *client.Client, name string, grant *billing.Limits) (*client.Capacity, error) {
	r, err := c.Requestor(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	return r.Capacity(ctx, grant)
}

// printCapacity states a billing channel's capacity, with its breakdown by kind.
func printCapacity(w io.Writer, title string, c *client.Capacity) {
	fmt.Fprintf(w, "%s %.3g bit/s (%s), %.3g bits per %v period\n", title, c.BitsPerSecond, c.Rating, c.BitsPerPeriod, c.Period)
	tw := table(w)
	for _, k := range c.Kinds {
		fmt.Fprintf(tw, "  %s\tquantum %d\tceiling %d per period\t%d values\t%.3g bit/s\n", k.Kind, k.Quantum, k.Ceiling,
			k.Values, k.BitsPerSecond)
	}
	tw.Flush()
}

// auditReport audits a sealed factory through its requestor facet, or, for an unsealed one,
// through its builder facet (its owner's draft).
func auditReport(ctx context.Context, c *client.Client, name string) (*client.Report, error) {
	r, err := c.Requestor(ctx, name)
	if err == nil {
		defer r.Release()
		return r.Holes(ctx)
	}
	b, berr := c.Builder(ctx, name)
	if berr != nil {
		return nil, err
	}
	defer b.Release()
	return b.Holes(ctx)
}

func printReport(w io.Writer, rep *client.Report) {
	root := rep.Factories[rep.Root]
	fmt.Fprintf(w, "factory %s (%s)\n", root.Name, reportState(rep))
	printComponents(w, rep, rep.Root, "", map[int]bool{rep.Root: true})
	if len(root.Charges) > 0 {
		fmt.Fprintf(w, "\ncharges its instances may make (the billing channel to its builder): %s\n", chargesText(root.Charges))
	}
	if len(root.Syscalls) > 0 {
		fmt.Fprintf(w, "\nsyscalls declared beyond the default allowlist (more kernel surface): %s\n",
			strings.Join(root.Syscalls, " "))
	}
	if c := root.Confinement; c != nil {
		printConfinement(w, c)
	}
	fmt.Fprintf(w, "\nholes (%d):\n", len(rep.Holes))
	if len(rep.Holes) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, h := range rep.Holes {
		fmt.Fprintf(w, "  %s/%s  %q\n    %s\n    id %s\n", h.Factory, h.Component, h.Label, h.Reason, h.ID)
	}
	fmt.Fprintln(w, "\ncovert channels (confinement reduces these; it cannot close them):")
	tw := table(w)
	for _, ch := range rep.Covert {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", ch.Name, ch.Bound, ch.Rating)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nverdict: %s\n", reportVerdict(rep))
}

func reportState(rep *client.Report) string {
	if !rep.Sealed {
		return "unsealed draft: this may still change"
	}
	return "sealed"
}

func reportVerdict(rep *client.Report) string {
	if rep.Discreet {
		return "DISCREET — an instance can pass what it learns to no one but its requestor " +
			"(beyond the covert channels above)"
	}
	return fmt.Sprintf("NOT DISCREET — %d hole(s): an instance can pass anything it learns through them", len(rep.Holes))
}

// printComponents draws factory i's components as a tree; a nested factory already drawn is
// named, not drawn again.
func printComponents(w io.Writer, rep *client.Report, i int, indent string, drawn map[int]bool) {
	comps := rep.Factories[i].Components
	for n, c := range comps {
		branch, next := "├─ ", "│  "
		if n == len(comps)-1 {
			branch, next = "└─ ", "   "
		}
		verdict := "not a hole"
		if c.Hole {
			verdict = "HOLE"
		}
		fmt.Fprintf(w, "%s%s%s  %s  %s: %s%s\n", indent, branch, c.Name, c.Kind, verdict, c.Reason, labelOf(c))
		if c.Factory >= 0 {
			printNested(w, rep, c.Factory, indent+next, drawn)
		}
	}
}

func printNested(w io.Writer, rep *client.Report, i int, indent string, drawn map[int]bool) {
	f := rep.Factories[i]
	if drawn[i] {
		fmt.Fprintf(w, "%s└─ (factory %s, shown above)\n", indent, f.Name)
		return
	}
	drawn[i] = true
	if len(f.Components) == 0 {
		fmt.Fprintf(w, "%s└─ factory %s: no components\n", indent, f.Name)
		return
	}
	fmt.Fprintf(w, "%s└─ factory %s:\n", indent, f.Name)
	printComponents(w, rep, i, indent+"   ", drawn)
}

func labelOf(c client.AuditComponent) string {
	if c.Label == "" || c.Kind == "factory" {
		return ""
	}
	return fmt.Sprintf(" [%s]", strings.TrimSpace(c.Label))
}

// printConfinement shows what a yield handed a directory could open by name.
func printConfinement(w io.Writer, c *client.Confinement) {
	if len(c.Capabilities) == 0 && len(c.Reach) == 0 {
		fmt.Fprintln(w, "\nnames: a yield handed a directory can open nothing (no descriptor grants its confinement SID)")
		return
	}
	mode := "not strict: also what grants all application packages"
	if c.Strict {
		mode = "strict"
	}
	fmt.Fprintf(w, "\nnames a yield handed a directory can open (confinement SID %s, %s):\n", c.SID, mode)
	for _, dc := range c.Capabilities {
		verdict := "not a hole"
		if dc.Hole {
			verdict = "HOLE"
		}
		fmt.Fprintf(w, "  capability %s: %s — %s\n", dc.Name, verdict, dc.Reason)
	}
	if len(c.Reach) == 0 {
		fmt.Fprintln(w, "  nothing: no descriptor grants its confinement SID or capabilities any right")
		return
	}
	tw := table(w)
	for _, r := range c.Reach {
		state := "read-only"
		if r.Mutable {
			state = "MUTABLE"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\tvia %s\t%s: %s\n", r.Kind, r.Name, r.Rights, strings.Join(r.Via, ", "), state, r.Reason)
	}
	tw.Flush()
}
