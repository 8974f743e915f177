package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// LedgerPos is a position in a listing: Ledger returns the entries after it. Listings are
// ordered by (Factory, Seq); a factory listing looks at Seq only.
type LedgerPos struct {
	Factory FactoryID
	Seq     uint64
}

func (p LedgerPos) cmp(q LedgerPos) int {
	if c := bytes.Compare(p.Factory[:], q.Factory[:]); c != 0 {
		return c
	}
	return cmp.Compare(p.Seq, q.Seq)
}

// LedgerQuery selects entries. It must name a factory (the payee's view) or a payer (the
// payer's view), so that no query scans every factory; the daemon decides who may ask what.
//
//   - Payer set: the payer index is read; entries come ordered by (Factory, Seq). Factory, if
//     set, narrows the index range; Instance, if set, filters: listing one instance reads its
//     payer's entries (a per-instance index would add an insertion point per live instance to
//     every fold).
//   - Payer nil, Factory set: the factory's chain is read, ordered by Seq; Instance filters.
type LedgerQuery struct {
	Factory  FactoryID // zero: any
	Payer    *uint32   // the payer's uid; nil: any
	Instance string    // "": any
	// After resumes a listing: only entries after this position (the Pos of the last entry of
	// the previous page). The zero value starts at the beginning.
	After LedgerPos
	// Limit caps the number of entries returned; 0 means no cap.
	Limit int
}

func (q *LedgerQuery) keep(e *LedgerEntry) bool {
	return (q.Factory == FactoryID{} || e.Factory == q.Factory) && (q.Payer == nil || e.Payer.UID == *q.Payer) &&
		(q.Instance == "" || e.Instance == q.Instance) && e.Pos().cmp(q.After) > 0
}

// Ledger returns the entries q selects, each checked against its own hash (a damaged record
// is ErrCorrupt). It does not verify the chains: see VerifyLedger.
func (s *Store) Ledger(q LedgerQuery) ([]LedgerEntry, error) {
	if q.Payer == nil && q.Factory == (FactoryID{}) {
		return nil, fmt.Errorf("%w: a ledger query names a factory or a payer", ErrInvalid)
	}
	if q.Payer == nil { // a factory listing orders by Seq alone
		q.After.Factory = q.Factory
	}
	var out []LedgerEntry
	err := s.view(func(tx *bolt.Tx) (err error) {
		if q.Payer != nil {
			out, err = listByPayer(tx, q)
		} else {
			out, err = listByFactory(tx, q)
		}
		return err
	})
	return out, err
}

// forEachUnfolded calls fn, in commit order, with each log record not folded yet that match
// accepts. match sees only records long enough to hold a factory id and a payer (and so may
// read recordFactory and recordUID); a record too short even for that is ErrCorrupt. Records
// of others are not checked further: one damaged record does not fail everyone's reads.
func forEachUnfolded(tx *bolt.Tx, match func(rec []byte) bool, fn func(rec []byte) error) error {
	c := tx.Bucket(bucketLedgerLog).Cursor()
	for k, v := c.Seek(seqKey(tx.Bucket(bucketLedger).Sequence() + 1)); k != nil; k, v = c.Next() {
		if len(v) < 32 {
			return fmt.Errorf("%w: ledger record %x is truncated", ErrCorrupt, k)
		}
		if match(v) {
			if err := fn(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// unfoldedEntries decodes the unfolded records match accepts.
func unfoldedEntries(tx *bolt.Tx, match func(rec []byte) bool) ([]LedgerEntry, error) {
	var out []LedgerEntry
	err := forEachUnfolded(tx, match, func(rec []byte) error {
		e, err := decodeLedgerRecord(rec)
		if err != nil {
			return chainError(FactoryID(recordFactory(rec)), binary.BigEndian.Uint64(rec[4:]), "%v", err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// chainEntry reads the record an index names as entry seq of factory f.
func chainEntry(log *bolt.Bucket, f FactoryID, seq, n uint64) (LedgerEntry, error) {
	rec := log.Get(seqKey(n))
	if rec == nil {
		return LedgerEntry{}, chainError(f, seq, "the indexed record %d is missing", n)
	}
	e, err := decodeLedgerRecord(rec)
	switch {
	case err != nil:
		return e, chainError(f, seq, "%v", err)
	case e.Seq != seq || e.Factory != f:
		return e, chainError(f, seq, "the index names entry %d of factory %s", e.Seq, e.Factory)
	}
	return e, nil
}

// seekBlock positions c on the block that may hold key's first seq — the last block whose key
// is at most key, among those with prefix — or else on the first block after key.
func seekBlock(c *bolt.Cursor, key, prefix []byte) (k, v []byte) {
	k, v = c.Seek(key)
	if k != nil && bytes.Equal(k, key) {
		return k, v
	}
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil && bytes.HasPrefix(pk, prefix) {
		return pk, pv
	}
	return c.Seek(key)
}

func listByFactory(tx *bolt.Tx, q LedgerQuery) ([]LedgerEntry, error) {
	var out []LedgerEntry
	full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	if b := tx.Bucket(bucketLedger).Bucket(q.Factory[:]); b != nil {
		log := tx.Bucket(bucketLedgerLog)
		c := b.Cursor()
		for k, v := seekBlock(c, seqKey(q.After.Seq+1), nil); k != nil && !full(); k, v = c.Next() {
			ns, err := decodeChainBlock(v)
			if err != nil || len(k) != 8 {
				return nil, chainError(q.Factory, q.After.Seq+1, "chain block %x: %v", k, errBadBlock)
			}
			first := binary.BigEndian.Uint64(k)
			for i, n := range ns {
				seq := first + uint64(i)
				if seq <= q.After.Seq || full() {
					continue
				}
				e, err := chainEntry(log, q.Factory, seq, n)
				if err != nil {
					return nil, err
				}
				if q.keep(&e) {
					out = append(out, e)
				}
			}
		}
	}
	if full() {
		return out, nil
	}
	unfolded, err := unfoldedEntries(tx, func(rec []byte) bool { return bytes.Equal(recordFactory(rec), q.Factory[:]) })
	for _, e := range unfolded {
		if q.keep(&e) && !full() {
			out = append(out, e)
		}
	}
	return out, err
}

func listByPayer(tx *bolt.Tx, q LedgerQuery) ([]LedgerEntry, error) {
	uid := *q.Payer
	unfolded, err := unfoldedEntries(tx, func(rec []byte) bool { return recordUID(rec) == uid })
	if err != nil {
		return nil, err
	}
	unfolded = slices.DeleteFunc(unfolded, func(e LedgerEntry) bool { return !q.keep(&e) })
	folded, err := listFoldedByPayer(tx, q)
	if err != nil {
		return nil, err
	}
	// The first Limit of the union are among the first Limit of each part.
	out := append(folded, unfolded...)
	slices.SortFunc(out, func(a, b LedgerEntry) int { return a.Pos().cmp(b.Pos()) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func listFoldedByPayer(tx *bolt.Tx, q LedgerQuery) ([]LedgerEntry, error) {
	uid := *q.Payer
	prefix := binary.BigEndian.AppendUint32(nil, uid)
	if q.Factory != (FactoryID{}) {
		prefix = append(prefix, q.Factory[:]...)
	}
	from := payerBlockKey(nil, uid, q.After.Factory[:], q.After.Seq+1)
	if bytes.Compare(from, prefix) < 0 {
		from = prefix
	}
	var out []LedgerEntry
	log := tx.Bucket(bucketLedgerLog)
	c := tx.Bucket(bucketLedgerByPayer).Cursor()
	for k, v := seekBlock(c, from, from[:4+16]); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		_, f, first, ok := parsePayerBlockKey(k)
		if !ok {
			return nil, fmt.Errorf("%w: malformed payer index key %x", ErrCorrupt, k)
		}
		seqs, ns, err := decodePayerBlock(first, v)
		if err != nil {
			return nil, chainError(f, first, "payer %d: %v", uid, err)
		}
		for i, seq := range seqs {
			if (LedgerPos{Factory: f, Seq: seq}).cmp(q.After) <= 0 {
				continue
			}
			e, err := chainEntry(log, f, seq, ns[i])
			if err != nil {
				return nil, err
			}
			if e.Payer.UID != uid {
				return nil, chainError(f, seq, "the payer index names uid %d, the entry %d", uid, e.Payer.UID)
			}
			if q.keep(&e) {
				out = append(out, e)
			}
			if q.Limit > 0 && len(out) >= q.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// LedgerFactories returns the factories that have a ledger, destroyed ones included, ordered
// by id.
func (s *Store) LedgerFactories() ([]FactoryID, error) {
	var out []FactoryID
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLedgerHeads).ForEach(func(k, v []byte) error {
			if len(k) != len(FactoryID{}) {
				return fmt.Errorf("%w: ledger head under key %x", ErrCorrupt, k)
			}
			out = append(out, FactoryID(k))
			return nil
		})
	})
	return out, err
}

// VerifyLedger walks the factory's chain from its first entry and returns its head. It
// reports the first broken link as a *ChainError (wrapping ErrCorrupt): an entry missing,
// malformed, under the wrong key or of another factory, not linking to its predecessor, or not
// matching its own hash; a chain that ends before or after its recorded head; or (for folded
// entries) a payer index that does not list exactly the chain's entries of each payer. Each
// checkpoint, a head someone remembered, must still be in the chain. A factory without a
// ledger has the empty head.
func (s *Store) VerifyLedger(f FactoryID, checkpoints ...LedgerHead) (LedgerHead, error) {
	var head LedgerHead
	err := s.view(func(tx *bolt.Tx) error {
		v := &chainVerifier{f: f, checkpoints: checkpoints, seen: map[uint64]LedgerHash{}, payers: map[uint32]*foldPayer{}}
		for _, cp := range checkpoints {
			v.seen[cp.Seq] = LedgerHash{}
		}
		err := v.verify(tx)
		head = v.head
		return err
	})
	return head, err
}

// chainVerifier walks one chain: folded entries, then unfolded ones.
type chainVerifier struct {
	f           FactoryID
	head        LedgerHead
	checkpoints []LedgerHead
	seen        map[uint64]LedgerHash // hashes found at the checkpoints' sequences
	payers      map[uint32]*foldPayer // the folded entries of each payer, as the chain has them
}

func (v *chainVerifier) verify(tx *bolt.Tx) error {
	if err := v.folded(tx); err != nil {
		return err
	}
	if err := v.payerIndex(tx); err != nil {
		return err
	}
	err := forEachUnfolded(tx, func(rec []byte) bool { return bytes.Equal(recordFactory(rec), v.f[:]) }, func(rec []byte) error {
		e, err := decodeLedgerRecord(rec)
		if err != nil {
			return chainError(v.f, v.head.Seq+1, "%v", err)
		}
		return v.next(&e)
	})
	if err != nil {
		return err
	}
	return v.finish(tx)
}

func (v *chainVerifier) folded(tx *bolt.Tx) error {
	b := tx.Bucket(bucketLedger).Bucket(v.f[:])
	if b == nil {
		return nil
	}
	log := tx.Bucket(bucketLedgerLog)
	c := b.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		want := v.head.Seq + 1
		if len(k) != 8 || binary.BigEndian.Uint64(k) != want {
			return chainError(v.f, want, "missing (the next block starts at %x)", k)
		}
		ns, err := decodeChainBlock(val)
		if err != nil {
			return chainError(v.f, want, "%v", err)
		}
		for _, n := range ns {
			e, err := chainEntry(log, v.f, v.head.Seq+1, n)
			if err != nil {
				return err
			}
			if err := v.next(&e); err != nil {
				return err
			}
			p := v.payers[e.Payer.UID]
			if p == nil {
				p = &foldPayer{}
				v.payers[e.Payer.UID] = p
			}
			p.seqs, p.ns = append(p.seqs, e.Seq), append(p.ns, n)
		}
	}
	if v.head.Seq != b.Sequence() {
		return chainError(v.f, v.head.Seq+1, "missing: the folded chain ends at %d but %d entries were folded",
			v.head.Seq, b.Sequence())
	}
	return nil
}

// payerIndex checks that the payer index lists, for each payer, exactly the folded entries
// the chain holds for it, and nothing else of this factory.
func (v *chainVerifier) payerIndex(tx *bolt.Tx) error {
	c := tx.Bucket(bucketLedgerByPayer).Cursor()
	indexed := map[uint32]*foldPayer{}
	for k, val := c.First(); k != nil; {
		uid, f, first, ok := parsePayerBlockKey(k)
		if !ok {
			return fmt.Errorf("%w: malformed payer index key %x", ErrCorrupt, k)
		}
		// Jump to this payer's blocks of the factory, or past them to the next payer's.
		if d := bytes.Compare(f[:], v.f[:]); d < 0 {
			k, val = c.Seek(payerBlockKey(nil, uid, v.f[:], 0))
			continue
		} else if d > 0 {
			if uid == ^uint32(0) {
				break
			}
			k, val = c.Seek(payerBlockKey(nil, uid+1, v.f[:], 0))
			continue
		}
		seqs, ns, err := decodePayerBlock(first, val)
		if err != nil {
			return chainError(v.f, first, "payer %d: %v", uid, err)
		}
		p := indexed[uid]
		if p == nil {
			p = &foldPayer{}
			indexed[uid] = p
		}
		p.seqs, p.ns = append(p.seqs, seqs...), append(p.ns, ns...)
		k, val = c.Next()
	}
	for uid, want := range v.payers {
		got := indexed[uid]
		if got == nil || !slices.Equal(got.seqs, want.seqs) || !slices.Equal(got.ns, want.ns) {
			return chainError(v.f, firstDiff(got, want), "the payer index of uid %d does not match the chain", uid)
		}
	}
	for uid, got := range indexed {
		if v.payers[uid] == nil {
			return chainError(v.f, got.seqs[0], "the payer index lists entries of uid %d the chain does not", uid)
		}
	}
	return nil
}

// firstDiff returns the first seq where the two lists differ.
func firstDiff(got, want *foldPayer) uint64 {
	if got == nil {
		return want.seqs[0]
	}
	for i := range min(len(got.seqs), len(want.seqs)) {
		if got.seqs[i] != want.seqs[i] || got.ns[i] != want.ns[i] {
			return min(got.seqs[i], want.seqs[i])
		}
	}
	if len(got.seqs) < len(want.seqs) {
		return want.seqs[len(got.seqs)]
	}
	return got.seqs[len(want.seqs)]
}

// next checks that e is the next link of the chain and moves the head to it.
func (v *chainVerifier) next(e *LedgerEntry) error {
	want := v.head.Seq + 1
	switch {
	case e.Seq != want:
		return chainError(v.f, want, "holds entry %d", e.Seq)
	case e.Factory != v.f:
		return chainError(v.f, want, "holds an entry of factory %s", e.Factory)
	case e.Prev != v.head.Hash:
		return chainError(v.f, want, "does not link to entry %d", v.head.Seq)
	}
	v.head = LedgerHead{Seq: e.Seq, Hash: e.Hash}
	if _, ok := v.seen[e.Seq]; ok {
		v.seen[e.Seq] = e.Hash
	}
	return nil
}

// finish compares the end of the walk with the recorded head and the checkpoints.
func (v *chainVerifier) finish(tx *bolt.Tx) error {
	var recorded LedgerHead
	if val := tx.Bucket(bucketLedgerHeads).Get(v.f[:]); val != nil {
		var err error
		if recorded, err = decodeHead(v.f, val); err != nil {
			return err
		}
	}
	if recorded != v.head {
		at := min(recorded.Seq, v.head.Seq) + 1 // the first entry the two disagree about
		if recorded.Seq == v.head.Seq {
			at = v.head.Seq
		}
		return chainError(v.f, at, "the chain ends at %d, its recorded head is %d %s", v.head.Seq, recorded.Seq, recorded.Hash)
	}
	for _, cp := range v.checkpoints {
		switch {
		case cp.Seq == 0:
		case cp.Seq > v.head.Seq:
			return chainError(v.f, v.head.Seq+1, "checkpoint %d is past the end of the chain", cp.Seq)
		case v.seen[cp.Seq] != cp.Hash:
			return chainError(v.f, cp.Seq, "does not match the checkpoint %s", cp.Hash)
		}
	}
	return nil
}

// PayerFactories returns, ordered by id, the factories whose ledgers hold entries paid by uid.
func (s *Store) PayerFactories(uid uint32) ([]FactoryID, error) {
	seen := map[FactoryID]bool{}
	err := s.view(func(tx *bolt.Tx) error {
		prefix := binary.BigEndian.AppendUint32(nil, uid)
		c := tx.Bucket(bucketLedgerByPayer).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
			_, f, _, ok := parsePayerBlockKey(k)
			if !ok {
				return fmt.Errorf("%w: malformed payer index key %x", ErrCorrupt, k)
			}
			seen[f] = true
			// Skip the factory's other blocks: seek past its last possible key.
			next := payerBlockKey(nil, uid, f[:], ^uint64(0))
			if k, _ = c.Seek(next); k != nil && bytes.Equal(k, next) {
				k, _ = c.Next()
			}
		}
		return forEachUnfolded(tx, func(rec []byte) bool { return recordUID(rec) == uid }, func(rec []byte) error {
			seen[FactoryID(recordFactory(rec))] = true
			return nil
		})
	})
	out := make([]FactoryID, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b FactoryID) int { return bytes.Compare(a[:], b[:]) })
	return out, err
}
