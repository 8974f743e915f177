package billing

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateKinds(t *testing.T) {
	nine := make([]Kind, MaxKinds+1)
	for i := range nine {
		nine[i] = Kind{Name: "k" + string(rune('a'+i)), Quantum: 1}
	}
	tests := []struct {
		name  string
		kinds []Kind
		ok    bool
	}{
		{"none", nil, true},
		{"two", []Kind{{"pages", 1}, {"cpu-seconds", 10}}, true},
		{"eight", nine[:MaxKinds], true},
		{"nine", nine, false},
		{"empty name", []Kind{{"", 1}}, false},
		{"upper case", []Kind{{"Pages", 1}}, false},
		{"leading digit", []Kind{{"1pages", 1}}, false},
		{"leading dash", []Kind{{"-pages", 1}}, false},
		{"space", []Kind{{"pa ges", 1}}, false},
		{"unicode", []Kind{{"pagé", 1}}, false},
		{"longest", []Kind{{strings.Repeat("a", MaxKindName), 1}}, true},
		{"too long", []Kind{{strings.Repeat("a", MaxKindName+1), 1}}, false},
		{"duplicate", []Kind{{"pages", 1}, {"pages", 2}}, false},
		{"zero quantum", []Kind{{"pages", 0}}, false},
		{"huge quantum", []Kind{{"pages", MaxUnits + 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKinds(tt.kinds)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
}

func TestNewPolicy(t *testing.T) {
	kinds := []Kind{{"pages", 1}, {"cpu-seconds", 10}}
	tests := []struct {
		name   string
		limits Limits
		bounds *Bounds
		ok     bool
	}{
		{"defaults", Limits{Period: time.Minute, Ceilings: map[string]Ceiling{"pages": {10, 100}}}, nil, true},
		{"no ceilings", Limits{Period: time.Minute}, nil, true},
		{"period too short", Limits{Period: time.Millisecond}, nil, false},
		{"period too long", Limits{Period: 48 * time.Hour}, nil, false},
		{"operator min", Limits{Period: time.Second}, &Bounds{MinPeriod: time.Minute}, false},
		{"operator max", Limits{Period: time.Hour}, &Bounds{MaxPeriod: time.Minute}, false},
		{"undeclared kind", Limits{Period: time.Minute, Ceilings: map[string]Ceiling{"disk": {1, 1}}}, nil, false},
		{"huge ceiling", Limits{Period: time.Minute, Ceilings: map[string]Ceiling{"pages": {MaxUnits + 1, 1}}}, nil, false},
		{"capacity over operator cap", Limits{Period: time.Second, Ceilings: map[string]Ceiling{"pages": {1023, 1 << 20}}},
			&Bounds{MaxBitsPerSecond: 5}, false},
		{"capacity under operator cap", Limits{Period: time.Second, Ceilings: map[string]Ceiling{"pages": {15, 1 << 20}}},
			&Bounds{MaxBitsPerSecond: 5}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPolicy(kinds, tt.limits, tt.bounds)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
}

func TestPolicyKeepsCopies(t *testing.T) {
	kinds := []Kind{{"pages", 1}}
	ceilings := map[string]Ceiling{"pages": {5, 5}}
	p, err := NewPolicy(kinds, Limits{Period: time.Second, Ceilings: ceilings}, nil)
	require.NoError(t, err)
	kinds[0].Name = "other"
	ceilings["pages"] = Ceiling{1000, 1000}
	assert.Equal(t, "pages", p.Kinds()[0].Name)
	assert.Equal(t, Ceiling{5, 5}, p.Ceiling("pages"))
	assert.Equal(t, Ceiling{}, p.Ceiling("other"))
}

func TestCapacity(t *testing.T) {
	kinds := []Kind{{"pages", 1}, {"cpu-seconds", 10}, {"disk", 4}, {"unused", 1}}
	p, err := NewPolicy(kinds, Limits{Period: 2 * time.Second, Ceilings: map[string]Ceiling{
		"pages":       {PerPeriod: 7, Total: 1000},  // 8 values: 3 bits
		"cpu-seconds": {PerPeriod: 25, Total: 1000}, // ceil(25/10)+1 = 4 values: 2 bits
		"disk":        {PerPeriod: 1000, Total: 12}, // total is smaller: ceil(12/4)+1 = 4 values: 2 bits
	}}, nil)
	require.NoError(t, err)
	c := p.Capacity()
	assert.Equal(t, 2*time.Second, c.Period)
	require.Len(t, c.Kinds, 4)
	want := []struct {
		values uint64
		bits   float64
	}{{8, 3}, {4, 2}, {4, 2}, {1, 0}}
	for i, w := range want {
		assert.Equal(t, w.values, c.Kinds[i].Values, "kind %s", c.Kinds[i].Kind)
		assert.InDelta(t, w.bits, c.Kinds[i].BitsPerPeriod, 1e-12, "kind %s", c.Kinds[i].Kind)
		assert.InDelta(t, w.bits/2, c.Kinds[i].BitsPerSecond, 1e-12, "kind %s", c.Kinds[i].Kind)
	}
	assert.InDelta(t, 7.0, c.BitsPerPeriod, 1e-12)
	assert.InDelta(t, 3.5, c.BitsPerSecond, 1e-12)
	assert.Equal(t, "audited", c.Class())
}

func TestCapacityExtremes(t *testing.T) {
	p, err := NewPolicy([]Kind{{"a", 1}}, Limits{Period: time.Second,
		Ceilings: map[string]Ceiling{"a": {MaxUnits, MaxUnits}}}, nil)
	require.NoError(t, err)
	c := p.Capacity()
	assert.Equal(t, MaxUnits+1, c.Kinds[0].Values)
	assert.InDelta(t, 62, c.BitsPerPeriod, 1e-9)
	assert.Equal(t, "acceptable", Capacity{BitsPerSecond: 0.05}.Class())
	assert.Equal(t, "high", Capacity{BitsPerSecond: 101}.Class())

	none, err := NewPolicy(nil, Limits{Period: time.Hour}, nil)
	require.NoError(t, err)
	assert.Zero(t, none.Capacity().BitsPerSecond)
	assert.False(t, math.IsNaN(none.Capacity().BitsPerSecond))
}
