package caps

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// MaxReadChunk bounds one Blob.read reply, well under a connection's message size limit.
const MaxReadChunk = 256 << 10

// BlobSource opens stored blobs. *store.Store satisfies it.
type BlobSource interface {
	Blob(d store.Digest) (store.BlobInfo, error)
	OpenBlob(d store.Digest) (*os.File, error)
}

// Blob serves one immutable stored blob. It holds no file open between calls.
type Blob struct {
	src  BlobSource
	info store.BlobInfo
}

// NewBlob returns a capability for the stored blob d, or store.ErrNotFound. The caller owns
// the returned client.
func NewBlob(src BlobSource, d store.Digest) (schema.Blob, error) {
	info, err := src.Blob(d)
	if err != nil {
		return schema.Blob{}, err
	}
	return schema.Blob_ServerToClient(&Blob{src: src, info: info}), nil
}

// ContentDigest returns the blob's content digest.
func (b *Blob) ContentDigest() store.Digest { return b.info.Digest }

// Size implements schema.Blob_Server.
func (b *Blob) Size(ctx context.Context, call schema.Blob_size) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetSize(uint64(b.info.Size))
	return nil
}

// Digest implements schema.Blob_Server.
func (b *Blob) Digest(ctx context.Context, call schema.Blob_digest) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetSha256(b.info.Digest[:])
}

// Read implements schema.Blob_Server.
func (b *Blob) Read(ctx context.Context, call schema.Blob_read) error {
	off, count := call.Args().Offset(), int64(call.Args().Count())
	size := uint64(b.info.Size)
	if off >= size || count == 0 {
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetData([]byte{})
	}
	count = min(count, MaxReadChunk, int64(size-off))
	buf := make([]byte, count)
	if err := b.readAt(buf, int64(off)); err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetData(buf)
}

func (b *Blob) readAt(buf []byte, off int64) error {
	f, err := b.src.OpenBlob(b.info.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return fmt.Errorf("read blob %s: %w", b.info.Digest.Short(), err)
	}
	return nil
}
