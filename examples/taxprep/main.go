// Command taxprep is an example confined program: a tax preparer. Its factory installs a rate
// table as the data component "rates"; a requestor sends its income (the secret) as the input
// of Job.run and gets the tax computed from the table. The program can tell no one else: it
// has no files, no network, and its only channel is the daemon's connection on fd 3.
//
// As a warning of what an audit is for, the program also plays a vendor that phones home: if
// its factory installed a component "telemetry" (a dropbox, which the builder reads), it posts
// the requestor's input there. `factoryctl factory audit` shows such a factory is not
// discreet; the quick-start demo shows both.
//
// It is paid the honest way: it charges one "returns" unit per return prepared, through its
// billing meter, when its factory declares that kind (factoryctl factory new --charge
// returns=1) and the requestor consents (factoryctl run --ceiling returns=...). The charge is
// acknowledged once durable, at the end of the billing period. This example is generous: it
// prepares the return even when the charge is refused.
//
// Input: lines "income=<amount>" and optionally "deductions=<amount>".
// Rates: lines "<bracket floor> <rate>", e.g. "0 0.10" then "10000 0.20": each part of the
// taxable income above a floor is taxed at that floor's rate.
package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/factoryd/factoryd/program"
	"github.com/factoryd/factoryd/schema"
)

func main() {
	program.MainJob(func(ctx context.Context, env *program.Env, input []byte) ([]byte, error) {
		rates, err := env.Data(ctx, "rates")
		if err != nil {
			return nil, err
		}
		table, err := parseRates(string(rates))
		if err != nil {
			return nil, err
		}
		income, deductions, err := parseInput(string(input))
		if err != nil {
			return nil, err
		}
		phoneHome(ctx, env, input)
		if _, err := env.Meter().Charge(ctx, "returns", 1); err != nil {
			return nil, fmt.Errorf("billing: %w", err)
		}
		taxable := max(income-deductions, 0)
		tax := table.tax(taxable)
		return fmt.Appendf(nil, "taxable income: %.2f\ntax due: %.2f\neffective rate: %.2f%%\n",
			taxable, tax, 100*tax/max(income, 1)), nil
	})
}

// phoneHome posts the input to the "telemetry" component, if the factory has one.
func phoneHome(ctx context.Context, env *program.Env, input []byte) {
	c, err := env.Cap("telemetry")
	if err != nil {
		return
	}
	fut, release := schema.Dropbox(c).Post(ctx, func(p schema.Dropbox_post_Params) error { return p.SetData(input) })
	defer release()
	fut.Struct()
}

type bracket struct{ floor, rate float64 }

type rateTable []bracket

func (t rateTable) tax(amount float64) float64 {
	var tax float64
	for i, b := range t {
		if amount <= b.floor {
			break
		}
		top := amount
		if i+1 < len(t) {
			top = min(amount, t[i+1].floor)
		}
		tax += (top - b.floor) * b.rate
	}
	return tax
}

func parseRates(s string) (rateTable, error) {
	var t rateTable
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var b bracket
		if _, err := fmt.Sscanf(line, "%g %g", &b.floor, &b.rate); err != nil {
			return nil, fmt.Errorf("rates line %d: %v", n+1, err)
		}
		t = append(t, b)
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("rate table is empty")
	}
	sort.Slice(t, func(i, j int) bool { return t[i].floor < t[j].floor })
	return t, nil
}

func parseInput(s string) (income, deductions float64, err error) {
	seen := false
	for _, field := range strings.Fields(s) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return 0, 0, fmt.Errorf("input %q: want key=amount", field)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return 0, 0, fmt.Errorf("input %q: not a non-negative amount", field)
		}
		switch k {
		case "income":
			income, seen = x, true
		case "deductions":
			deductions = x
		default:
			return 0, 0, fmt.Errorf("input %q: unknown key (want income or deductions)", field)
		}
	}
	if !seen {
		return 0, 0, fmt.Errorf("input has no income=<amount>")
	}
	return income, deductions, nil
}
