package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketUsage holds what each ended instance consumed, keyed by its requestor: the requestor's
// own records. Nothing the builder can call reads it (resource use is a covert channel).
var bucketUsage = []byte("usage")

// UsageRecord is what one instance consumed, from the kernel's counters.
type UsageRecord struct {
	Requestor  Principal `json:"requestor"`
	Instance   string    `json:"instance"`
	Factory    string    `json:"factory"`
	FactoryID  FactoryID `json:"factory_id"`
	Created    time.Time `json:"created"`
	Ended      time.Time `json:"ended"`
	EndReason  string    `json:"end_reason"`
	CPUNanos   uint64    `json:"cpu_nanos"`
	PeakMemory uint64    `json:"peak_memory_bytes"`
	// Measured is false when the kernel's counters were unavailable (no cgroup): the CPU and
	// memory figures are then zero, not measured.
	Measured bool `json:"measured"`
}

// Wall is the instance's lifetime.
func (r *UsageRecord) Wall() time.Duration { return r.Ended.Sub(r.Created) }

func usageKey(uid uint32, instance string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uid), instance...)
}

// PutUsage records an ended instance's usage under its requestor. Concurrent calls share a
// commit.
func (s *Store) PutUsage(r *UsageRecord) error {
	if r.Instance == "" || len(r.Instance) > 64 {
		return fmt.Errorf("%w: instance id %q", ErrInvalid, r.Instance)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return closedError(s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsage).Put(usageKey(r.Requestor.UID, r.Instance), v)
	}))
}

// Usage returns the usage record of an instance uid requested.
func (s *Store) Usage(uid uint32, instance string) (*UsageRecord, error) {
	var r *UsageRecord
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsage).Get(usageKey(uid, instance))
		if v == nil {
			return fmt.Errorf("usage of instance %q: %w", instance, ErrNotFound)
		}
		r = new(UsageRecord)
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("%w: usage of instance %q: %v", ErrCorrupt, instance, err)
		}
		return nil
	})
	return r, err
}

// UsageAnyRequestor returns the usage record of an instance whoever requested it: for the
// operator.
func (s *Store) UsageAnyRequestor(instance string) (*UsageRecord, error) {
	var r *UsageRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsage).ForEach(func(k, v []byte) error {
			if r != nil || len(k) < 4 || string(k[4:]) != instance {
				return nil
			}
			r = new(UsageRecord)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("%w: usage of instance %q: %v", ErrCorrupt, instance, err)
			}
			return nil
		})
	})
	if err == nil && r == nil {
		err = fmt.Errorf("usage of instance %q: %w", instance, ErrNotFound)
	}
	return r, err
}
