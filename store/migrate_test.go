package store

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestMigrationsOrdered(t *testing.T) {
	for i, m := range migrations {
		assert.Equal(t, uint64(i+1), m.version, "migration %q", m.name)
	}
}

func TestMigrateCreateBuckets(t *testing.T) {
	s := openTemp(t)
	v, err := s.Version()
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion(), v)
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketBlobs, bucketFactories, bucketNames, bucketAudit, bucketDropbox, bucketPayees, bucketUsage} {
			assert.NotNil(t, tx.Bucket(b), "bucket %s", b)
		}
		return nil
	}))
}

func TestMigrateIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		s, err := Open(dir, nil)
		require.NoError(t, err)
		v, err := s.Version()
		require.NoError(t, err)
		assert.Equal(t, SchemaVersion(), v)
		require.NoError(t, s.Close())
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, SchemaVersion()+1))
	}))
	require.NoError(t, db.Close())
	_, err = Open(dir, nil)
	assert.ErrorIs(t, err, ErrCorrupt)
}

// A store written before schema 3 gains the audit and dropbox buckets, and keeps its data.
func TestMigrateAuditBucketsFromSchema2(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for _, m := range migrations[:2] {
			if err := applyMigration(tx, m); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketNames).Put([]byte("kept"), make([]byte, 16))
	}))
	require.NoError(t, db.Close())
	s, err := Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.Version()
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion(), v)
	require.NoError(t, s.AppendAudit(&AuditEntry{Action: "x"}))
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		assert.NotNil(t, tx.Bucket(bucketNames).Get([]byte("kept")))
		return nil
	}))
}
