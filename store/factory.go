package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/factoryd/factoryd/billing"
)

// FactoryID identifies a factory for its whole life; names may be reused after a destroy.
type FactoryID [16]byte

// NewFactoryID returns a fresh random id.
func NewFactoryID() FactoryID {
	var id FactoryID
	rand.Read(id[:])
	return id
}

// String returns the hex form.
func (id FactoryID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText writes the hex form.
func (id FactoryID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the hex form.
func (id *FactoryID) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	if err != nil || len(v) != len(id) {
		return fmt.Errorf("%w: factory id %q", ErrInvalid, b)
	}
	copy(id[:], v)
	return nil
}

// ComponentKind says what a component is; it decides whether the component is a hole.
type ComponentKind string

// The component kinds.
const (
	KindData    ComponentKind = "data"
	KindSensory ComponentKind = "sensory"
	KindFactory ComponentKind = "factory"
	KindHole    ComponentKind = "hole"
)

// Principal names who acted, as the daemon saw it (unix peer credentials).
type Principal struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// String formats the principal as "uid:gid".
func (p Principal) String() string { return fmt.Sprintf("uid %d gid %d", p.UID, p.GID) }

// Component is one installed component of a factory.
type Component struct {
	Name      string        `json:"name"`
	Kind      ComponentKind `json:"kind"`
	Digest    Digest        `json:"digest,omitempty"`     // data; sensory view of a blob
	Size      int64         `json:"size,omitempty"`       // data
	Label     string        `json:"label,omitempty"`      // hole: the builder's label
	FactoryID *FactoryID    `json:"factory_id,omitempty"` // factory; sensory verifier facet
	// Sensory says what a sensory component is: "blob", "tree" (Digest names its listing),
	// "verifier" (of FactoryID) or "null".
	Sensory string `json:"sensory,omitempty"`
	// HoleID is a hole's identity: the same capability installed twice has the same id.
	HoleID string `json:"hole_id,omitempty"`
	// Why records, for a hole, what the daemon found the capability to be when installed.
	Why string `json:"why,omitempty"`
}

// Factory is the persisted form of a factory.
type Factory struct {
	ID          FactoryID   `json:"id"`
	Name        string      `json:"name"`
	Owner       Principal   `json:"owner"`
	Program     Digest      `json:"program,omitempty"`
	ProgramSize int64       `json:"program_size,omitempty"`
	Components  []Component `json:"components"`
	Created     time.Time   `json:"created"`
	Sealed      bool        `json:"sealed"`
	SealedAt    time.Time   `json:"sealed_at,omitzero"`
	Discreet    bool        `json:"discreet"`
	// Syscalls are declared beyond the vat's default seccomp allowlist.
	Syscalls []string `json:"syscalls,omitempty"`
	// Charges are what its instances may charge for, in declaration order.
	Charges []billing.Kind `json:"charges,omitempty"`
	// Descriptor is its security descriptor in SDDL; empty means the default for its owner.
	Descriptor string `json:"descriptor,omitempty"`
	// Capabilities are the capability names its yields' confined tokens carry, and Strict
	// whether those tokens leave out ALL_APPLICATION_PACKAGES.
	Capabilities []string `json:"capabilities,omitempty"`
	Strict       bool     `json:"strict,omitempty"`
	// Holes is the frozen hole set: "<factory id>/<component>" for each hole, its own and
	// those of its component factories. Empty until seal.
	Holes []string `json:"holes,omitempty"`
}

// Clone returns a deep copy.
func (f *Factory) Clone() *Factory {
	c := *f
	c.Components = append([]Component(nil), f.Components...)
	c.Holes = append([]string(nil), f.Holes...)
	c.Syscalls = append([]string(nil), f.Syscalls...)
	c.Charges = append([]billing.Kind(nil), f.Charges...)
	c.Capabilities = append([]string(nil), f.Capabilities...)
	return &c
}

// Component returns the named component.
func (f *Factory) Component(name string) (Component, bool) {
	for _, c := range f.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// CreateFactory stores a new factory; ErrExists if its name is taken.
func (s *Store) CreateFactory(f *Factory) error {
	v, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		if names.Get([]byte(f.Name)) != nil {
			return fmt.Errorf("factory %q: %w", f.Name, ErrExists)
		}
		if err := names.Put([]byte(f.Name), f.ID[:]); err != nil {
			return err
		}
		if err := putPayee(tx, f); err != nil {
			return err
		}
		return tx.Bucket(bucketFactories).Put(f.ID[:], v)
	})
}

// PutFactory replaces the record of an existing factory.
func (s *Store) PutFactory(f *Factory) error {
	v, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFactories)
		if b.Get(f.ID[:]) == nil {
			return fmt.Errorf("factory %s: %w", f.ID, ErrNotFound)
		}
		return b.Put(f.ID[:], v)
	})
}

// DeleteFactory removes a factory and its name.
func (s *Store) DeleteFactory(id FactoryID) error {
	return s.update(func(tx *bolt.Tx) error {
		factories := tx.Bucket(bucketFactories)
		if factories.Get(id[:]) == nil {
			return fmt.Errorf("factory %s: %w", id, ErrNotFound)
		}
		if err := deleteNamesOf(tx.Bucket(bucketNames), id); err != nil {
			return err
		}
		return factories.Delete(id[:])
	})
}

// deleteNamesOf removes every name bound to id. It scans rather than trusting the factory
// record, so that a corrupt record can still be removed.
func deleteNamesOf(names *bolt.Bucket, id FactoryID) error {
	var stale [][]byte
	err := names.ForEach(func(name, v []byte) error {
		if string(v) == string(id[:]) {
			stale = append(stale, clone(name))
		}
		return nil
	})
	for _, name := range stale {
		err = errors.Join(err, names.Delete(name))
	}
	return err
}

// Factory returns the factory with the given id.
func (s *Store) Factory(id FactoryID) (*Factory, error) {
	var f *Factory
	err := s.view(func(tx *bolt.Tx) (err error) {
		f, err = getFactory(tx, id)
		return err
	})
	return f, err
}

// FactoryByName returns the factory with the given name.
func (s *Store) FactoryByName(name string) (*Factory, error) {
	var f *Factory
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNames).Get([]byte(name))
		if len(v) != len(FactoryID{}) {
			return fmt.Errorf("factory %q: %w", name, ErrNotFound)
		}
		var err error
		f, err = getFactory(tx, FactoryID(v))
		return err
	})
	return f, err
}

// Factories returns every factory, ordered by name.
func (s *Store) Factories() ([]*Factory, error) {
	var out []*Factory
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNames).ForEach(func(name, id []byte) error {
			if len(id) != len(FactoryID{}) {
				return fmt.Errorf("%w: name %q maps to a malformed id", ErrCorrupt, name)
			}
			f, err := getFactory(tx, FactoryID(id))
			if err != nil {
				return err
			}
			out = append(out, f)
			return nil
		})
	})
	return out, err
}

// getFactory decodes a record; json.Unmarshal copies everything out of the transaction's memory.
func getFactory(tx *bolt.Tx, id FactoryID) (*Factory, error) {
	v := tx.Bucket(bucketFactories).Get(id[:])
	if v == nil {
		return nil, fmt.Errorf("factory %s: %w", id, ErrNotFound)
	}
	f := new(Factory)
	if err := json.Unmarshal(v, f); err != nil {
		return nil, fmt.Errorf("%w: factory %s: %v", ErrCorrupt, id, err)
	}
	return f, nil
}
