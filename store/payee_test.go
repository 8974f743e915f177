package store

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestPayeeOutlivesFactory(t *testing.T) {
	s := openTemp(t)
	f := &Factory{ID: NewFactoryID(), Name: "tax", Owner: Principal{UID: 1001, GID: 1001}, Created: time.Now()}
	require.NoError(t, s.CreateFactory(f))
	require.NoError(t, s.DeleteFactory(f.ID))
	p, err := s.Payee(f.ID)
	require.NoError(t, err)
	assert.Equal(t, Payee{Factory: f.ID, Name: "tax", Owner: f.Owner}, p)
	all, err := s.Payees()
	require.NoError(t, err)
	assert.Equal(t, []Payee{p}, all)
	_, err = s.Payee(NewFactoryID())
	assert.ErrorIs(t, err, ErrNotFound)
}

// A store written before schema 4 gains a payee for every factory it holds.
func TestMigratePayeesFromSchema3(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	require.NoError(t, err)
	f := &Factory{ID: NewFactoryID(), Name: "old", Owner: Principal{UID: 7, GID: 8}}
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for _, m := range migrations[:3] {
			if err := applyMigration(tx, m); err != nil {
				return err
			}
		}
		v, err := json.Marshal(f)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketFactories).Put(f.ID[:], v)
	}))
	require.NoError(t, db.Close())
	s, err := Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	p, err := s.Payee(f.ID)
	require.NoError(t, err)
	assert.Equal(t, Payee{Factory: f.ID, Name: "old", Owner: f.Owner}, p)
}

func TestUsageIsPerRequestor(t *testing.T) {
	s := openTemp(t)
	now := time.Now().UTC().Round(0)
	r := &UsageRecord{Requestor: Principal{UID: 1001}, Instance: "i-1", Factory: "tax", Created: now,
		Ended: now.Add(3 * time.Second), EndReason: "killed", CPUNanos: 5e8, PeakMemory: 1 << 20, Measured: true}
	require.NoError(t, s.PutUsage(r))
	got, err := s.Usage(1001, "i-1")
	require.NoError(t, err)
	assert.Equal(t, r, got)
	assert.Equal(t, 3*time.Second, got.Wall())
	_, err = s.Usage(1002, "i-1")
	assert.ErrorIs(t, err, ErrNotFound, "another requestor does not see it")
	assert.ErrorIs(t, s.PutUsage(&UsageRecord{}), ErrInvalid)
}
