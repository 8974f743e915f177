package bench

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of duration samples in one unit.
type Summary struct {
	N    int     `json:"n"`
	Unit string  `json:"unit"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// units maps a Summary unit to its duration.
var units = map[string]time.Duration{"ms": time.Millisecond, "us": time.Microsecond}

// summarize describes samples in unit ("ms" or "us"). It sorts samples in place.
func summarize(samples []time.Duration, unit string) Summary {
	s := Summary{N: len(samples), Unit: unit}
	if len(samples) == 0 {
		return s
	}
	slices.Sort(samples)
	in := func(d time.Duration) float64 { return round3(float64(d) / float64(units[unit])) }
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	s.P50, s.P99 = in(percentile(samples, 0.50)), in(percentile(samples, 0.99))
	s.Mean = in(sum / time.Duration(len(samples)))
	s.Min, s.Max = in(samples[0]), in(samples[len(samples)-1])
	return s
}

// percentile returns the nearest-rank p-quantile of sorted, which must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ratio returns a/b rounded, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round3(a / b)
}

// round3 keeps three decimals, enough for every figure reported.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
