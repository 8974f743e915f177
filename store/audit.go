package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketAudit holds the audit log: sequence (uint64 big-endian) -> AuditEntry (JSON). It is
// append-only: nothing in this package updates or deletes an entry.
var bucketAudit = []byte("audit")

// AuditEntry is one event of the audit log.
type AuditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	// UID is the uid of the principal the entry concerns; with Public false only that uid (and
	// the operator) may read it.
	UID       uint32 `json:"uid"`
	Public    bool   `json:"public"`
	Action    string `json:"action"`
	Factory   string `json:"factory,omitempty"`
	FactoryID string `json:"factory_id,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Component string `json:"component,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Label     string `json:"label,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// AppendAudit appends entries in one transaction, in order, assigning their sequence numbers
// (and their times if zero).
func (s *Store) AppendAudit(entries ...*AuditEntry) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		for _, e := range entries {
			if e.Time.IsZero() {
				e.Time = time.Now().UTC()
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			e.Seq = seq
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditEntries returns, oldest first, the last limit entries (all if limit is 0) for which keep
// returns true.
func (s *Store) AuditEntries(keep func(*AuditEntry) bool, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit == 0 || len(out) < limit); k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: audit entry %x: %v", ErrCorrupt, k, err)
			}
			if keep(&e) {
				out = append(out, e)
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
