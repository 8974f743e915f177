package store

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Digest  Digest
	Size    int64
	Created time.Time
}

type blobRecord struct {
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func (s *Store) prepareBlobDir() error {
	tmp := filepath.Join(s.blobs, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clear unfinished uploads: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	// The blob tree is traversable but not listable: a confined helper running under an
	// unprivileged uid may open a blob whose digest it was told, and nothing else.
	return os.Chmod(s.blobs, 0o711)
}

// BlobPath returns the file holding the blob d (which may not exist).
func (s *Store) BlobPath(d Digest) string {
	h := d.String()
	return filepath.Join(s.blobs, h[:2], h)
}

// BlobWriter receives the bytes of a new blob. It is not safe for concurrent use.
type BlobWriter struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	size int64
	max  int64
	done bool
}

// NewBlobWriter starts a new blob of at most max bytes (0: unlimited). The caller must call
// Commit or Abort.
func (s *Store) NewBlobWriter(max int64) (*BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(s.blobs, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("start blob: %w", err)
	}
	return &BlobWriter{s: s, f: f, h: sha256.New(), max: max}, nil
}

// Write appends p to the blob.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write blob: %w", ErrClosed)
	}
	if w.max > 0 && w.size+int64(len(p)) > w.max {
		return 0, fmt.Errorf("%w: blob exceeds the limit of %d bytes", ErrInvalid, w.max)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// Size returns the number of bytes written so far.
func (w *BlobWriter) Size() int64 { return w.size }

// Abort discards the blob. It is idempotent and safe after Commit.
func (w *BlobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Commit makes the blob durable and indexed, and returns its info. Committing content that is
// already stored returns the existing blob.
func (w *BlobWriter) Commit() (BlobInfo, error) {
	if w.done {
		return BlobInfo{}, fmt.Errorf("commit blob: %w", ErrClosed)
	}
	defer w.Abort()
	var d Digest
	copy(d[:], w.h.Sum(nil))
	if err := w.place(d); err != nil {
		return BlobInfo{}, err
	}
	return w.s.indexBlob(d, w.size)
}

// place moves the finished file to its content address, durably.
func (w *BlobWriter) place(d Digest) error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync blob: %w", err)
	}
	if err := w.f.Chmod(0o555); err != nil {
		return fmt.Errorf("chmod blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close blob: %w", err)
	}
	path := w.s.BlobPath(d)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	if err := os.Rename(w.f.Name(), path); err != nil {
		return fmt.Errorf("place blob: %w", err)
	}
	w.done = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

func (s *Store) indexBlob(d Digest, size int64) (BlobInfo, error) {
	info := BlobInfo{Digest: d, Size: size, Created: time.Now().UTC()}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		if old := b.Get(d[:]); old != nil {
			var rec blobRecord
			if err := json.Unmarshal(old, &rec); err != nil {
				return fmt.Errorf("%w: blob record %s: %v", ErrCorrupt, d.Short(), err)
			}
			info.Created = rec.Created
			return nil
		}
		v, err := json.Marshal(blobRecord{Size: size, Created: info.Created})
		if err != nil {
			return err
		}
		return b.Put(d[:], v)
	})
	return info, err
}

// Blob returns the info of the stored blob d, or ErrNotFound.
func (s *Store) Blob(d Digest) (BlobInfo, error) {
	var rec blobRecord
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(d[:])
		if v == nil {
			return fmt.Errorf("blob %s: %w", d.Short(), ErrNotFound)
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("%w: blob record %s: %v", ErrCorrupt, d.Short(), err)
		}
		return nil
	})
	return BlobInfo{Digest: d, Size: rec.Size, Created: rec.Created}, err
}

// OpenBlob opens the stored blob d for reading. The caller closes the file.
func (s *Store) OpenBlob(d Digest) (*os.File, error) {
	info, err := s.Blob(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: blob %s is indexed but its file is missing", ErrCorrupt, d.Short())
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d.Short(), err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != info.Size {
		f.Close()
		return nil, fmt.Errorf("%w: blob %s has the wrong size", ErrCorrupt, d.Short())
	}
	return f, nil
}

// VerifyBlob re-hashes the stored blob d and reports ErrCorrupt if it differs from its name.
func (s *Store) VerifyBlob(d Digest) error {
	f, err := s.OpenBlob(d)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := f.WriteTo(h); err != nil {
		return fmt.Errorf("read blob %s: %w", d.Short(), err)
	}
	if got := h.Sum(nil); string(got) != string(d[:]) {
		return fmt.Errorf("%w: blob %s does not match its digest", ErrCorrupt, d.Short())
	}
	return nil
}
