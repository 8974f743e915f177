package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Each is documented in the package comment's tree.
var (
	bucketMeta      = []byte("meta")      // schema version
	bucketBlobs     = []byte("blobs")     // blob index: digest -> blobRecord
	bucketFactories = []byte("factories") // factory id -> Factory
	bucketNames     = []byte("names")     // factory name -> factory id
	keyVersion      = []byte("version")
)

// DBFile is the name of the bbolt file inside the data directory.
const DBFile = "factoryd.db"

// Options tunes Open. A nil *Options means defaults.
type Options struct {
	// LockTimeout bounds the wait for another process's lock on the data file. Default 1s.
	LockTimeout time.Duration
	// NoSync skips fsync; only for tests that measure nothing durable.
	NoSync bool
}

// Store is the durable state of one daemon. It is safe for concurrent use.
type Store struct {
	dir   string
	db    *bolt.DB
	blobs string
}

// Open opens (creating if needed) the store in dir, migrating its schema to the current version.
func Open(dir string, opts *Options) (*Store, error) {
	o := Options{LockTimeout: time.Second}
	if opts != nil {
		o = *opts
		if o.LockTimeout == 0 {
			o.LockTimeout = time.Second
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	s := &Store{dir: dir, blobs: filepath.Join(dir, "blobs")}
	if err := s.prepareBlobDir(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{Timeout: o.LockTimeout, NoSync: o.NoSync})
	if err != nil {
		return nil, openError(dir, err)
	}
	s.db = db
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openError classifies a failure to open the data file: another daemon holding it, an I/O or
// permission error (passed on as is), or anything else bbolt refuses — a file that is not a
// sound bbolt file — as corruption.
func openError(dir string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("open %s: %w", dir, ErrLocked)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return fmt.Errorf("open %s: %w", dir, err)
	}
	return fmt.Errorf("open %s: %w: %v", dir, ErrCorrupt, err)
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the data file. It is idempotent.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return nil
	}
	return err
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return closedError(s.db.View(fn))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return closedError(s.db.Update(fn))
}

func closedError(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// clone copies b out of a transaction's memory.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
