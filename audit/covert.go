package audit

import (
	"fmt"
	"math"
	"strings"

	"github.com/factoryd/factoryd/billing"
)

// Channel is one covert channel: a way a yield could signal that confinement cannot close.
// Bounds are stated, never claimed zero where they are not.
type Channel struct {
	Name          string  `json:"name"`
	Bound         string  `json:"bound"`
	BitsPerSecond float64 `json:"bits_per_second,omitempty"`
	Unbounded     bool    `json:"unbounded"`
	Rating        string  `json:"rating"`
	Note          string  `json:"note"`
}

// TCSEC's guideline for covert channel bandwidth.
const (
	RatingAcceptable = "acceptable" // below 0.1 bit/s
	RatingAudit      = "audit"      // 0.1 to 100 bit/s: tolerable only if audited
	RatingHigh       = "high"       // above 100 bit/s, or unbounded
)

// Rate rates a bandwidth by the TCSEC guideline.
func Rate(bitsPerSecond float64) string {
	switch {
	case math.IsInf(bitsPerSecond, 1) || bitsPerSecond > 100:
		return RatingHigh
	case bitsPerSecond >= 0.1:
		return RatingAudit
	}
	return RatingAcceptable
}

// Bounded describes a channel with a computed capacity.
func Bounded(name string, bitsPerSecond float64, note string) Channel {
	return Channel{Name: name, Bound: fmt.Sprintf("%.3g bit/s", bitsPerSecond), BitsPerSecond: bitsPerSecond,
		Rating: Rate(bitsPerSecond), Note: note}
}

// Unbounded describes a channel whose capacity this daemon cannot bound.
func Unbounded(name, note string) Channel {
	return Channel{Name: name, Bound: "unbounded", Unbounded: true, Rating: RatingHigh, Note: note}
}

// Inventory lists the covert channels of an instance of a factory with the given billing
// channel (its stated capacity) and the given number of holes.
func Inventory(billing Channel, holes int) []Channel {
	out := []Channel{
		billing,
		Unbounded("CPU contention",
			"a yield can vary its CPU load so that a process elsewhere on this machine measures it; "+
				"reduced by the instance's CPU quota, not closed on a shared kernel"),
		Unbounded("memory and cache pressure",
			"a yield can vary its memory and cache use so that a process elsewhere notices; "+
				"reduced by the instance's memory limit, not closed"),
	}
	if holes > 0 {
		out = append(out, Unbounded("reply timing over holes",
			"anything a hole reaches can also observe when the yield calls it"))
	} else {
		out = append(out, Channel{Name: "reply timing", Bound: "0 bit/s to the builder", Rating: RatingAcceptable,
			Note: "replies go only to the requestor; with no holes, the builder observes no operation whose timing the yield controls"})
	}
	return append(out, Channel{Name: "exit status, stderr and lifetime", Bound: "0 bit/s to the builder",
		Rating: RatingAcceptable,
		Note:   "reported to the requestor only; never logged where the builder can read it"})
}

// FactoryBilling is the billing channel of a factory's instances before any requestor has set
// ceilings: bound is the most any instance can get under the operator's bounds (the capacity
// of each instance follows from its requestor's ceilings and is at most that).
func FactoryBilling(kinds []billing.Kind, bound billing.Capacity) Channel {
	if len(kinds) == 0 {
		return NoBilling()
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = fmt.Sprintf("%s (quantum %d)", k.Name, k.Quantum)
	}
	c := Bounded("billing", bound.BitsPerSecond, fmt.Sprintf("instances may charge %s; each instance's capacity "+
		"follows from the ceilings and period its requestor sets at create (ask before creating: "+
		"factoryctl factory audit NAME --ceiling KIND=PER/TOTAL); this is the most the operator allows", strings.Join(names, ", ")))
	c.Bound = "at most " + c.Bound
	return c
}

// InstanceBilling is the billing channel of one instance, whose policy is fixed.
func InstanceBilling(c billing.Capacity) Channel {
	if c.BitsPerSecond == 0 {
		return Channel{Name: "billing", Bound: "0 bit/s", Rating: RatingAcceptable,
			Note: "no ceilings were granted: the instance cannot charge"}
	}
	return Bounded("billing", c.BitsPerSecond, fmt.Sprintf("%.3g bits per %v period, by the requestor's ceilings",
		c.BitsPerPeriod, c.Period))
}

// NoBilling is the billing channel of a factory that declares no charge kinds.
func NoBilling() Channel {
	return Channel{Name: "billing", Bound: "0 bit/s", Rating: RatingAcceptable,
		Note: "the factory declares no charge kinds: its instances cannot charge"}
}
