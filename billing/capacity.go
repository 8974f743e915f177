package billing

import (
	"math"
	"time"
)

// Capacity is the most information a yield can pass to its builder through the billing
// channel, as it follows from a Policy (see the package comment for the formula).
type Capacity struct {
	Period        time.Duration  `json:"period"`
	BitsPerPeriod float64        `json:"bits_per_period"`
	BitsPerSecond float64        `json:"bits_per_second"`
	Kinds         []KindCapacity `json:"kinds"`
}

// KindCapacity is one kind's share of the channel.
type KindCapacity struct {
	Kind    string `json:"kind"`
	Quantum uint64 `json:"quantum"`
	// Ceiling is the effective per-period ceiling: min(per period, total).
	Ceiling uint64 `json:"ceiling"`
	// Values is the number of distinguishable recorded values per period: ceil(Ceiling/Quantum)+1.
	Values        uint64  `json:"values"`
	BitsPerPeriod float64 `json:"bits_per_period"`
	BitsPerSecond float64 `json:"bits_per_second"`
}

// TCSEC's guideline for covert channels, in bits per second.
const (
	// HighBandwidth: above this a channel is high bandwidth.
	HighBandwidth = 100.0
	// AuditThreshold: at or above this (and up to HighBandwidth) a channel is tolerable only if
	// audited; below it, acceptable.
	AuditThreshold = 0.1
)

// Capacity returns the channel capacity of the policy, with a breakdown per declared kind.
func (p *Policy) Capacity() Capacity {
	c := Capacity{Period: p.period}
	secs := p.period.Seconds()
	for i, k := range p.kinds {
		ceil := p.effective(i)
		values := ceilDiv(ceil, k.Quantum) + 1 // ≤ MaxUnits+1: no overflow
		bits := math.Log2(float64(values))
		c.Kinds = append(c.Kinds, KindCapacity{Kind: k.Name, Quantum: k.Quantum, Ceiling: ceil, Values: values,
			BitsPerPeriod: bits, BitsPerSecond: bits / secs})
		c.BitsPerPeriod += bits
	}
	c.BitsPerSecond = c.BitsPerPeriod / secs
	return c
}

// Class returns TCSEC's verdict for the capacity: "high" (> 100 bit/s), "audited"
// (0.1–100 bit/s: tolerable only if audited) or "acceptable" (< 0.1 bit/s).
func (c Capacity) Class() string {
	switch {
	case c.BitsPerSecond > HighBandwidth:
		return "high"
	case c.BitsPerSecond >= AuditThreshold:
		return "audited"
	}
	return "acceptable"
}

// ceilDiv returns ceil(a/b) for b > 0 without overflow.
func ceilDiv(a, b uint64) uint64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
