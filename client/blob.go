package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// uploadChunk is the size of one write; uploadWindow bounds the writes in flight.
const (
	uploadChunk  = 256 << 10
	uploadWindow = 8
)

// Upload stores everything r yields as a blob and returns its digest.
func (c *Client) Upload(ctx context.Context, r io.Reader) (digest.Digest, error) {
	fut, release := c.daemon.UploadBlob(ctx, nil)
	defer release()
	up := fut.Upload()
	if err := writeAll(ctx, up, r); err != nil {
		return digest.Digest{}, err
	}
	cf, crel := up.Commit(ctx, nil)
	defer crel()
	res, err := cf.Struct()
	if err != nil {
		return digest.Digest{}, wire.Decode(err)
	}
	b, err := res.Sha256()
	if err != nil {
		return digest.Digest{}, err
	}
	return digest.FromBytes(b)
}

// writeAll streams r into up, keeping up to uploadWindow writes in flight; the daemon applies
// them in order.
func writeAll(ctx context.Context, up schema.BlobUpload, r io.Reader) error {
	var inflight []func() error
	wait := func() error {
		err := inflight[0]()
		inflight = inflight[1:]
		return err
	}
	buf := make([]byte, uploadChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if len(inflight) == uploadWindow {
				if err := wait(); err != nil {
					return err
				}
			}
			inflight = append(inflight, sendChunk(ctx, up, buf[:n]))
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read: %w", rerr)
		}
	}
	for len(inflight) > 0 {
		if err := wait(); err != nil {
			return err
		}
	}
	return nil
}

func sendChunk(ctx context.Context, up schema.BlobUpload, data []byte) func() error {
	fut, release := up.Write(ctx, func(p schema.BlobUpload_write_Params) error {
		return p.SetData(data) // copies data into the message
	})
	return func() error {
		defer release()
		_, err := fut.Struct()
		return wire.Decode(err)
	}
}

// UploadFile stores the file at path as a blob.
func (c *Client) UploadFile(ctx context.Context, path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return digest.Digest{}, err
	}
	defer f.Close()
	return c.Upload(ctx, f)
}
