package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketPayees remembers, for every factory ever created, who is paid through its ledger: the
// ledger outlives the factory (a destroyed factory's bill stays readable and verifiable by its
// owner), so its payee cannot be looked up in factories/.
var bucketPayees = []byte("payees")

// Payee is who a factory's ledger pays.
type Payee struct {
	Factory FactoryID `json:"factory"`
	Name    string    `json:"name"` // the factory's name when created
	Owner   Principal `json:"owner"`
}

func putPayee(tx *bolt.Tx, f *Factory) error {
	v, err := json.Marshal(Payee{Factory: f.ID, Name: f.Name, Owner: f.Owner})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPayees).Put(f.ID[:], v)
}

// Payee returns the payee of factory f's ledger.
func (s *Store) Payee(f FactoryID) (Payee, error) {
	var p Payee
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPayees).Get(f[:])
		if v == nil {
			return fmt.Errorf("payee of factory %s: %w", f, ErrNotFound)
		}
		return decodePayee(v, &p)
	})
	return p, err
}

// Payees returns the payees of every factory ever created, ordered by factory id.
func (s *Store) Payees() ([]Payee, error) {
	var out []Payee
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPayees).ForEach(func(k, v []byte) error {
			var p Payee
			if err := decodePayee(v, &p); err != nil {
				return err
			}
			if string(k) != string(p.Factory[:]) {
				return fmt.Errorf("%w: payee record of %x under key %x", ErrCorrupt, p.Factory, k)
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

func decodePayee(v []byte, p *Payee) error {
	if err := json.Unmarshal(v, p); err != nil {
		return fmt.Errorf("%w: payee record: %v", ErrCorrupt, err)
	}
	return nil
}
