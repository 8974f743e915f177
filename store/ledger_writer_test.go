package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// newTestWriter starts a writer that the test closes, checking that its goroutine ends.
func newTestWriter(t *testing.T, s *Store, opts *LedgerWriterOptions) *LedgerWriter {
	t.Helper()
	return newHookedWriter(t, s, opts, nil)
}

func newHookedWriter(t *testing.T, s *Store, opts *LedgerWriterOptions, hook func(int)) *LedgerWriter {
	t.Helper()
	before := runtime.NumGoroutine()
	w := s.newLedgerWriter(opts, hook)
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		// Not assert.Eventually: it runs the condition on goroutines of its own.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines leaked")
	})
	return w
}

// gate holds the writer before each commit: batches receives each batch's number of
// submissions, and open lets every commit through from then on.
type gate struct {
	batches chan int
	release chan struct{}
	once    sync.Once
}

// newGate returns a gate; register it before the writer, so that the cleanup opening it runs
// before the one closing the writer.
func newGate(t *testing.T) *gate {
	g := &gate{batches: make(chan int, 100), release: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) hook(n int) {
	g.batches <- n
	<-g.release
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func TestLedgerWriterSubmit(t *testing.T) {
	s := openTemp(t)
	w := newTestWriter(t, s, nil)
	ctx := context.Background()
	got, err := w.Submit(ctx, testEntry(1, 1000, "i-1", 5))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.EqualValues(t, 1, got[0].Seq)
	got, err = w.Submit(ctx, testEntry(1, 1000, "i-1", 6), testEntry(1, 1001, "i-2", 7))
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, []uint64{got[0].Seq, got[1].Seq}, "one submission, contiguous")
	assert.Equal(t, got[0].Hash, got[1].Prev)

	_, err = w.Submit(ctx)
	assert.ErrorIs(t, err, ErrInvalid)
	bad := testEntry(1, 1000, "i-1", 1)
	bad.Kind = ""
	_, err = w.Submit(ctx, testEntry(1, 1000, "i-1", 1), bad)
	assert.ErrorIs(t, err, ErrInvalid)

	h, err := s.VerifyLedger(FactoryID{1})
	require.NoError(t, err)
	assert.EqualValues(t, 3, h.Seq)
	st := w.Stats()
	assert.EqualValues(t, 3, st.Entries)
	assert.EqualValues(t, 2, st.Commits)
}

func TestLedgerWriterManyProducers(t *testing.T) {
	s := openTemp(t)
	w := newTestWriter(t, s, &LedgerWriterOptions{MaxBatch: 64, FoldAt: 300})
	const producers, each = 48, 60
	acked := make([][]LedgerEntry, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := 1 + i%3 // submissions of 1 to 3 entries
				var es []LedgerEntry
				for j := range n {
					es = append(es, testEntry(byte(1+(p+j)%5), uint32(1000+p%7), fmt.Sprintf("i-%d", p), uint64(i)))
				}
				got, err := w.Submit(context.Background(), es...)
				if !assert.NoError(t, err) {
					return
				}
				acked[p] = append(acked[p], got...)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	st := w.Stats()
	assert.LessOrEqual(t, st.MaxBatch, 64)
	assert.Less(t, st.Commits, st.Entries, "some commits held several entries")
	assert.NotZero(t, st.Folds)
	assert.Zero(t, st.FoldErrs)

	m := &ledgerModel{}
	seen := map[LedgerPos]bool{}
	for _, es := range acked {
		for _, e := range es {
			assert.False(t, seen[e.Pos()], "%v acknowledged twice", e.Pos())
			seen[e.Pos()] = true
			m.entries = append(m.entries, utc(e))
		}
	}
	assert.EqualValues(t, st.Entries, len(m.entries))
	assert.EqualValues(t, len(m.entries), verifyAll(t, s), "every chain is contiguous and holds exactly what was acknowledged")
	for f := byte(1); f <= 5; f++ {
		q := LedgerQuery{Factory: FactoryID{f}}
		assert.Equal(t, m.want(q), listAll(t, s, q, 0))
	}
	for uid := uint32(1000); uid < 1007; uid++ {
		q := LedgerQuery{Payer: &uid}
		assert.Equal(t, m.want(q), listAll(t, s, q, 50))
	}
}

func TestLedgerWriterRefusesOversizedSubmission(t *testing.T) {
	s := openTemp(t)
	w := newTestWriter(t, s, &LedgerWriterOptions{MaxBatch: 2})
	_, err := w.Submit(context.Background(), testEntry(1, 1, "i", 1), testEntry(1, 1, "i", 1), testEntry(1, 1, "i", 1))
	assert.ErrorIs(t, err, ErrInvalid)
}

// TestLedgerWriterCarriesOver: a submission that does not fit in the batch under way is
// committed in the next one, without waiting for another submission to come.
func TestLedgerWriterCarriesOver(t *testing.T) {
	s := openTemp(t)
	g := newGate(t)
	w := newHookedWriter(t, s, &LedgerWriterOptions{MaxBatch: 4}, g.hook)
	three := func(inst string) []LedgerEntry {
		return []LedgerEntry{testEntry(1, 1000, inst, 1), testEntry(1, 1000, inst, 2), testEntry(1, 1000, inst, 3)}
	}
	results := make(chan error, 3)
	go func() { _, err := w.Submit(context.Background(), testEntry(1, 1000, "i-z", 1)); results <- err }()
	assert.Equal(t, 1, <-g.batches)
	go func() { _, err := w.Submit(context.Background(), three("i-a")...); results <- err }()
	go func() { _, err := w.Submit(context.Background(), three("i-b")...); results <- err }()
	require.Eventually(t, func() bool { return len(w.queue) == 2 }, 5*time.Second, time.Millisecond)
	g.open()
	for range 3 {
		select {
		case err := <-results:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("a carried-over submission was never committed")
		}
	}
	assert.LessOrEqual(t, w.Stats().MaxBatch, 4)
	assert.EqualValues(t, 3, w.Stats().Commits)
}

// TestLedgerWriterCancelBeforeTaken: a producer whose context ends while its entries wait in
// the queue gets the context's error, and they are never written.
func TestLedgerWriterCancelBeforeTaken(t *testing.T) {
	s := openTemp(t)
	g := newGate(t)
	w := newHookedWriter(t, s, &LedgerWriterOptions{MaxBatch: 1}, g.hook)
	first := make(chan error, 1)
	go func() { _, err := w.Submit(context.Background(), testEntry(1, 1000, "i-first", 1)); first <- err }()
	assert.Equal(t, 1, <-g.batches, "the writer holds the first submission")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := w.Submit(ctx, testEntry(1, 1000, "i-cancelled", 2))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	g.open()
	require.NoError(t, <-first)
	got, err := w.Submit(context.Background(), testEntry(1, 1000, "i-after", 3))
	require.NoError(t, err)
	assert.EqualValues(t, 2, got[0].Seq, "the cancelled entry took no sequence")
	list, err := s.Ledger(LedgerQuery{Factory: FactoryID{1}, Instance: "i-cancelled"})
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestLedgerWriterCancelAfterTaken: once the writer took the entries, Submit reports the
// commit's outcome even if the context ends meanwhile.
func TestLedgerWriterCancelAfterTaken(t *testing.T) {
	s := openTemp(t)
	g := newGate(t)
	w := newHookedWriter(t, s, nil, g.hook)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := w.Submit(ctx, testEntry(1, 1000, "i-taken", 1)); done <- err }()
	<-g.batches
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Submit returned %v before the commit", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.open()
	require.NoError(t, <-done, "taken entries are reported as committed")
	h, err := s.VerifyLedger(FactoryID{1})
	require.NoError(t, err)
	assert.EqualValues(t, 1, h.Seq)
}

func TestLedgerWriterBackpressure(t *testing.T) {
	s := openTemp(t)
	g := newGate(t)
	w := newHookedWriter(t, s, &LedgerWriterOptions{Queue: 2, MaxBatch: 1}, g.hook)
	results := make(chan error, 3)
	submit := func(i int) {
		_, err := w.Submit(context.Background(), testEntry(1, 1000, fmt.Sprintf("i-%d", i), 1))
		results <- err
	}
	go submit(0)
	<-g.batches // taken by the writer
	go submit(1)
	go submit(2)
	require.Eventually(t, func() bool { return len(w.queue) == 2 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := w.Submit(ctx, testEntry(1, 1000, "i-blocked", 1))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a full queue blocks Submit")
	g.open()
	for range 3 {
		assert.NoError(t, <-results)
	}
}

// TestLedgerWriterClose: every Submit returns exactly once, with success (then its entries are
// in the ledger) or ErrClosed (then they are not); nothing is left behind.
func TestLedgerWriterClose(t *testing.T) {
	s := openTemp(t)
	g := newGate(t)
	w := newHookedWriter(t, s, &LedgerWriterOptions{Queue: 8, MaxBatch: 4}, g.hook)
	type result struct {
		instance string
		err      error
	}
	const n = 40
	results := make(chan result, n)
	for i := range n {
		go func() {
			inst := fmt.Sprintf("i-%d", i)
			_, err := w.Submit(context.Background(), testEntry(1, 1000, inst, 1))
			results <- result{inst, err}
		}()
	}
	held := <-g.batches // submissions in the batch the writer holds
	require.Eventually(t, func() bool { return len(w.queue) == 8 }, 5*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	for range n - held - 8 { // those still waiting for room in the queue give up
		r := <-results
		assert.ErrorIs(t, r.err, ErrClosed)
	}
	g.open()
	require.NoError(t, <-closed)
	require.NoError(t, w.Close(), "Close is idempotent")
	_, err := w.Submit(context.Background(), testEntry(1, 1000, "i-late", 1))
	assert.ErrorIs(t, err, ErrClosed)
	var ok []string
	for range held + 8 {
		r := <-results
		assert.NoError(t, r.err, "what was queued or taken before Close is committed")
		ok = append(ok, r.instance)
	}
	select {
	case r := <-results:
		t.Fatalf("a Submit returned twice: %+v", r)
	default:
	}
	list, err := s.Ledger(LedgerQuery{Factory: FactoryID{1}})
	require.NoError(t, err)
	var listed []string
	for _, e := range list {
		listed = append(listed, e.Instance)
	}
	assert.ElementsMatch(t, ok, listed)
}

// TestLedgerWriterIsolatesAFailingChain: a factory whose head is damaged fails its own
// submissions, not the others' in the same batch.
func TestLedgerWriterIsolatesAFailingChain(t *testing.T) {
	s := openTemp(t)
	_, err := s.AppendLedger(testEntry(1, 1000, "i-a", 1))
	require.NoError(t, err)
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLedgerHeads).Put([]byte{1, 15: 0}, []byte("short"))
	}))
	g := newGate(t)
	w := newHookedWriter(t, s, nil, g.hook)
	errs := make(chan error, 2)
	go func() { _, err := w.Submit(context.Background(), testEntry(2, 1000, "i-b", 1)); errs <- err }()
	assert.Equal(t, 1, <-g.batches)
	bad := make(chan error, 1)
	go func() { _, err := w.Submit(context.Background(), testEntry(1, 1000, "i-a", 2)); bad <- err }()
	go func() { _, err := w.Submit(context.Background(), testEntry(3, 1000, "i-c", 3)); errs <- err }()
	require.Eventually(t, func() bool { return len(w.queue) == 2 }, 5*time.Second, time.Millisecond)
	g.open()
	assert.ErrorIs(t, <-bad, ErrCorrupt)
	assert.NoError(t, <-errs)
	assert.NoError(t, <-errs)
	st := w.Stats()
	assert.EqualValues(t, 1, st.Failed)
	assert.EqualValues(t, 2, st.Entries)
}

// TestLedgerWriterFoldFailureKeepsAcknowledging: a fold that fails (here: a damaged chain
// block) leaves the entries unfolded; submissions still succeed and reads still see them.
func TestLedgerWriterFoldFailureKeepsAcknowledging(t *testing.T) {
	s := openTemp(t)
	_, err := s.AppendLedger(testEntry(1, 1000, "i-a", 1))
	require.NoError(t, err)
	fold(t, s)
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLedger).Bucket([]byte{1, 15: 0}).Put(seqKey(1), []byte{0})
	}))
	w := newTestWriter(t, s, &LedgerWriterOptions{FoldAt: 2})
	for i := range 5 {
		_, err := w.Submit(context.Background(), testEntry(2, 1000, "i-b", uint64(i)), testEntry(1, 1000, "i-a", uint64(i)))
		require.NoError(t, err)
	}
	assert.NotZero(t, w.Stats().FoldErrs)
	list, err := s.Ledger(LedgerQuery{Factory: FactoryID{2}})
	require.NoError(t, err)
	assert.Len(t, list, 5)
	_, err = s.VerifyLedger(FactoryID{2})
	assert.NoError(t, err)
	_, err = s.VerifyLedger(FactoryID{1})
	assert.ErrorIs(t, err, ErrCorrupt)
}

func TestLedgerWriterAfterStoreClosed(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	w := s.NewLedgerWriter(nil)
	require.NoError(t, s.Close())
	_, err = w.Submit(context.Background(), testEntry(1, 1000, "i", 1))
	assert.True(t, errors.Is(err, ErrClosed), "got %v", err)
	require.NoError(t, w.Close())
}
