package billing

import (
	"fmt"
	"time"
)

// Limits of the declarations, fixed so that the channel stays small and its numbers never
// overflow.
const (
	// MaxKinds is the most charge kinds a factory may declare.
	MaxKinds = 8
	// MaxKindName is the longest kind name, in bytes.
	MaxKindName = 32
	// MaxUnits bounds every quantum and ceiling, so that sums of two never overflow a uint64.
	MaxUnits = uint64(1) << 62
)

// Kind is one charge kind a factory declares: what a yield may charge for.
type Kind struct {
	// Name: 1 to MaxKindName bytes of a–z, 0–9 and '-', starting with a letter, e.g. "pages".
	Name string `json:"name"`
	// Quantum: every charge is rounded up to a multiple of it; 1 to MaxUnits.
	Quantum uint64 `json:"quantum"`
}

// Ceiling is what a requestor allows a yield to charge of one kind.
type Ceiling struct {
	// PerPeriod bounds the units recorded for one period. 0 disables the kind.
	PerPeriod uint64 `json:"per_period"`
	// Total bounds the units recorded over the instance's life.
	Total uint64 `json:"total"`
}

// Limits is what a requestor sets for one instance at create time.
type Limits struct {
	// Period is the coalescing period: at most one entry per kind is recorded per period.
	Period time.Duration `json:"period"`
	// Ceilings by kind name. A declared kind without a ceiling cannot be charged. Naming an
	// undeclared kind is an error.
	Ceilings map[string]Ceiling `json:"ceilings"`
}

// Bounds is what the operator allows requestors to choose. A nil *Bounds means defaults.
type Bounds struct {
	// MinPeriod and MaxPeriod bound Limits.Period. Defaults: 1s and 24h.
	MinPeriod time.Duration
	MaxPeriod time.Duration
	// MaxBitsPerSecond, if positive, refuses limits whose channel capacity exceeds it.
	MaxBitsPerSecond float64
}

// Default period bounds.
const (
	DefaultMinPeriod = time.Second
	DefaultMaxPeriod = 24 * time.Hour
)

func (b *Bounds) withDefaults() Bounds {
	o := Bounds{MinPeriod: DefaultMinPeriod, MaxPeriod: DefaultMaxPeriod}
	if b == nil {
		return o
	}
	if b.MinPeriod > 0 {
		o.MinPeriod = b.MinPeriod
	}
	if b.MaxPeriod > 0 {
		o.MaxPeriod = b.MaxPeriod
	}
	o.MaxBitsPerSecond = b.MaxBitsPerSecond
	return o
}

// ValidateKindName reports whether name may name a charge kind.
func ValidateKindName(name string) error {
	if name == "" || len(name) > MaxKindName {
		return fmt.Errorf("%w: kind name %q must have 1 to %d bytes", ErrInvalid, name, MaxKindName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-')) {
			return fmt.Errorf("%w: kind name %q: a-z, 0-9 and '-' only, starting with a letter", ErrInvalid, name)
		}
	}
	return nil
}

// ValidateKinds checks a factory's declaration: at most MaxKinds kinds, valid and distinct
// names, quanta in 1..MaxUnits. A factory may declare no kind (it charges nothing).
func ValidateKinds(kinds []Kind) error {
	if len(kinds) > MaxKinds {
		return fmt.Errorf("%w: %d kinds, at most %d", ErrInvalid, len(kinds), MaxKinds)
	}
	seen := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		if err := ValidateKindName(k.Name); err != nil {
			return err
		}
		if seen[k.Name] {
			return fmt.Errorf("%w: kind %q declared twice", ErrInvalid, k.Name)
		}
		seen[k.Name] = true
		if k.Quantum == 0 || k.Quantum > MaxUnits {
			return fmt.Errorf("%w: kind %q: quantum %d not in 1..%d", ErrInvalid, k.Name, k.Quantum, MaxUnits)
		}
	}
	return nil
}

// Policy is a validated combination of a factory's kinds, a requestor's limits and the
// operator's bounds. It is immutable and safe for concurrent use.
type Policy struct {
	period   time.Duration
	kinds    []Kind
	ceilings []Ceiling // by kind index; zero for a kind without a ceiling
}

// NewPolicy checks kinds, limits and bounds together. A nil bounds means defaults. The policy
// keeps copies: later changes to the arguments do not affect it.
func NewPolicy(kinds []Kind, limits Limits, bounds *Bounds) (*Policy, error) {
	b := bounds.withDefaults()
	if err := ValidateKinds(kinds); err != nil {
		return nil, err
	}
	if limits.Period < b.MinPeriod || limits.Period > b.MaxPeriod {
		return nil, fmt.Errorf("%w: period %v not in %v..%v", ErrInvalid, limits.Period, b.MinPeriod, b.MaxPeriod)
	}
	p := &Policy{period: limits.Period, kinds: append([]Kind(nil), kinds...), ceilings: make([]Ceiling, len(kinds))}
	for name, c := range limits.Ceilings {
		i := p.index(name)
		if i < 0 {
			return nil, fmt.Errorf("%w: ceiling for undeclared kind %q", ErrInvalid, name)
		}
		if c.PerPeriod > MaxUnits || c.Total > MaxUnits {
			return nil, fmt.Errorf("%w: kind %q: ceilings above %d", ErrInvalid, name, MaxUnits)
		}
		p.ceilings[i] = c
	}
	if capa := p.Capacity(); b.MaxBitsPerSecond > 0 && capa.BitsPerSecond > b.MaxBitsPerSecond {
		return nil, fmt.Errorf("%w: capacity %.3g bit/s above the operator's %.3g bit/s", ErrInvalid,
			capa.BitsPerSecond, b.MaxBitsPerSecond)
	}
	return p, nil
}

// Period returns the coalescing period.
func (p *Policy) Period() time.Duration { return p.period }

// Kinds returns a copy of the declared kinds, in declaration order.
func (p *Policy) Kinds() []Kind { return append([]Kind(nil), p.kinds...) }

// Ceiling returns the requestor's ceiling for a kind (zero if none or undeclared).
func (p *Policy) Ceiling(kind string) Ceiling {
	if i := p.index(kind); i >= 0 {
		return p.ceilings[i]
	}
	return Ceiling{}
}

// index returns the position of a declared kind, or -1. A linear scan: there are at most
// MaxKinds.
func (p *Policy) index(kind string) int {
	for i, k := range p.kinds {
		if k.Name == kind {
			return i
		}
	}
	return -1
}

// effective returns the most units of kind i one period can record: the per-period ceiling,
// or the total ceiling if smaller.
func (p *Policy) effective(i int) uint64 {
	return min(p.ceilings[i].PerPeriod, p.ceilings[i].Total)
}
