package factory

import (
	"context"
	"sync"

	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// upload receives one blob. Releasing it before commit discards what was written.
type upload struct {
	d *Daemon

	mu sync.Mutex // guards w
	w  *store.BlobWriter
}

func (u *upload) Write(ctx context.Context, call schema.BlobUpload_write) error {
	data, err := call.Args().Data()
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, err := u.w.Write(data); err != nil {
		return toWire(err)
	}
	return nil
}

func (u *upload) Commit(ctx context.Context, call schema.BlobUpload_commit) error {
	u.mu.Lock()
	info, err := u.w.Commit()
	u.mu.Unlock()
	if err != nil {
		return toWire(err)
	}
	b, err := caps.NewBlob(u.d.st, info.Digest)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		b.Release()
		return err
	}
	if err := res.SetSha256(info.Digest[:]); err != nil {
		b.Release()
		return err
	}
	return res.SetBlob(b)
}

// Shutdown runs when the last reference is released.
func (u *upload) Shutdown() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.w.Abort()
}
