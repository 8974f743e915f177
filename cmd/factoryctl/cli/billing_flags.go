package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/factoryd/factoryd/billing"
)

// billingFlags are the flags with which a requestor grants an instance what it may charge.
type billingFlags struct {
	period   time.Duration
	ceilings keyValues
}

func (b *billingFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&b.period, "period", 0, "billing period: charges are coalesced and recorded once per period (default: the daemon's)")
	fs.Var(&b.ceilings, "ceiling", "allow charging KIND=PER[/TOTAL]: at most PER units per period and TOTAL in all (repeatable; "+
		"without any, the instance can charge nothing)")
}

// limits returns what the flags grant; nil when they grant nothing.
func (b *billingFlags) limits() (*billing.Limits, error) {
	if len(b.ceilings) == 0 {
		if b.period != 0 {
			return nil, usageErr("--period without --ceiling grants nothing")
		}
		return nil, nil
	}
	lim := &billing.Limits{Period: b.period, Ceilings: map[string]billing.Ceiling{}}
	for _, kv := range b.ceilings {
		c, err := parseCeiling(kv.value)
		if err != nil {
			return nil, usageErr("--ceiling %s=%s: %v", kv.key, kv.value, err)
		}
		if _, dup := lim.Ceilings[kv.key]; dup {
			return nil, usageErr("--ceiling %s given twice", kv.key)
		}
		lim.Ceilings[kv.key] = c
	}
	return lim, nil
}

// parseCeiling reads PER or PER/TOTAL; without TOTAL the total is unbounded.
func parseCeiling(s string) (billing.Ceiling, error) {
	per, total, hasTotal := strings.Cut(s, "/")
	var c billing.Ceiling
	var err error
	if c.PerPeriod, err = strconv.ParseUint(per, 10, 64); err != nil {
		return c, fmt.Errorf("want PER or PER/TOTAL, whole numbers of units")
	}
	c.Total = billing.MaxUnits
	if hasTotal {
		if c.Total, err = strconv.ParseUint(total, 10, 64); err != nil {
			return c, fmt.Errorf("want PER or PER/TOTAL, whole numbers of units")
		}
	}
	return c, nil
}

// parseCharges reads --charge KIND=QUANTUM declarations.
func parseCharges(kvs keyValues) ([]billing.Kind, error) {
	kinds := make([]billing.Kind, 0, len(kvs))
	for _, kv := range kvs {
		q, err := strconv.ParseUint(kv.value, 10, 64)
		if err != nil || q == 0 {
			return nil, usageErr("--charge %s=%s: want a quantum of at least 1 unit", kv.key, kv.value)
		}
		kinds = append(kinds, billing.Kind{Name: kv.key, Quantum: q})
	}
	return kinds, nil
}

func chargesText(kinds []billing.Kind) string {
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s (quantum %d)", k.Name, k.Quantum)
	}
	return strings.Join(parts, ", ")
}
