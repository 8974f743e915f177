package caps

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/wire"
)

// ErrInvalidTree: a tree's entries or its stored listing are malformed.
var ErrInvalidTree = errors.New("invalid tree")

// treeHeader starts every stored tree listing.
const treeHeader = "factoryd-tree v1\n"

// maxTreeEntries bounds one tree.
const maxTreeEntries = 10000

// TreeEntry is one named entry of a tree.
type TreeEntry struct {
	Name   string
	IsTree bool
	Digest store.Digest
	Size   int64 // blobs
}

// TreeStore is what trees need of the store. *store.Store satisfies it.
type TreeStore interface {
	BlobSource
	NewBlobWriter(max int64) (*store.BlobWriter, error)
}

// BuildTree stores the canonical listing of entries as a blob and returns its digest, the
// tree's identity. Every entry must name a stored blob, or a stored tree when IsTree; sizes are
// taken from the store. Names must be unique, non-empty UTF-8 without '/', NUL or newline, and
// not "." or "..".
func BuildTree(st TreeStore, entries []TreeEntry) (store.Digest, error) {
	if len(entries) > maxTreeEntries {
		return store.Digest{}, fmt.Errorf("%w: %d entries, at most %d", ErrInvalidTree, len(entries), maxTreeEntries)
	}
	sorted, err := checkEntries(st, entries)
	if err != nil {
		return store.Digest{}, err
	}
	w, err := st.NewBlobWriter(0)
	if err != nil {
		return store.Digest{}, err
	}
	defer w.Abort()
	if _, err := w.Write(encodeTree(sorted)); err != nil {
		return store.Digest{}, err
	}
	info, err := w.Commit()
	return info.Digest, err
}

func checkEntries(st TreeStore, entries []TreeEntry) ([]TreeEntry, error) {
	out := append([]TreeEntry(nil), entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := range out {
		e := &out[i]
		if err := checkEntryName(e.Name); err != nil {
			return nil, err
		}
		if i > 0 && out[i-1].Name == e.Name {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrInvalidTree, e.Name)
		}
		info, err := st.Blob(e.Digest)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.Name, err)
		}
		e.Size = info.Size
		if e.IsTree {
			if _, err := loadTree(st, e.Digest); err != nil {
				return nil, fmt.Errorf("entry %q: %w", e.Name, err)
			}
		}
	}
	return out, nil
}

func checkEntryName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || !utf8.ValidString(name) ||
		strings.ContainsAny(name, "/\x00\n") {
		return fmt.Errorf("%w: entry name %q", ErrInvalidTree, name)
	}
	return nil
}

// encodeTree writes the canonical listing: the header, then one line per entry, sorted by
// name: "<blob|tree> <sha256 hex> <size> <name>\n".
func encodeTree(entries []TreeEntry) []byte {
	var b bytes.Buffer
	b.WriteString(treeHeader)
	for _, e := range entries {
		kind := "blob"
		if e.IsTree {
			kind = "tree"
		}
		fmt.Fprintf(&b, "%s %s %d %s\n", kind, e.Digest, e.Size, e.Name)
	}
	return b.Bytes()
}

// loadTree reads and checks a stored listing.
func loadTree(src BlobSource, d store.Digest) ([]TreeEntry, error) {
	f, err := src.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := decodeTree(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", d.Short(), err)
	}
	return entries, nil
}

func decodeTree(r io.Reader) ([]TreeEntry, error) {
	br := bufio.NewReader(r)
	if h, err := br.ReadString('\n'); err != nil || h != treeHeader {
		return nil, fmt.Errorf("%w: not a tree listing", ErrInvalidTree)
	}
	var out []TreeEntry
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return out, nil
		}
		if err != nil || len(out) >= maxTreeEntries {
			return nil, fmt.Errorf("%w: truncated or oversized listing", ErrInvalidTree)
		}
		e, err := decodeEntry(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].Name >= e.Name {
			return nil, fmt.Errorf("%w: entries out of order", ErrInvalidTree)
		}
		out = append(out, e)
	}
}

func decodeEntry(line string) (TreeEntry, error) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) != 4 || (parts[0] != "blob" && parts[0] != "tree") {
		return TreeEntry{}, fmt.Errorf("%w: line %q", ErrInvalidTree, line)
	}
	d, err := digest.Parse(parts[1])
	if err != nil {
		return TreeEntry{}, fmt.Errorf("%w: %v", ErrInvalidTree, err)
	}
	size, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || size < 0 {
		return TreeEntry{}, fmt.Errorf("%w: size in %q", ErrInvalidTree, line)
	}
	if err := checkEntryName(parts[3]); err != nil {
		return TreeEntry{}, err
	}
	return TreeEntry{Name: parts[3], IsTree: parts[0] == "tree", Digest: d, Size: size}, nil
}

// Tree serves a stored tree. It never changes and never reports who reads it.
type Tree struct {
	src     BlobSource
	digest  store.Digest
	entries []TreeEntry
}

// NewTree returns a capability for the stored tree d. The caller owns the returned client.
func NewTree(src BlobSource, d store.Digest) (schema.Tree, error) {
	entries, err := loadTree(src, d)
	if err != nil {
		return schema.Tree{}, err
	}
	return schema.Tree_ServerToClient(&Tree{src: src, digest: d, entries: entries}), nil
}

// CapKind implements Branded.
func (t *Tree) CapKind() Kind { return KindTree }

// CapID implements Branded: a tree is its content.
func (t *Tree) CapID() string { return "tree:" + t.digest.String() }

// ContentDigest returns the tree's digest.
func (t *Tree) ContentDigest() store.Digest { return t.digest }

// List implements schema.Tree_Server.
func (t *Tree) List(ctx context.Context, call schema.Tree_list) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewEntries(int32(len(t.entries)))
	if err != nil {
		return err
	}
	for i, e := range t.entries {
		out := list.At(i)
		if err := out.SetName(e.Name); err != nil {
			return err
		}
		if e.IsTree {
			out.SetKind(schema.TreeEntryKind_tree)
		}
		if err := out.SetSha256(e.Digest[:]); err != nil {
			return err
		}
		out.SetSize(uint64(e.Size))
	}
	return nil
}

// Get implements schema.Tree_Server: the entry as a Blob or a Tree, both sensory.
func (t *Tree) Get(ctx context.Context, call schema.Tree_get) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	i := sort.Search(len(t.entries), func(i int) bool { return t.entries[i].Name >= name })
	if i == len(t.entries) || t.entries[i].Name != name {
		return wire.Errorf(wire.CodeNotFound, "tree entry %q: not found", name)
	}
	c, err := t.open(t.entries[i])
	if err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		c.Release()
		return err
	}
	return res.SetCap(c)
}

func (t *Tree) open(e TreeEntry) (capnp.Client, error) {
	if e.IsTree {
		c, err := NewTree(t.src, e.Digest)
		return capnp.Client(c), err
	}
	c, err := NewBlob(t.src, e.Digest)
	return capnp.Client(c), err
}

// Digest implements schema.Tree_Server.
func (t *Tree) Digest(ctx context.Context, call schema.Tree_digest) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetSha256(t.digest[:])
}
