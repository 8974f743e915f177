package audit

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/store"
)

// graph is an in-memory set of factory records for Build.
type graph map[store.FactoryID]*store.Factory

func (g graph) lookup(id store.FactoryID) (*store.Factory, error) {
	f, ok := g[id]
	if !ok {
		return nil, errors.New("no such factory")
	}
	return f, nil
}

func (g graph) add(name string, sealed bool, comps ...store.Component) *store.Factory {
	f := &store.Factory{ID: store.NewFactoryID(), Name: name, Sealed: sealed, Components: comps}
	for _, c := range comps {
		switch c.Kind {
		case store.KindHole:
			f.Holes = append(f.Holes, c.HoleID)
		case store.KindFactory:
			if s, ok := g[*c.FactoryID]; ok {
				f.Holes = append(f.Holes, s.Holes...)
			}
		}
	}
	f.Discreet = len(f.Holes) == 0
	g[f.ID] = f
	return f
}

func sub(name string, f *store.Factory) store.Component {
	id := f.ID
	return store.Component{Name: name, Kind: store.KindFactory, FactoryID: &id}
}

func hole(name, id string) store.Component {
	return store.Component{Name: name, Kind: store.KindHole, HoleID: id, Label: "label " + name, Why: "test hole"}
}

func TestBuildSharesAndExplains(t *testing.T) {
	g := graph{}
	leaf := g.add("leaf", true, hole("net", "foreign:1"))
	clean := g.add("clean", true, store.Component{Name: "d", Kind: store.KindData, Digest: store.Digest{1}, Size: 3})
	mid := g.add("mid", true, sub("a", leaf), sub("b", leaf), sub("c", clean))
	root := g.add("root", true, sub("m", mid), sub("l", leaf), hole("box", "dropbox:x"),
		store.Component{Name: "view", Kind: store.KindSensory, Sensory: "tree", Digest: store.Digest{2}})

	r, err := Build(root, g.lookup)
	require.NoError(t, err)
	assert.Len(t, r.Factories, 4, "a factory reached three times is described once")
	assert.Equal(t, "root", r.Factories[r.Root].Name)
	assert.False(t, r.Discreet)
	var ids []string
	for _, h := range r.Holes {
		ids = append(ids, h.ID)
	}
	assert.Equal(t, []string{"dropbox:x", "foreign:1"}, ids, "the union, each hole once")

	for _, f := range r.Factories {
		for _, c := range f.Components {
			assert.NotEmpty(t, c.Reason, "%s/%s says why", f.Name, c.Name)
			assert.Equal(t, c.Kind == store.KindHole, c.Hole)
			if c.Kind == store.KindFactory {
				assert.GreaterOrEqual(t, c.Factory, 0)
				assert.Equal(t, *findComp(f.Name, g, c.Name).FactoryID, mustID(t, r.Factories[c.Factory].ID))
			}
		}
	}
}

func findComp(factory string, g graph, name string) store.Component {
	for _, f := range g {
		if f.Name == factory {
			c, _ := f.Component(name)
			return c
		}
	}
	return store.Component{}
}

func mustID(t *testing.T, s string) store.FactoryID {
	var id store.FactoryID
	require.NoError(t, id.UnmarshalText([]byte(s)))
	return id
}

func TestBuildHandlesCycles(t *testing.T) {
	// Sealing makes cycles impossible in the daemon; the walk must still terminate on any graph.
	g := graph{}
	a := &store.Factory{ID: store.NewFactoryID(), Name: "a", Sealed: true}
	b := &store.Factory{ID: store.NewFactoryID(), Name: "b", Sealed: true}
	a.Components = []store.Component{sub("b", b), hole("h", "foreign:a")}
	b.Components = []store.Component{sub("a", a)}
	a.Holes = []string{"foreign:a"}
	g[a.ID], g[b.ID] = a, b
	r, err := Build(a, g.lookup)
	require.NoError(t, err)
	assert.Len(t, r.Factories, 2)
	assert.Len(t, r.Holes, 1)
}

func TestBuildMissingFactory(t *testing.T) {
	g := graph{}
	gone := &store.Factory{ID: store.NewFactoryID(), Name: "gone", Sealed: true}
	root := g.add("root", false, sub("x", gone))
	_, err := Build(root, g.lookup)
	assert.ErrorContains(t, err, `component "x" of "root"`, "holes that cannot be proved absent are an error")
}

func TestBuildUnsealedDraft(t *testing.T) {
	g := graph{}
	draft := g.add("draft", false, hole("h", "foreign:9"))
	draft.Holes, draft.Discreet = nil, false
	r, err := Build(draft, g.lookup)
	require.NoError(t, err)
	assert.False(t, r.Sealed)
	assert.False(t, r.Discreet, "a draft's holes are found by walking it")
	require.Len(t, r.Holes, 1)
}

func randomHoles(rng *rand.Rand) []string {
	var out []string
	for i := range 6 {
		if rng.IntN(2) == 0 {
			out = append(out, fmt.Sprintf("h%d", i))
		}
	}
	return out
}

func TestCompareIsAPreorder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b, c := randomHoles(rng), randomHoles(rng), randomHoles(rng)
		assert.Equal(t, Subset, Compare(a, a), "reflexive")
		assert.Equal(t, Subset, Compare(a, nil), "a discreet factory is within every policy")
		if Compare(a, b) == Subset && Compare(b, c) == Subset {
			assert.Equal(t, Subset, Compare(a, c), "transitive: %v %v %v", a, b, c)
		}
		if Compare(a, b) == Subset && Compare(b, a) == Subset {
			assert.ElementsMatch(t, a, b, "antisymmetric on sets")
		}
	}
	assert.Equal(t, ExtraHoles, Compare([]string{"x"}, []string{"x", "y"}))
	assert.Equal(t, "notAFactory", NotAFactory.String())
}

func TestRatingsAndInventory(t *testing.T) {
	tests := []struct {
		bps  float64
		want string
	}{{0, RatingAcceptable}, {0.05, RatingAcceptable}, {0.1, RatingAudit}, {100, RatingAudit},
		{101, RatingHigh}, {math.Inf(1), RatingHigh}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Rate(tt.bps), "%v bit/s", tt.bps)
	}
	for _, holes := range []int{0, 2} {
		inv := Inventory(Bounded("billing", 3.5, "n"), holes)
		assert.Equal(t, "billing", inv[0].Name)
		assert.Equal(t, "3.5 bit/s", inv[0].Bound)
		for _, ch := range inv {
			assert.NotEmpty(t, ch.Bound, "every channel states a bound")
			if ch.Unbounded {
				assert.Equal(t, RatingHigh, ch.Rating, "%s", ch.Name)
			}
			assert.NotEqual(t, "closed", ch.Bound)
		}
	}
}
