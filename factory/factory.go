package factory

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/store"
)

// Store is what a factory needs of durable storage. *store.Store satisfies it; keeping it an
// interface leaves room for a shared store across daemons.
type Store interface {
	CreateFactory(*store.Factory) error
	PutFactory(*store.Factory) error
	DeleteFactory(store.FactoryID) error
	Factories() ([]*store.Factory, error)
	Blob(store.Digest) (store.BlobInfo, error)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkName validates factory and component names: 1-128 characters of [A-Za-z0-9._-], not
// starting with a punctuation mark.
func checkName(what, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit",
			ErrInvalid, what, name)
	}
	return nil
}

// Factory is one factory: its persisted record and, in memory only, the live capabilities
// installed as holes (a capability held by another connection cannot outlive the daemon).
//
// Every mutation persists first and then updates memory, under mu, so a failed write changes
// nothing. Once sealed the record never changes again.
type Factory struct {
	st Store

	mu        sync.Mutex // guards the fields that follow
	rec       *store.Factory
	live      map[string]capnp.Client
	destroyed bool
}

func newFactory(st Store, rec *store.Factory) *Factory {
	return &Factory{st: st, rec: rec, live: map[string]capnp.Client{}}
}

// ID returns the factory's id.
func (f *Factory) ID() store.FactoryID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec.ID
}

// Snapshot returns a copy of the record.
func (f *Factory) Snapshot() *store.Factory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec.Clone()
}

// record returns the current record itself, for reading only: a record is replaced, never
// changed in place (mutate works on a copy), so it stays valid and unchanged for the caller.
func (f *Factory) record() *store.Factory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec
}

// Sealed reports whether the factory is sealed.
func (f *Factory) Sealed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec.Sealed
}

// mutate applies change to a copy of the record, persists it and adopts it. change runs with mu
// held and must not call capabilities.
func (f *Factory) mutate(change func(r *store.Factory) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mutateLocked(change)
}

// checkMutable fails with ErrSealed (or ErrNotFound once destroyed) before any other check, so
// that every install on a sealed factory reports that it is sealed.
func (f *Factory) checkMutable() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkMutableLocked()
}

func (f *Factory) checkMutableLocked() error {
	if f.destroyed {
		return fmt.Errorf("factory %q: %w", f.rec.Name, ErrNotFound)
	}
	if f.rec.Sealed {
		return fmt.Errorf("factory %q: %w", f.rec.Name, ErrSealed)
	}
	return nil
}

func (f *Factory) mutateLocked(change func(r *store.Factory) error) error {
	if err := f.checkMutableLocked(); err != nil {
		return err
	}
	next := f.rec.Clone()
	if err := change(next); err != nil {
		return err
	}
	if err := f.st.PutFactory(next); err != nil {
		return err
	}
	f.rec = next
	return nil
}

// SetProgram sets the program to the stored blob d, which the caller has checked to be a
// runnable program.
func (f *Factory) SetProgram(d store.Digest) error {
	if err := f.checkMutable(); err != nil {
		return err
	}
	info, err := f.st.Blob(d)
	if err != nil {
		return err
	}
	return f.mutate(func(r *store.Factory) error {
		r.Program, r.ProgramSize = d, info.Size
		return nil
	})
}

// AllowSyscalls declares syscalls beyond the vat's default allowlist; the caller has checked
// them (vat.CheckSyscalls).
func (f *Factory) AllowSyscalls(names []string) error {
	return f.mutate(func(r *store.Factory) error {
		for _, n := range names {
			if !slices.Contains(r.Syscalls, n) {
				r.Syscalls = append(r.Syscalls, n)
			}
		}
		slices.Sort(r.Syscalls)
		return nil
	})
}

// InstallData installs the stored blob d as an immutable data component.
func (f *Factory) InstallData(name string, d store.Digest) error {
	if err := f.checkMutable(); err != nil {
		return err
	}
	info, err := f.st.Blob(d)
	if err != nil {
		return err
	}
	return f.install(store.Component{Name: name, Kind: store.KindData, Digest: d, Size: info.Size})
}

// InstallFactory installs another factory's requestor facet; other must be sealed. Its frozen
// holes join this factory's at seal.
func (f *Factory) InstallFactory(name string, other *Factory) error {
	if err := f.checkMutable(); err != nil {
		return err
	}
	o := other.Snapshot()
	if !o.Sealed {
		return fmt.Errorf("%w: component factory %q is not sealed", ErrInvalid, o.Name)
	}
	id := o.ID
	return f.install(store.Component{Name: name, Kind: store.KindFactory, Label: o.Name, FactoryID: &id})
}

// InstallSensory installs a sensory component the daemon can rebuild: a view of a stored blob
// (digest set) or the verifier facet of a factory (factoryID set).
func (f *Factory) InstallSensory(name string, c store.Component) error {
	c.Name, c.Kind = name, store.KindSensory
	return f.install(c)
}

// InstallHole records the hole c, described by the caller (its identity and why it is a
// hole). It steals cap, which yields will receive; it may be null.
func (f *Factory) InstallHole(c store.Component, cap capnp.Client) error {
	c.Kind = store.KindHole
	f.mu.Lock()
	err := f.installLocked(c)
	if err == nil {
		f.live[c.Name] = cap
	}
	f.mu.Unlock()
	if err != nil {
		cap.Release()
	}
	return err
}

func (f *Factory) install(c store.Component) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installLocked(c)
}

func (f *Factory) installLocked(c store.Component) error {
	if err := f.checkMutableLocked(); err != nil {
		return err
	}
	if err := checkName("component", c.Name); err != nil {
		return err
	}
	return f.mutateLocked(func(r *store.Factory) error {
		if _, dup := r.Component(c.Name); dup {
			return fmt.Errorf("component %q: %w", c.Name, ErrExists)
		}
		r.Components = append(r.Components, c)
		return nil
	})
}

// Seal freezes the factory: its components, its hole set (its own holes and those of its
// component factories, looked up with holesOf) and its verdict. Sealing a sealed factory does
// nothing.
func (f *Factory) Seal(holesOf func(store.FactoryID) ([]string, error)) error {
	return f.SealWith(holesOf, nil)
}

// SealWith seals the factory; reach, if not nil, returns the reach holes of the record being
// sealed (computed beforehand, since it reads other factories: it may only check that the
// record is the one it was computed for).
func (f *Factory) SealWith(holesOf func(store.FactoryID) ([]string, error), reach func(*store.Factory) ([]string, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rec.Sealed && !f.destroyed {
		return nil
	}
	if f.rec.Program.IsZero() {
		return fmt.Errorf("%w: factory %q has no program", ErrInvalid, f.rec.Name)
	}
	return f.mutateLocked(func(r *store.Factory) error {
		holes, err := holeSet(r, holesOf)
		if err != nil {
			return err
		}
		if reach != nil {
			extra, err := reach(r)
			if err != nil {
				return err
			}
			holes = append(holes, extra...)
			slices.Sort(holes)
			holes = slices.Compact(holes)
		}
		r.Holes, r.Discreet = holes, len(holes) == 0
		r.Sealed, r.SealedAt = true, time.Now().UTC()
		return nil
	})
}

// holeSet is the union of r's declared holes and the frozen holes of its component factories.
func holeSet(r *store.Factory, holesOf func(store.FactoryID) ([]string, error)) ([]string, error) {
	var holes []string
	for _, c := range r.Components {
		switch c.Kind {
		case store.KindHole:
			holes = append(holes, c.HoleID)
		case store.KindFactory:
			sub, err := holesOf(*c.FactoryID)
			if err != nil {
				return nil, fmt.Errorf("component %q: %w", c.Name, err)
			}
			for _, h := range sub {
				if !isReachHole(h) {
					holes = append(holes, h)
				}
			}
		}
	}
	slices.Sort(holes)
	return slices.Compact(holes), nil
}

// Live lends the live capability installed as the named component, if any.
func (f *Factory) Live(name string) capnp.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[name].AddRef()
}

// markDestroyed makes every later mutation fail and returns the live capabilities to release
// (outside the lock).
func (f *Factory) markDestroyed() []capnp.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroyed = true
	var out []capnp.Client
	for _, c := range f.live {
		out = append(out, c)
	}
	f.live = nil
	return out
}

// setDescriptor replaces the factory's security descriptor (canonical SDDL). It is not part of
// what seal freezes: who may open the factory by name is the owner's to change.
func (f *Factory) setDescriptor(sddl string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.destroyed {
		return fmt.Errorf("factory %q: %w", f.rec.Name, ErrNotFound)
	}
	next := f.rec.Clone()
	next.Descriptor = sddl
	if err := f.st.PutFactory(next); err != nil {
		return err
	}
	f.rec = next
	return nil
}
