package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Concurrency rules of LedgerWriter:
//
//   - One goroutine (run) makes every write; producers only enqueue a request and wait for it.
//     The goroutine never calls producer code and never holds mu.
//   - Every request is settled exactly once. Either its producer cancels it before the writer
//     takes it (state pending → cancelled: nothing is written, Submit returns the context's
//     error), or the writer takes it (pending → taken) and closes done after the commit; the
//     producer then waits for done even if its context ends. So an error from Submit means
//     nothing was written, and success means the entries are durable (the commit's fsync
//     returned).
//   - mu is held for reading by Submit while it enqueues and for writing once by Close, so that
//     after Close no request can enter the queue behind the final drain.

// LedgerWriterOptions tunes a LedgerWriter. A nil *LedgerWriterOptions means defaults.
type LedgerWriterOptions struct {
	// MaxBatch is the most entries committed in one transaction. Default 4096.
	MaxBatch int
	// Queue is the most submissions waiting for the writer; Submit blocks beyond it
	// (backpressure). Default 8192.
	Queue int
	// FoldAt is how many unfolded entries make the writer fold them into the indexes (see
	// ledger_append.go). Default DefaultLedgerFoldAt.
	FoldAt int
}

// Defaults of LedgerWriterOptions.
const (
	DefaultLedgerMaxBatch = 4096
	DefaultLedgerQueue    = 8192
)

// LedgerWriter appends ledger entries with group commit: many producers Submit, one goroutine
// drains whatever is queued (up to MaxBatch entries) into one transaction, commits it with one
// fsync and acknowledges every submission in it. It is safe for concurrent use. Close it
// before closing its Store.
type LedgerWriter struct {
	s     *Store
	opts  LedgerWriterOptions
	queue chan *ledgerRequest

	closing chan struct{} // closed first by Close: Submits waiting for room give up
	stop    chan struct{} // closed by Close once nothing can be enqueued: drain and return
	done    chan struct{} // closed when run has returned
	once    sync.Once

	mu     sync.RWMutex // guards the field that follows
	closed bool

	beforeCommit func(n int) // tests only

	// Owned by the goroutine run.
	unfolded uint64 // entries not folded after the last commit
	nextFold uint64 // fold when unfolded reaches this

	commits, entries, failed, folds, foldErrs atomic.Uint64
	maxBatch                                  atomic.Int64
}

// LedgerWriterStats counts what a LedgerWriter did.
type LedgerWriterStats struct {
	Commits  uint64 // transactions committed
	Entries  uint64 // entries acknowledged as durable
	Failed   uint64 // entries whose submission failed after the writer took it
	MaxBatch int    // most entries in one committed transaction
	Folds    uint64 // folds of unfolded entries into the indexes
	FoldErrs uint64 // folds that failed (the entries stay unfolded; VerifyLedger says why)
}

const (
	requestPending int32 = iota
	requestTaken
	requestCancelled
)

type ledgerRequest struct {
	entries []LedgerEntry // validated; the writer sets Seq, Prev and Hash
	state   atomic.Int32
	err     error         // set by the writer before done is closed
	done    chan struct{} // closed by the writer once the request is settled
}

// NewLedgerWriter starts a writer on s. A nil opts means defaults.
func (s *Store) NewLedgerWriter(opts *LedgerWriterOptions) *LedgerWriter {
	return s.newLedgerWriter(opts, nil)
}

// newLedgerWriter is NewLedgerWriter with a hook for tests, called by the writer's goroutine
// with the number of submissions in a batch before it commits them.
func (s *Store) newLedgerWriter(opts *LedgerWriterOptions, beforeCommit func(n int)) *LedgerWriter {
	o := LedgerWriterOptions{MaxBatch: DefaultLedgerMaxBatch, Queue: DefaultLedgerQueue, FoldAt: DefaultLedgerFoldAt}
	if opts != nil {
		if opts.FoldAt > 0 {
			o.FoldAt = opts.FoldAt
		}
		if opts.MaxBatch > 0 {
			o.MaxBatch = opts.MaxBatch
		}
		if opts.Queue > 0 {
			o.Queue = opts.Queue
		}
	}
	w := &LedgerWriter{s: s, opts: o, queue: make(chan *ledgerRequest, o.Queue), nextFold: uint64(o.FoldAt),
		closing: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), beforeCommit: beforeCommit}
	go w.run()
	return w
}

// Submit appends entries (at most MaxBatch, all in the same transaction) and returns them with
// Seq, Prev and Hash set, only once they are durable; entries itself is not modified. It blocks
// while the queue is full. An error means nothing was written: ErrInvalid for a malformed
// entry, ErrClosed once Close has begun, ctx's error if ctx ended before the writer took the
// entries (once taken, Submit waits for the commit whatever ctx does), or the transaction's
// error.
func (w *LedgerWriter) Submit(ctx context.Context, entries ...LedgerEntry) ([]LedgerEntry, error) {
	if len(entries) == 0 || len(entries) > w.opts.MaxBatch {
		return nil, fmt.Errorf("%w: %d entries in one submission, want 1 to %d", ErrInvalid, len(entries), w.opts.MaxBatch)
	}
	r := &ledgerRequest{entries: append([]LedgerEntry(nil), entries...), done: make(chan struct{})}
	for i := range r.entries {
		if err := r.entries[i].validate(); err != nil {
			return nil, err
		}
	}
	if err := w.enqueue(ctx, r); err != nil {
		return nil, err
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(requestPending, requestCancelled) {
			return nil, ctx.Err()
		}
		<-r.done // taken: the outcome is decided by the commit under way
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.entries, nil
}

func (w *LedgerWriter) enqueue(ctx context.Context, r *ledgerRequest) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("ledger writer closed: %w", ErrClosed)
	}
	select {
	case w.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return fmt.Errorf("ledger writer closed: %w", ErrClosed)
	}
}

// Close stops accepting submissions, commits everything already queued, settles every
// pending Submit, and waits for the writer's goroutine to end. It is idempotent.
func (w *LedgerWriter) Close() error {
	w.once.Do(func() {
		close(w.closing)
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	<-w.done
	return nil
}

// Stats returns the writer's counters.
func (w *LedgerWriter) Stats() LedgerWriterStats {
	return LedgerWriterStats{Commits: w.commits.Load(), Entries: w.entries.Load(), Failed: w.failed.Load(),
		MaxBatch: int(w.maxBatch.Load()), Folds: w.folds.Load(), FoldErrs: w.foldErrs.Load()}
}

func (w *LedgerWriter) run() {
	defer close(w.done)
	b := &ledgerBatch{max: w.opts.MaxBatch}
	for {
		if len(b.reqs) == 0 { // else a request carried over from the last batch waits
			select {
			case r := <-w.queue:
				b.add(r)
			case <-w.stop:
				w.drain(b)
				return
			}
		}
		w.fill(b)
		w.commit(b)
	}
}

// fill adds whatever else is queued until the batch is full. When the queue is empty it yields
// the processor a few times first, so that producers just acknowledged (runnable, about to
// submit again) can join this batch rather than the next: it waits only while there are other
// goroutines to run, never on a timer.
func (w *LedgerWriter) fill(b *ledgerBatch) {
	for idle := 0; !b.full() && idle < fillYields; {
		select {
		case r := <-w.queue:
			b.add(r)
			idle = 0
		default:
			idle++
			runtime.Gosched()
		}
	}
}

// fillYields is how many times in a row fill yields without receiving anything before it
// commits what it has.
const fillYields = 2

// drain commits everything left in the queue; nothing can be added to it any more.
func (w *LedgerWriter) drain(b *ledgerBatch) {
	for {
		w.fill(b)
		if len(b.reqs) == 0 && b.carry == nil {
			return
		}
		w.commit(b)
	}
}

// ledgerBatch is what one transaction commits. A request that would overflow it is carried
// over to the next batch.
type ledgerBatch struct {
	max     int
	reqs    []*ledgerRequest
	entries int
	carry   *ledgerRequest
	arena   []byte         // reused by every transaction for keys and records
	ptrs    []*LedgerEntry // reused: the entries of the transaction
}

// add takes r unless its producer cancelled it.
func (b *ledgerBatch) add(r *ledgerRequest) {
	if !r.state.CompareAndSwap(requestPending, requestTaken) {
		return
	}
	if b.entries+len(r.entries) > b.max {
		b.carry = r
		return
	}
	b.reqs = append(b.reqs, r)
	b.entries += len(r.entries)
}

func (b *ledgerBatch) full() bool { return b.carry != nil || b.entries >= b.max }

// commit writes the batch in one transaction and settles its requests. If the transaction
// fails, each request is retried in a transaction of its own, so that one factory's damaged
// chain does not fail the others' entries.
func (w *LedgerWriter) commit(b *ledgerBatch) {
	if len(b.reqs) > 0 && w.beforeCommit != nil {
		w.beforeCommit(len(b.reqs))
	}
	if len(b.reqs) > 0 {
		err := w.write(b, b.reqs)
		if err != nil && len(b.reqs) > 1 && !errors.Is(err, ErrClosed) {
			for _, r := range b.reqs {
				w.settle([]*ledgerRequest{r}, w.write(b, []*ledgerRequest{r}))
			}
		} else {
			w.settle(b.reqs, err)
		}
		if w.unfolded >= w.nextFold { // after the acknowledgements: a fold delays only later batches
			w.fold(b)
		}
	}
	clear(b.reqs)
	b.reqs, b.entries = b.reqs[:0], 0
	if r := b.carry; r != nil {
		b.carry = nil
		b.reqs, b.entries = append(b.reqs, r), len(r.entries)
	}
}

func (w *LedgerWriter) write(b *ledgerBatch, reqs []*ledgerRequest) error {
	entries := b.ptrs[:0]
	for _, r := range reqs {
		for i := range r.entries {
			entries = append(entries, &r.entries[i])
		}
	}
	b.ptrs = entries
	var unfolded uint64
	err := w.s.update(func(tx *bolt.Tx) (err error) {
		unfolded, b.arena, err = appendLedgerTx(tx, b.arena, entries)
		return err
	})
	clear(b.ptrs)
	if err == nil {
		w.unfolded = unfolded
	}
	return err
}

// fold indexes the entries committed since the last fold, between two commits. A failure does
// not fail any submission (the entries are durable in the log, and reads see them there); it is
// counted, and retried once FoldAt more entries are unfolded.
func (w *LedgerWriter) fold(b *ledgerBatch) {
	var err error
	if b.arena, err = w.s.foldLedgerNow(b.arena); err != nil {
		w.foldErrs.Add(1)
		w.nextFold = w.unfolded + uint64(w.opts.FoldAt)
		return
	}
	w.folds.Add(1)
	w.unfolded, w.nextFold = 0, uint64(w.opts.FoldAt)
}

// settle acknowledges reqs with the outcome of their transaction.
func (w *LedgerWriter) settle(reqs []*ledgerRequest, err error) {
	n := 0
	for _, r := range reqs {
		n += len(r.entries)
	}
	if err == nil {
		w.commits.Add(1)
		w.entries.Add(uint64(n))
		if int64(n) > w.maxBatch.Load() {
			w.maxBatch.Store(int64(n))
		}
	} else {
		w.failed.Add(uint64(n))
	}
	for _, r := range reqs {
		r.err = err
		close(r.done)
	}
}
