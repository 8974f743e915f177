package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// Tree is a sensory tree served by the daemon. Release it when done.
type Tree struct {
	cap    schema.Tree
	Digest digest.Digest
}

// Cap lends the tree's capability (to install it as a sensory component, say).
func (t *Tree) Cap() capnp.Client { return capnp.Client(t.cap) }

// Release drops the tree.
func (t *Tree) Release() {
	if t != nil {
		t.cap.Release()
	}
}

// UploadTree uploads the regular files and directories under dir as a tree of blobs. Symbolic
// links and other special files are refused.
func (c *Client) UploadTree(ctx context.Context, dir string) (*Tree, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var entries []treeEntry
	for _, e := range ents {
		te, err := c.uploadEntry(ctx, filepath.Join(dir, e.Name()), e)
		if err != nil {
			return nil, err
		}
		entries = append(entries, te)
	}
	return c.newTree(ctx, entries)
}

type treeEntry struct {
	name   string
	isTree bool
	digest digest.Digest
}

func (c *Client) uploadEntry(ctx context.Context, path string, e os.DirEntry) (treeEntry, error) {
	switch {
	case e.IsDir():
		sub, err := c.UploadTree(ctx, path)
		if err != nil {
			return treeEntry{}, err
		}
		defer sub.Release()
		return treeEntry{name: e.Name(), isTree: true, digest: sub.Digest}, nil
	case e.Type().IsRegular():
		d, err := c.UploadFile(ctx, path)
		return treeEntry{name: e.Name(), digest: d}, err
	}
	return treeEntry{}, fmt.Errorf("%s: only regular files and directories can go in a tree", path)
}

func (c *Client) newTree(ctx context.Context, entries []treeEntry) (*Tree, error) {
	fut, release := c.daemon.NewTree(ctx, func(p schema.Daemon_newTree_Params) error {
		list, err := p.NewEntries(int32(len(entries)))
		if err != nil {
			return err
		}
		for i, e := range entries {
			out := list.At(i)
			if err := out.SetName(e.name); err != nil {
				return err
			}
			if e.isTree {
				out.SetKind(schema.TreeEntryKind_tree)
			}
			if err := out.SetSha256(e.digest[:]); err != nil {
				return err
			}
		}
		return nil
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	t := res.Tree().AddRef()
	dfut, drelease := t.Digest(ctx, nil)
	defer drelease()
	dres, err := dfut.Struct()
	if err != nil {
		t.Release()
		return nil, wire.Decode(err)
	}
	b, _ := dres.Sha256()
	d, err := digest.FromBytes(b)
	if err != nil {
		t.Release()
		return nil, err
	}
	return &Tree{cap: t, Digest: d}, nil
}

// Blob returns a capability for a stored blob, to install it as a sensory component, say.
func (c *Client) Blob(ctx context.Context, d digest.Digest) (capnp.Client, error) {
	fut, release := c.daemon.Blob(ctx, func(p schema.Daemon_blob_Params) error { return p.SetSha256(d[:]) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return capnp.Client{}, wire.Decode(err)
	}
	return capnp.Client(res.Blob()).AddRef(), nil
}
