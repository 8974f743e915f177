package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var ledgerEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testEntry returns a valid entry for factory f (a small number), payer uid, instance i.
func testEntry(f byte, uid uint32, instance string, units uint64) LedgerEntry {
	return LedgerEntry{Factory: FactoryID{f}, Instance: instance, Payer: Principal{UID: uid, GID: uid},
		Kind: "pages", Units: units, PeriodStart: ledgerEpoch, PeriodEnd: ledgerEpoch.Add(time.Minute),
		Time: ledgerEpoch.Add(time.Minute)}
}

func fold(t *testing.T, s *Store) {
	t.Helper()
	_, err := s.foldLedgerNow(nil)
	require.NoError(t, err)
}

// verifyAll verifies every chain and returns the total number of entries.
func verifyAll(t *testing.T, s *Store) uint64 {
	t.Helper()
	fs, err := s.LedgerFactories()
	require.NoError(t, err)
	var n uint64
	for _, f := range fs {
		h, err := s.VerifyLedger(f)
		require.NoError(t, err, "factory %s", f)
		n += h.Seq
	}
	return n
}

func TestMigrateLedgerBuckets(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketLedgerLog, bucketLedger, bucketLedgerHeads, bucketLedgerByPayer} {
			assert.NotNil(t, tx.Bucket(b), "bucket %s", b)
		}
		return nil
	}))
}

func TestMigrateLedgerFromSchema1(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return applyMigration(tx, migrations[0]) }))
	id := NewFactoryID()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFactories).Put(id[:], []byte(`{"name":"old"}`))
	}))
	require.NoError(t, db.Close())

	s, err := Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.Version()
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion(), v, "every later migration applies in order")
	f, err := s.Factory(id)
	require.NoError(t, err)
	assert.Equal(t, "old", f.Name)
	got, err := s.AppendLedger(testEntry(1, 1000, "i-1", 5))
	require.NoError(t, err)
	assert.EqualValues(t, 1, got[0].Seq)
}

// TestLedgerEncoding rebuilds the canonical encoding from the table in ledger.go, byte by
// byte, so that the documentation and the code cannot drift apart.
func TestLedgerEncoding(t *testing.T) {
	e := LedgerEntry{Seq: 7, Factory: FactoryID{0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x0f},
		Instance: "i-42", Payer: Principal{UID: 1000, GID: 100}, Kind: "cpu-seconds", Units: 30,
		PeriodStart: time.Unix(1_900_000_000, 0), PeriodEnd: time.Unix(1_900_000_060, 0), Time: time.Unix(1_900_000_060, 5)}
	e.Prev = sha256.Sum256([]byte("previous"))

	var want []byte
	want = append(want, "fdl1"...)
	want = binary.BigEndian.AppendUint64(want, 7)
	want = append(want, e.Factory[:]...)
	want = binary.BigEndian.AppendUint32(want, 1000)
	want = binary.BigEndian.AppendUint32(want, 100)
	want = binary.BigEndian.AppendUint64(want, 30)
	want = binary.BigEndian.AppendUint64(want, 1_900_000_000_000_000_000)
	want = binary.BigEndian.AppendUint64(want, 1_900_000_060_000_000_000)
	want = binary.BigEndian.AppendUint64(want, 1_900_000_060_000_000_005)
	want = append(want, e.Prev[:]...)
	want = append(want, byte(len("cpu-seconds")))
	want = append(want, "cpu-seconds"...)
	want = append(want, 4)
	want = append(want, "i-42"...)
	require.Len(t, want, 102+11+4)
	hash := sha256.Sum256(want)
	want = append(want, hash[:]...)

	got := appendLedgerRecord(nil, &e)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
	assert.Equal(t, LedgerHash(hash), e.Hash)
	assert.Equal(t, ledgerRecordSize(&e), len(got))

	back, err := decodeLedgerRecord(got)
	require.NoError(t, err)
	assert.True(t, back.PeriodStart.Equal(e.PeriodStart) && back.Time.Equal(e.Time))
	back.PeriodStart, back.PeriodEnd, back.Time = e.PeriodStart, e.PeriodEnd, e.Time
	assert.Equal(t, e, back)
}

func TestLedgerRejectsInvalidEntries(t *testing.T) {
	s := openTemp(t)
	ok := testEntry(1, 1000, "i-1", 1)
	tests := []struct {
		name   string
		mutate func(e *LedgerEntry)
	}{
		{"no factory", func(e *LedgerEntry) { e.Factory = FactoryID{} }},
		{"empty kind", func(e *LedgerEntry) { e.Kind = "" }},
		{"long kind", func(e *LedgerEntry) { e.Kind = strings.Repeat("k", MaxLedgerKind+1) }},
		{"kind with a space", func(e *LedgerEntry) { e.Kind = "cpu seconds" }},
		{"empty instance", func(e *LedgerEntry) { e.Instance = "" }},
		{"long instance", func(e *LedgerEntry) { e.Instance = strings.Repeat("i", MaxLedgerInstance+1) }},
		{"unprintable instance", func(e *LedgerEntry) { e.Instance = "i-\n" }},
		{"zero time", func(e *LedgerEntry) { e.Time = time.Time{} }},
		{"time beyond 2262", func(e *LedgerEntry) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"period ends before it starts", func(e *LedgerEntry) { e.PeriodEnd = e.PeriodStart.Add(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mutate(&e)
			_, err := s.AppendLedger(ok, e)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}
	h, err := s.VerifyLedger(ok.Factory)
	require.NoError(t, err)
	assert.Zero(t, h.Seq, "nothing was appended")
	_, err = s.Ledger(LedgerQuery{})
	assert.ErrorIs(t, err, ErrInvalid, "a query names a factory or a payer")
}

func TestLedgerAppendAssignsChain(t *testing.T) {
	s := openTemp(t)
	got, err := s.AppendLedger(testEntry(1, 1000, "i-a", 1), testEntry(2, 1000, "i-b", 2), testEntry(1, 1001, "i-c", 3))
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 1, 2}, []uint64{got[0].Seq, got[1].Seq, got[2].Seq}, "sequences are per factory")
	assert.Equal(t, LedgerHash{}, got[0].Prev)
	assert.Equal(t, got[0].Hash, got[2].Prev)
	more, err := s.AppendLedger(testEntry(1, 1000, "i-a", 4))
	require.NoError(t, err)
	assert.EqualValues(t, 3, more[0].Seq)
	assert.Equal(t, got[2].Hash, more[0].Prev)

	for _, state := range []string{"unfolded", "folded"} {
		if state == "folded" {
			fold(t, s)
		}
		h, err := s.VerifyLedger(FactoryID{1}, LedgerHead{Seq: 2, Hash: got[2].Hash})
		require.NoError(t, err, state)
		assert.Equal(t, LedgerHead{Seq: 3, Hash: more[0].Hash}, h, state)
		list, err := s.Ledger(LedgerQuery{Factory: FactoryID{1}})
		require.NoError(t, err)
		assert.Equal(t, []LedgerEntry{utc(got[0]), utc(got[2]), utc(more[0])}, list, state)
	}
	fs, err := s.LedgerFactories()
	require.NoError(t, err)
	assert.Equal(t, []FactoryID{{1}, {2}}, fs)
}

// utc returns e with its times as decoding returns them.
func utc(e LedgerEntry) LedgerEntry {
	e.PeriodStart, e.PeriodEnd, e.Time = e.PeriodStart.UTC(), e.PeriodEnd.UTC(), e.Time.UTC()
	return e
}

// ledgerModel appends random entries, folding at random moments, and keeps what was
// acknowledged.
type ledgerModel struct {
	entries []LedgerEntry
}

func (m *ledgerModel) fill(t *testing.T, s *Store, r *rand.Rand, n int) {
	t.Helper()
	for len(m.entries) < n {
		var batch []LedgerEntry
		for range r.IntN(20) + 1 {
			uid := uint32(1000 + r.IntN(5))
			batch = append(batch, testEntry(byte(1+r.IntN(4)), uid, fmt.Sprintf("i-%d-%d", uid, r.IntN(3)), uint64(r.IntN(100))))
		}
		got, err := s.AppendLedger(batch...)
		require.NoError(t, err)
		for _, e := range got {
			m.entries = append(m.entries, utc(e))
		}
		if r.IntN(4) == 0 {
			fold(t, s)
		}
	}
}

// want returns the entries q must list, in listing order.
func (m *ledgerModel) want(q LedgerQuery) []LedgerEntry {
	var out []LedgerEntry
	for _, e := range m.entries {
		if q.keep(&e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b LedgerEntry) int { return a.Pos().cmp(b.Pos()) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// listAll pages through q, limit entries at a time.
func listAll(t *testing.T, s *Store, q LedgerQuery, limit int) []LedgerEntry {
	t.Helper()
	var out []LedgerEntry
	q.Limit = limit
	for {
		page, err := s.Ledger(q)
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < limit || limit == 0 {
			return out
		}
		q.After = page[len(page)-1].Pos()
	}
}

func TestLedgerIsolation(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(1, 2))
	m := &ledgerModel{}
	for _, n := range []int{150, 400} { // the second round leaves a mix of folded and unfolded
		m.fill(t, s, r, n)
		for uid := uint32(1000); uid < 1006; uid++ {
			q := LedgerQuery{Payer: &uid}
			want := m.want(q)
			for _, e := range listAll(t, s, q, 0) {
				require.Equal(t, uid, e.Payer.UID, "a payer sees only its own entries")
			}
			assert.Equal(t, want, listAll(t, s, q, 0), "payer %d", uid)
			assert.Equal(t, want, listAll(t, s, q, 7), "payer %d, paged", uid)
			for f := byte(1); f <= 4; f++ {
				qf := LedgerQuery{Payer: &uid, Factory: FactoryID{f}}
				assert.Equal(t, m.want(qf), listAll(t, s, qf, 5), "payer %d factory %d", uid, f)
			}
			qi := LedgerQuery{Payer: &uid, Instance: fmt.Sprintf("i-%d-1", uid)}
			assert.Equal(t, m.want(qi), listAll(t, s, qi, 3), "payer %d, one instance", uid)
			other := LedgerQuery{Payer: &uid, Instance: "i-1001-1"}
			if uid != 1001 {
				assert.Empty(t, listAll(t, s, other, 0), "another payer's instance")
			}
		}
		for f := byte(1); f <= 5; f++ {
			q := LedgerQuery{Factory: FactoryID{f}}
			for _, e := range listAll(t, s, q, 0) {
				require.Equal(t, FactoryID{f}, e.Factory, "a payee sees only its factory's entries")
			}
			assert.Equal(t, m.want(q), listAll(t, s, q, 0), "factory %d", f)
			assert.Equal(t, m.want(q), listAll(t, s, q, 9), "factory %d, paged", f)
			qi := LedgerQuery{Factory: FactoryID{f}, Instance: "i-1002-0"}
			assert.Equal(t, m.want(qi), listAll(t, s, qi, 4), "factory %d, one instance", f)
		}
		assert.EqualValues(t, len(m.entries), verifyAll(t, s))
	}
}

// ledgerFixture appends entries to two factories; entries of factory 1 are folded or not.
func ledgerFixture(t *testing.T, folded bool) (*Store, []LedgerEntry) {
	t.Helper()
	s := openTemp(t)
	var got []LedgerEntry
	for i := range 6 {
		e, err := s.AppendLedger(testEntry(1, 1000+uint32(i%2), fmt.Sprintf("i-%d", i%3), uint64(10+i)), testEntry(2, 1000, "i-x", 1))
		require.NoError(t, err)
		got = append(got, e[0])
	}
	if folded {
		fold(t, s)
	}
	return s, got
}

// logKeyOf returns the log position of entry seq of factory 1.
func logKeyOf(t *testing.T, tx *bolt.Tx, seq uint64) []byte {
	t.Helper()
	c := tx.Bucket(bucketLedgerLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if recordFactory(v)[0] == 1 && recordSeq(v) == seq {
			return append([]byte(nil), k...)
		}
	}
	t.Fatalf("entry %d not found", seq)
	return nil
}

func TestLedgerTamperingDetected(t *testing.T) {
	type tamper func(t *testing.T, tx *bolt.Tx, entries []LedgerEntry) error
	flip := func(seq uint64, off int) tamper {
		return func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			log := tx.Bucket(bucketLedgerLog)
			k := logKeyOf(t, tx, seq)
			v := append([]byte(nil), log.Get(k)...)
			at := off
			if at < 0 {
				at += len(v)
			}
			v[at] ^= 0x01
			return log.Put(k, v)
		}
	}
	tests := []struct {
		name    string
		seq     uint64 // where the break must be reported
		folded  bool   // with onlyOne: the one state to run in
		onlyOne bool   // run in one state only (folded or not), else in both
		tamper  tamper
	}{
		{name: "units of entry 3", seq: 3, tamper: flip(3, 36+7)},
		{name: "kind of entry 2", seq: 2, tamper: flip(2, ledgerFixedSize+1)},
		{name: "payer of entry 4", seq: 4, tamper: flip(4, 31)},
		{name: "time of entry 5", seq: 5, tamper: flip(5, 60+7)},
		{name: "prev hash of entry 2", seq: 2, tamper: flip(2, 68)},
		{name: "own hash of entry 6", seq: 6, tamper: flip(6, -1)},
		{name: "seq of entry 1", seq: 1, tamper: flip(1, 11)},
		{name: "magic of entry 3", seq: 3, tamper: flip(3, 0)},
		{name: "entry 3 deleted", seq: 3, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			return tx.Bucket(bucketLedgerLog).Delete(logKeyOf(t, tx, 3))
		}},
		{name: "last entry deleted", seq: 6, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			return tx.Bucket(bucketLedgerLog).Delete(logKeyOf(t, tx, 6))
		}},
		{name: "entries 2 and 3 swapped", seq: 2, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			log := tx.Bucket(bucketLedgerLog)
			k2, k3 := logKeyOf(t, tx, 2), logKeyOf(t, tx, 3)
			v2, v3 := append([]byte(nil), log.Get(k2)...), append([]byte(nil), log.Get(k3)...)
			return errors.Join(log.Put(k2, v3), log.Put(k3, v2))
		}},
		{name: "forged entry 3, correctly hashed", seq: 4, tamper: func(t *testing.T, tx *bolt.Tx, es []LedgerEntry) error {
			forged := es[2]
			forged.Units = 1_000_000
			return tx.Bucket(bucketLedgerLog).Put(logKeyOf(t, tx, 3), appendLedgerRecord(nil, &forged))
		}},
		{name: "forged last entry, correctly hashed", seq: 6, tamper: func(t *testing.T, tx *bolt.Tx, es []LedgerEntry) error {
			forged := es[5]
			forged.Units = 1_000_000
			return tx.Bucket(bucketLedgerLog).Put(logKeyOf(t, tx, 6), appendLedgerRecord(nil, &forged))
		}},
		{name: "entry inserted between 2 and 3", seq: 4, tamper: func(t *testing.T, tx *bolt.Tx, es []LedgerEntry) error {
			// A valid entry 3 linking to entry 2, then the old entries renumbered after it: the
			// first of them no longer matches its hash.
			log := tx.Bucket(bucketLedgerLog)
			ins := es[2]
			ins.Units = 99
			recs := [][]byte{appendLedgerRecord(nil, &ins)}
			for seq := uint64(3); seq <= 6; seq++ {
				recs = append(recs, append([]byte(nil), log.Get(logKeyOf(t, tx, seq))...))
			}
			n, _ := log.NextSequence()
			if err := log.Put(seqKey(n), recs[len(recs)-1]); err != nil {
				return err
			}
			for i, seq := 0, uint64(3); seq <= 6; i, seq = i+1, seq+1 {
				rec := append([]byte(nil), recs[i]...)
				binary.BigEndian.PutUint64(rec[4:], seq)
				if err := log.Put(logKeyOf(t, tx, seq), rec); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "head rewound", seq: 5, tamper: func(t *testing.T, tx *bolt.Tx, es []LedgerEntry) error {
			return tx.Bucket(bucketLedgerHeads).Put([]byte{1, 15: 0}, appendHead(nil, LedgerHead{Seq: 4, Hash: es[3].Hash}))
		}},
		{name: "chain block points elsewhere", seq: 1, folded: true, onlyOne: true, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			b := tx.Bucket(bucketLedger).Bucket([]byte{1, 15: 0})
			ns, err := decodeChainBlock(b.Get(seqKey(1)))
			require.NoError(t, err)
			ns[0]++ // the record of factory 2 appended just after
			return b.Put(seqKey(1), appendChainBlock(nil, ns))
		}},
		{name: "chain block deleted", seq: 1, folded: true, onlyOne: true, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			return tx.Bucket(bucketLedger).Bucket([]byte{1, 15: 0}).Delete(seqKey(1))
		}},
		{name: "payer block deleted", seq: 2, folded: true, onlyOne: true, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			return tx.Bucket(bucketLedgerByPayer).Delete(payerBlockKey(nil, 1001, []byte{1, 15: 0}, 2))
		}},
		{name: "payer block moved to another payer", seq: 2, folded: true, onlyOne: true, tamper: func(t *testing.T, tx *bolt.Tx, _ []LedgerEntry) error {
			idx := tx.Bucket(bucketLedgerByPayer)
			k := payerBlockKey(nil, 1001, []byte{1, 15: 0}, 2)
			v := append([]byte(nil), idx.Get(k)...)
			return errors.Join(idx.Delete(k), idx.Put(payerBlockKey(nil, 1002, []byte{1, 15: 0}, 2), v))
		}},
	}
	for _, tt := range tests {
		for _, folded := range []bool{false, true} {
			if tt.onlyOne && folded != tt.folded {
				continue
			}
			t.Run(fmt.Sprintf("%s/folded=%v", tt.name, folded), func(t *testing.T) {
				s, entries := ledgerFixture(t, folded)
				_, err := s.VerifyLedger(FactoryID{1})
				require.NoError(t, err)
				require.NoError(t, s.db.Update(func(tx *bolt.Tx) error { return tt.tamper(t, tx, entries) }))
				_, err = s.VerifyLedger(FactoryID{1})
				var ce *ChainError
				require.ErrorAs(t, err, &ce)
				assert.ErrorIs(t, err, ErrCorrupt)
				assert.Equal(t, FactoryID{1}, ce.Factory)
				assert.Equal(t, tt.seq, ce.Seq, "reported at: %v", err)
				_, err = s.VerifyLedger(FactoryID{2})
				assert.NoError(t, err, "the other factory's chain is intact")
			})
		}
	}
}

// TestLedgerTruncationNeedsACheckpoint: removing the newest entries and rewinding the head
// consistently leaves a sound, shorter chain; a remembered head catches it.
func TestLedgerTruncationNeedsACheckpoint(t *testing.T) {
	for _, folded := range []bool{false, true} {
		s, entries := ledgerFixture(t, false)
		cp := LedgerHead{Seq: 6, Hash: entries[5].Hash}
		if folded { // then the truncation must rewrite the indexes too
			fold(t, s)
		}
		require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
			if folded { // rewrite the last chain block to end at 5
				b := tx.Bucket(bucketLedger).Bucket([]byte{1, 15: 0})
				ns, err := decodeChainBlock(b.Get(seqKey(1)))
				require.NoError(t, err)
				require.NoError(t, b.SetSequence(5))
				require.NoError(t, b.Put(seqKey(1), appendChainBlock(nil, ns[:5])))
				idx := tx.Bucket(bucketLedgerByPayer)
				k := payerBlockKey(nil, 1001, []byte{1, 15: 0}, 2)
				seqs, pns, err := decodePayerBlock(2, idx.Get(k))
				require.NoError(t, err)
				require.NoError(t, idx.Put(k, appendPayerBlock(nil, seqs[:2], pns[:2])))
			}
			if err := tx.Bucket(bucketLedgerLog).Delete(logKeyOf(t, tx, 6)); err != nil {
				return err
			}
			return tx.Bucket(bucketLedgerHeads).Put([]byte{1, 15: 0}, appendHead(nil, LedgerHead{Seq: 5, Hash: entries[4].Hash}))
		}))
		h, err := s.VerifyLedger(FactoryID{1})
		require.NoError(t, err, "folded=%v: a consistent truncation is a sound chain", folded)
		assert.EqualValues(t, 5, h.Seq)
		_, err = s.VerifyLedger(FactoryID{1}, cp)
		var ce *ChainError
		require.ErrorAs(t, err, &ce, "folded=%v", folded)
		assert.EqualValues(t, 6, ce.Seq)
		_, err = s.VerifyLedger(FactoryID{1}, LedgerHead{Seq: 3, Hash: entries[3].Hash})
		assert.ErrorIs(t, err, ErrCorrupt, "a checkpoint with the wrong hash")
	}
}

// TestLedgerRawFileTampering flips bytes of ledger records in the closed bbolt file itself,
// bypassing bbolt, at every field, and expects the store to notice.
func TestLedgerRawFileTampering(t *testing.T) {
	for _, folded := range []bool{false, true} {
		for _, off := range []int{0, 4 + 7, 12, 28, 36 + 7, 44, 60 + 7, 68, ledgerFixedSize + 1, -1} {
			t.Run(fmt.Sprintf("folded=%v/offset=%d", folded, off), func(t *testing.T) {
				dir := t.TempDir()
				s, err := Open(dir, nil)
				require.NoError(t, err)
				var recs [][]byte
				for i := range 5 {
					e, err := s.AppendLedger(testEntry(1, 1000, "i-raw", uint64(1000+i)))
					require.NoError(t, err)
					recs = append(recs, appendLedgerRecord(nil, &e[0]))
				}
				if folded {
					fold(t, s)
				}
				require.NoError(t, s.Close())

				path := filepath.Join(dir, DBFile)
				raw, err := os.ReadFile(path)
				require.NoError(t, err)
				victim := recs[2]
				o := off
				if o < 0 {
					o += len(victim)
				}
				hits := 0
				for i := 0; ; {
					j := bytes.Index(raw[i:], victim)
					if j < 0 {
						break
					}
					raw[i+j+o] ^= 0x40 // every copy, stale pages included
					i += j + len(victim)
					hits++
				}
				require.NotZero(t, hits, "record not found in the file")
				require.NoError(t, os.WriteFile(path, raw, 0o600))

				s, err = Open(dir, nil)
				if err != nil {
					assert.ErrorIs(t, err, ErrCorrupt)
					return
				}
				defer s.Close()
				_, err = s.VerifyLedger(FactoryID{1})
				var ce *ChainError
				require.ErrorAs(t, err, &ce)
				assert.EqualValues(t, 3, ce.Seq)
				list, err := s.Ledger(LedgerQuery{Factory: FactoryID{1}})
				if off == 12 && !folded { // the record now names another factory: not listed
					assert.Len(t, list, 4)
				} else {
					assert.ErrorIs(t, err, ErrCorrupt, "listing checks each record's hash too")
				}
			})
		}
	}
}

func TestLedgerFoldIsIdempotentAndIncremental(t *testing.T) {
	s := openTemp(t)
	fold(t, s) // nothing to fold
	var all []LedgerEntry
	for round := range 5 {
		for i := range 3 + round {
			e, err := s.AppendLedger(testEntry(1, 1000+uint32(i%2), "i-f", uint64(i)))
			require.NoError(t, err)
			all = append(all, utc(e[0]))
		}
		fold(t, s)
		fold(t, s)
		list, err := s.Ledger(LedgerQuery{Factory: FactoryID{1}})
		require.NoError(t, err)
		assert.Equal(t, all, list)
	}
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, 5, tx.Bucket(bucketLedger).Bucket([]byte{1, 15: 0}).Stats().KeyN, "one chain block per fold")
		return nil
	}))
	assert.EqualValues(t, len(all), verifyAll(t, s))
}

func TestLedgerAppendFoldsAtThreshold(t *testing.T) {
	s := openTemp(t)
	batch := make([]LedgerEntry, DefaultLedgerFoldAt)
	for i := range batch {
		batch[i] = testEntry(byte(1+i%3), 1000, "i-bulk", 1)
	}
	_, err := s.AppendLedger(batch...)
	require.NoError(t, err)
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, tx.Bucket(bucketLedgerLog).Sequence(), tx.Bucket(bucketLedger).Sequence(), "all folded")
		return nil
	}))
	assert.EqualValues(t, DefaultLedgerFoldAt, verifyAll(t, s))
}

func FuzzDecodeLedgerRecord(f *testing.F) {
	e := testEntry(1, 1000, "i-fuzz", 3)
	f.Add(appendLedgerRecord(nil, &e))
	f.Add([]byte("fdl1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeLedgerRecord(b)
		if err != nil {
			return
		}
		assert.Equal(t, b, appendLedgerRecord(nil, &e), "a record that decodes is canonical")
	})
}

func FuzzDecodeBlocks(f *testing.F) {
	f.Add(appendChainBlock(nil, []uint64{3, 9, 10}), uint64(4))
	f.Add(appendPayerBlock(nil, []uint64{4, 7}, []uint64{3, 90}), uint64(4))
	f.Add([]byte{0x3, 0xad, 0x0, 0x30, 0x30}, uint64(0)) // an overlong uvarint
	f.Fuzz(func(t *testing.T, b []byte, first uint64) {
		if ns, err := decodeChainBlock(b); err == nil {
			assert.Equal(t, b, appendChainBlock(nil, ns))
		}
		if seqs, ns, err := decodePayerBlock(first, b); err == nil {
			assert.Equal(t, b, appendPayerBlock(nil, seqs, ns))
		}
	})
}
