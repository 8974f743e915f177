package audit

import (
	"fmt"
	"slices"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/store"
)

// Report is the proof of what an instance of a factory could leak through.
type Report struct {
	Root      int       `json:"root"`      // index of the audited factory in Factories
	Factories []Factory `json:"factories"` // the graph: every factory reached, once each
	Holes     []Hole    `json:"holes"`     // the hole set, with where each hole comes from
	Covert    []Channel `json:"covert"`    // what confinement cannot close
	Discreet  bool      `json:"discreet"`  // no holes; frozen at seal
	Sealed    bool      `json:"sealed"`
}

// Factory is one factory of the graph.
type Factory struct {
	Name       string      `json:"name"`
	ID         string      `json:"id"`
	Sealed     bool        `json:"sealed"`
	Discreet   bool        `json:"discreet"`
	Program    string      `json:"program,omitempty"`
	Components []Component `json:"components"`
	Syscalls   []string    `json:"syscalls,omitempty"` // declared beyond the default allowlist
	// Charges are what its instances may charge for: the billing channel's alphabet.
	Charges []billing.Kind `json:"charges,omitempty"`
	// Confinement is what its yields reach by name; set for the audited factory only (a
	// nested factory's yields are created by a yield, with that yield's confined token).
	Confinement *Confinement `json:"confinement,omitempty"`
}

// Component is one component of a factory, with the verdict on it.
type Component struct {
	Name    string              `json:"name"`
	Kind    store.ComponentKind `json:"kind"`
	Hole    bool                `json:"hole"`
	Reason  string              `json:"reason"`
	Label   string              `json:"label,omitempty"`
	Factory int                 `json:"factory"` // index of a nested factory, or -1
	HoleID  string              `json:"hole_id,omitempty"`
	Digest  store.Digest        `json:"sha256,omitzero"`
	Size    int64               `json:"size,omitempty"`
}

// Hole is one hole of the set, with the first place the walk found it.
type Hole struct {
	ID        string `json:"id"`
	Label     string `json:"label"`
	Factory   string `json:"factory"`
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

// Lookup returns a factory's record.
type Lookup func(store.FactoryID) (*store.Factory, error)

// Build walks the factory graph from root. A factory reached twice is described once (so
// shared components and cycles cost nothing); a nested factory that cannot be found is an
// error, since its holes could not be proved absent.
func Build(root *store.Factory, lookup Lookup) (*Report, error) {
	b := &builder{lookup: lookup, index: map[store.FactoryID]int{}}
	if err := b.visit(root); err != nil {
		return nil, err
	}
	r := &Report{Root: 0, Factories: b.factories, Sealed: root.Sealed}
	r.Holes = b.holes(root)
	r.Discreet = len(r.Holes) == 0
	if root.Sealed {
		r.Discreet = root.Discreet // frozen at seal
	}
	return r, nil
}

type builder struct {
	lookup    Lookup
	index     map[store.FactoryID]int
	factories []Factory
	queue     []*store.Factory
}

// visit adds f and, breadth first, every factory it reaches.
func (b *builder) visit(root *store.Factory) error {
	b.add(root)
	for len(b.queue) > 0 {
		f := b.queue[0]
		b.queue = b.queue[1:]
		if err := b.describe(f); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) add(f *store.Factory) int {
	if i, ok := b.index[f.ID]; ok {
		return i
	}
	i := len(b.factories)
	b.index[f.ID] = i
	b.factories = append(b.factories, Factory{Name: f.Name, ID: f.ID.String(), Sealed: f.Sealed,
		Discreet: f.Sealed && f.Discreet, Syscalls: f.Syscalls, Charges: f.Charges})
	if !f.Program.IsZero() {
		b.factories[i].Program = f.Program.String()
	}
	b.queue = append(b.queue, f)
	return i
}

func (b *builder) describe(f *store.Factory) error {
	comps := make([]Component, 0, len(f.Components))
	for _, c := range f.Components {
		out, err := b.component(f, c)
		if err != nil {
			return err
		}
		comps = append(comps, out)
	}
	b.factories[b.index[f.ID]].Components = comps
	return nil
}

func (b *builder) component(f *store.Factory, c store.Component) (Component, error) {
	out := Component{Name: c.Name, Kind: c.Kind, Label: c.Label, Factory: -1, Size: c.Size}
	out.Digest = c.Digest
	switch c.Kind {
	case store.KindData:
		out.Reason = "immutable data served by this daemon: it carries information in, never out"
	case store.KindSensory:
		out.Reason = sensoryReason(c)
	case store.KindFactory:
		sub, err := b.lookup(*c.FactoryID)
		if err != nil {
			return out, fmt.Errorf("component %q of %q: %w", c.Name, f.Name, err)
		}
		out.Factory = b.add(sub)
		out.Reason = factoryReason(sub)
	case store.KindHole:
		out.Hole, out.HoleID = true, c.HoleID
		out.Reason = c.Why
	default:
		return out, fmt.Errorf("component %q of %q: unknown kind %q", c.Name, f.Name, c.Kind)
	}
	return out, nil
}

func sensoryReason(c store.Component) string {
	switch c.Sensory {
	case "blob":
		return "a read-only view of an immutable blob served by this daemon"
	case "tree":
		return "a tree served by this daemon: read-only, and every capability it returns is sensory"
	case "verifier":
		return "a verifier facet: it answers only whether a capability is one of its factory's yields"
	}
	return "the null capability: it reaches nothing"
}

func factoryReason(sub *store.Factory) string {
	switch {
	case !sub.Sealed:
		return "an unsealed factory: its holes are not fixed"
	case sub.Discreet:
		return "the requestor facet of a sealed, discreet factory: not a hole, and it adds none"
	}
	return fmt.Sprintf("the requestor facet of a sealed factory: not a hole itself, but its %d hole(s) are this factory's too",
		len(sub.Holes))
}

// holes lists the hole set: the frozen set of a sealed root, else the union found in the graph.
// Each hole is described by the first component the walk found it at.
func (b *builder) holes(root *store.Factory) []Hole {
	found := map[string]Hole{}
	var order []string
	for _, f := range b.factories {
		for _, c := range f.Components {
			if !c.Hole {
				continue
			}
			if _, seen := found[c.HoleID]; !seen {
				found[c.HoleID] = Hole{ID: c.HoleID, Label: c.Label, Factory: f.Name, Component: c.Name, Reason: c.Reason}
				order = append(order, c.HoleID)
			}
		}
	}
	if root.Sealed {
		order = slices.Clone(root.Holes)
	}
	slices.Sort(order)
	order = slices.Compact(order)
	out := make([]Hole, 0, len(order))
	for _, id := range order {
		h, ok := found[id]
		if !ok {
			h = Hole{ID: id, Reason: "frozen at seal"}
		}
		out = append(out, h)
	}
	return out
}
