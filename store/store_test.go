package store

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/factoryd/factoryd/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { checkConsistent(t, s); s.Close() })
	return s
}

// checkConsistent verifies the invariants every test must leave intact: bbolt's own page
// consistency, every name mapping to an existing factory, every blob file matching its digest.
func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	if s.db == nil {
		return
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil && err != bolt.ErrDatabaseNotOpen {
		t.Errorf("bbolt check: %v", err)
		return
	}
	fs, err := s.Factories()
	if err == ErrClosed {
		return
	}
	assert.NoError(t, err)
	for _, f := range fs {
		if !f.Program.IsZero() {
			assert.NoError(t, s.VerifyBlob(f.Program), "program of %s", f.Name)
		}
	}
}

func putBlob(t *testing.T, s *Store, content string) BlobInfo {
	t.Helper()
	w, err := s.NewBlobWriter(0)
	require.NoError(t, err)
	_, err = w.Write([]byte(content))
	require.NoError(t, err)
	info, err := w.Commit()
	require.NoError(t, err)
	return info
}

func TestBlobRoundTrip(t *testing.T) {
	s := openTemp(t)
	info := putBlob(t, s, "hello")
	assert.Equal(t, Digest(sha256.Sum256([]byte("hello"))), info.Digest)
	assert.EqualValues(t, 5, info.Size)

	got, err := s.Blob(info.Digest)
	require.NoError(t, err)
	assert.Equal(t, info.Size, got.Size)

	f, err := s.OpenBlob(info.Digest)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 10)
	n, _ := f.Read(b)
	assert.Equal(t, "hello", string(b[:n]))

	st, err := os.Stat(s.BlobPath(info.Digest))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o555), st.Mode().Perm(), "blobs are read-only")
	assert.NoError(t, s.VerifyBlob(info.Digest))
}

func TestBlobDedupKeepsFirstCreation(t *testing.T) {
	s := openTemp(t)
	a := putBlob(t, s, "same")
	time.Sleep(2 * time.Millisecond)
	b := putBlob(t, s, "same")
	assert.Equal(t, a.Digest, b.Digest)
	assert.True(t, a.Created.Equal(b.Created), "got %v, want %v", b.Created, a.Created)
}

func TestBlobLimitAndAbort(t *testing.T) {
	s := openTemp(t)
	w, err := s.NewBlobWriter(4)
	require.NoError(t, err)
	_, err = w.Write([]byte("12345"))
	assert.ErrorIs(t, err, ErrInvalid)
	w.Abort()
	w.Abort()
	_, err = w.Commit()
	assert.ErrorIs(t, err, ErrClosed)
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "blobs", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, ents, "aborted upload left a file")
}

func TestBlobMissing(t *testing.T) {
	s := openTemp(t)
	_, err := s.Blob(Digest{1})
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.OpenBlob(Digest{1})
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestBlobTamperingDetected(t *testing.T) {
	s := openTemp(t)
	info := putBlob(t, s, "original")
	path := s.BlobPath(info.Digest)
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, os.WriteFile(path, []byte("tampered"), 0o644))
	assert.ErrorIs(t, s.VerifyBlob(info.Digest), ErrCorrupt)
	require.NoError(t, os.WriteFile(path, []byte("short"), 0o644))
	_, err := s.OpenBlob(info.Digest)
	assert.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, os.Remove(path))
	_, err = s.OpenBlob(info.Digest)
	assert.ErrorIs(t, err, ErrCorrupt)
}

func TestFactoryCRUD(t *testing.T) {
	s := openTemp(t)
	prog := putBlob(t, s, "#!prog")
	f := &Factory{ID: NewFactoryID(), Name: "tax", Owner: Principal{UID: 1000, GID: 1000},
		Program: prog.Digest, ProgramSize: prog.Size, Created: time.Now().UTC()}
	require.NoError(t, s.CreateFactory(f))

	dup := &Factory{ID: NewFactoryID(), Name: "tax"}
	assert.ErrorIs(t, s.CreateFactory(dup), ErrExists)

	f.Components = append(f.Components, Component{Name: "rates", Kind: KindData, Digest: prog.Digest, Size: 6})
	f.Sealed = true
	require.NoError(t, s.PutFactory(f))

	got, err := s.FactoryByName("tax")
	require.NoError(t, err)
	assert.Equal(t, f.ID, got.ID)
	assert.True(t, got.Sealed)
	require.Len(t, got.Components, 1)
	assert.Equal(t, prog.Digest, got.Components[0].Digest)

	byID, err := s.Factory(f.ID)
	require.NoError(t, err)
	assert.Equal(t, "tax", byID.Name)

	assert.ErrorIs(t, s.PutFactory(&Factory{ID: NewFactoryID(), Name: "ghost"}), ErrNotFound)

	require.NoError(t, s.DeleteFactory(f.ID))
	_, err = s.FactoryByName("tax")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.DeleteFactory(f.ID), ErrNotFound)
}

func TestFactoriesOrderedByName(t *testing.T) {
	s := openTemp(t)
	for _, n := range []string{"zeta", "alpha", "mid"} {
		require.NoError(t, s.CreateFactory(&Factory{ID: NewFactoryID(), Name: n}))
	}
	fs, err := s.Factories()
	require.NoError(t, err)
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"alpha", "mid", "zeta"}, names)
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	require.NoError(t, err)
	prog := putBlob(t, s, "program bytes")
	id := NewFactoryID()
	require.NoError(t, s.CreateFactory(&Factory{ID: id, Name: "kv", Program: prog.Digest, Sealed: true}))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	s, err = Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	f, err := s.FactoryByName("kv")
	require.NoError(t, err)
	assert.Equal(t, id, f.ID)
	assert.NoError(t, s.VerifyBlob(f.Program))
}

func TestClosedStore(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Factories()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	_, err = Open(dir, &Options{LockTimeout: 50 * time.Millisecond})
	assert.ErrorIs(t, err, ErrLocked)
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, DBFile), make([]byte, 8192), 0o600))
	_, err := Open(dir, nil)
	assert.ErrorIs(t, err, ErrCorrupt)
}

func TestCorruptRecord(t *testing.T) {
	s := openTemp(t)
	id := NewFactoryID()
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNames).Put([]byte("bad"), id[:]); err != nil {
			return err
		}
		return tx.Bucket(bucketFactories).Put(id[:], []byte("{not json"))
	}))
	_, err := s.FactoryByName("bad")
	assert.ErrorIs(t, err, ErrCorrupt)
	_, err = s.Factories()
	assert.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, s.DeleteFactory(id) /* a corrupt record can still be removed */)
}

func TestDigestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", true},
		{"short", "2cf2", false},
		{"not hex", "zz" + "f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := digest.Parse(tt.in)
			if !tt.ok {
				assert.ErrorIs(t, err, digest.ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.in, d.String())
		})
	}
}
