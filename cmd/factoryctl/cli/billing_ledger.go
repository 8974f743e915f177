package cli

import (
	"context"
	"fmt"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "billing ledger",
		args:    "[--factory NAME | --instance ID] [--json]",
		summary: "list billing ledger entries: your factories' bills (as payee) and your instances' charges (as payer)",
		run:     billingLedger,
	})
}

func billingLedger(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	factory := fs.String("factory", "", "only this factory's entries (a destroyed factory's name or id works too)")
	instance := fs.String("instance", "", "only this instance's entries")
	asJSON := fs.Bool("json", false, "print JSON, hashes included")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *factory != "" && *instance != "" {
		return usageErr("billing ledger: --factory and --instance exclude each other")
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	entries, err := c.LedgerAll(ctx, client.LedgerQuery{Factory: *factory, Instance: *instance})
	if err != nil {
		return err
	}
	if *asJSON {
		if entries == nil {
			entries = []client.LedgerEntry{}
		}
		return writeJSON(e.Stdout, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(e.Stdout, "no entries you may see")
		return nil
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "FACTORY\tSEQ\tPERIOD END\tINSTANCE\tPAYER\tKIND\tUNITS\tHASH")
	totals := map[string]uint64{}
	var order []string
	for _, en := range entries {
		name := en.Factory
		if name == "" {
			name = en.FactoryID[:12]
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", name, en.Seq, stamp(en.PeriodEnd), en.Instance, en.Payer,
			en.Kind, en.Units, en.Hash[:12])
		key := name + "\t" + en.Kind
		if _, ok := totals[key]; !ok {
			order = append(order, key)
		}
		totals[key] += en.Units
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, "\ntotals:")
	tw = table(e.Stdout)
	for _, key := range order {
		fmt.Fprintf(tw, "  %s\t%d\n", key, totals[key])
	}
	return tw.Flush()
}
