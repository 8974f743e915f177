package factory

import (
	capnp "capnproto.org/go/capnp/v3"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/factoryd/factoryd/store"
)

// registry holds every factory in memory, loaded from the store at start.
type registry struct {
	st Store

	mu     sync.Mutex // guards the fields that follow
	byID   map[store.FactoryID]*Factory
	byName map[string]*Factory
}

func loadRegistry(st Store) (*registry, error) {
	r := &registry{st: st, byID: map[store.FactoryID]*Factory{}, byName: map[string]*Factory{}}
	recs, err := st.Factories()
	if err != nil {
		return nil, fmt.Errorf("load factories: %w", err)
	}
	for _, rec := range recs {
		f := newFactory(st, rec)
		r.byID[rec.ID], r.byName[rec.Name] = f, f
	}
	return r, nil
}

// create makes a new, empty factory owned by owner.
func (r *registry) create(name string, owner store.Principal) (*Factory, error) {
	if err := checkName("factory", name); err != nil {
		return nil, err
	}
	rec := &store.Factory{ID: store.NewFactoryID(), Name: name, Owner: owner, Created: time.Now().UTC()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byName[name]; ok {
		return nil, fmt.Errorf("factory %q: %w", name, ErrExists)
	}
	if err := r.st.CreateFactory(rec); err != nil {
		return nil, err
	}
	f := newFactory(r.st, rec)
	r.byID[rec.ID], r.byName[name] = f, f
	return f, nil
}

func (r *registry) byNameOrErr(name string) (*Factory, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("factory %q: %w", name, ErrNotFound)
	}
	return f, nil
}

func (r *registry) get(id store.FactoryID) (*Factory, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.byID[id]
	if !ok {
		return nil, fmt.Errorf("factory %s: %w", id, ErrNotFound)
	}
	return f, nil
}

// holesOf returns the frozen hole set of a sealed factory.
func (r *registry) holesOf(id store.FactoryID) ([]string, error) {
	f, err := r.get(id)
	if err != nil {
		return nil, err
	}
	rec := f.Snapshot()
	if !rec.Sealed {
		return nil, fmt.Errorf("%w: factory %q is not sealed", ErrInvalid, rec.Name)
	}
	return rec.Holes, nil
}

// list returns every factory's record, sorted by name.
func (r *registry) list() []*store.Factory {
	recs := r.records()
	for i, rec := range recs {
		recs[i] = rec.Clone()
	}
	return recs
}

// records lists the current records, shared and read-only (Factory.record), by name.
func (r *registry) records() []*store.Factory {
	r.mu.Lock()
	fs := make([]*Factory, 0, len(r.byID))
	for _, f := range r.byID {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	out := make([]*store.Factory, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.record())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// destroy removes f, unless another factory has it installed.
func (r *registry) destroy(f *Factory) error {
	live, err := r.unregister(f)
	for _, c := range live {
		c.Release()
	}
	return err
}

// unregister removes f from the store and the registry and returns its live capabilities for
// the caller to release once no lock is held.
func (r *registry) unregister(f *Factory) ([]capnp.Client, error) {
	id := f.ID()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, other := range r.byID {
		if other != f && other.uses(id) {
			return nil, fmt.Errorf("%w: factory %q is a component of %q", ErrInUse, f.Snapshot().Name, other.Snapshot().Name)
		}
	}
	if err := r.st.DeleteFactory(id); err != nil {
		return nil, err
	}
	delete(r.byID, id)
	delete(r.byName, f.Snapshot().Name)
	return f.markDestroyed(), nil
}

// uses reports whether f has the factory id installed as a component.
func (f *Factory) uses(id store.FactoryID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.rec.Components {
		if c.FactoryID != nil && *c.FactoryID == id {
			return true
		}
	}
	return false
}
