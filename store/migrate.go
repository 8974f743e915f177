package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A migration moves the schema from version-1 to version. Migrations run in order, each in its
// own transaction, and are never edited once released: a change is a new migration.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

var migrations = []migration{
	{1, "create buckets", migrateCreateBuckets},
	{2, "create ledger buckets", migrateCreateLedgerBuckets},
	{3, "create audit log and dropbox buckets", migrateCreateAuditBuckets},
	{4, "create payee and usage buckets", migrateCreatePayeeBuckets},
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() uint64 { return migrations[len(migrations)-1].version }

func migrateCreateBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketBlobs, bucketFactories, bucketNames} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// migrateCreateLedgerBuckets adds the billing ledger: log, chains, heads and payer index
// (ledger.go).
func migrateCreateLedgerBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketLedgerLog, bucketLedger, bucketLedgerHeads, bucketLedgerByPayer} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// migrateCreateAuditBuckets adds the audit log (audit.go) and dropboxes (dropbox.go).
func migrateCreateAuditBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketAudit, bucketDropbox} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// migrateCreatePayeeBuckets adds ledger payees (payee.go), filled from the existing factories,
// and the requestors' usage records (usage.go).
func migrateCreatePayeeBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketPayees, bucketUsage} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketFactories).ForEach(func(k, v []byte) error {
		f, err := getFactory(tx, FactoryID(k))
		if err != nil {
			return err
		}
		return putPayee(tx, f)
	})
}

func (s *Store) migrate() error {
	for _, m := range migrations {
		if err := s.db.Update(func(tx *bolt.Tx) error { return applyMigration(tx, m) }); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

func applyMigration(tx *bolt.Tx, m migration) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	current := readVersion(meta)
	if current > SchemaVersion() {
		return fmt.Errorf("%w: schema version %d is newer than this build's %d", ErrCorrupt, current, SchemaVersion())
	}
	if current >= m.version {
		return nil
	}
	if err := m.apply(tx); err != nil {
		return err
	}
	return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, m.version))
}

func readVersion(meta *bolt.Bucket) uint64 {
	v := meta.Get(keyVersion)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Version returns the schema version recorded in the file.
func (s *Store) Version() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v = readVersion(meta)
		}
		return nil
	})
	return v, err
}
