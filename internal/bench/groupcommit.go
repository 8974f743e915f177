package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// groupCommit is the billing figure's baseline: a plain bbolt file and one writer goroutine
// that takes every record pending, appends them all in one transaction (committed with
// fsync, as bbolt does by default), then tells each submitter its record is durable. Nothing
// else: no ledger format, no hash chain, no RPC. It is the best a group-commit loop does on
// this disk, in this process.
type groupCommit struct {
	db   *bolt.DB
	reqs chan *commitRequest
	stop chan struct{}
	done chan struct{}

	seq     uint64 // the last key written; the writer's alone
	commits atomic.Int64
}

// commitRequest is one record waiting to be durable; done receives the commit's outcome.
type commitRequest struct {
	rec  []byte
	done chan error
}

// baselineRecordSize is the size of a baseline record: about a ledger entry's (≈ 160 bytes).
const baselineRecordSize = 150

// commitMaxBatch bounds the records of one transaction, as the daemon's LedgerWriter does
// (store.DefaultLedgerMaxBatch).
const commitMaxBatch = 4096

var baselineBucket = []byte("records")

// openGroupCommit opens (creating) the bbolt file at path and starts the writer.
func openGroupCommit(path string) (*groupCommit, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(baselineBucket)
		return err
	})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	g := &groupCommit{db: db, reqs: make(chan *commitRequest, commitMaxBatch), stop: make(chan struct{}),
		done: make(chan struct{})}
	go g.write()
	return g, nil
}

// close stops the writer, which must have nothing pending, and closes the file.
func (g *groupCommit) close() error {
	close(g.stop)
	<-g.done
	return g.db.Close()
}

func (g *groupCommit) write() {
	defer close(g.done)
	batch := make([]*commitRequest, 0, commitMaxBatch)
	keys := make([]byte, 8*commitMaxBatch) // bbolt keeps keys until the commit
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.stop:
			return
		}
	gather:
		for len(batch) < commitMaxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		err := g.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(baselineBucket)
			b.FillPercent = 1 // keys only ever grow
			for i, r := range batch {
				key := keys[8*i : 8*i+8]
				binary.BigEndian.PutUint64(key, g.seq+uint64(i)+1)
				if err := b.Put(key, r.rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			g.seq += uint64(len(batch))
			g.commits.Add(1)
		}
		for _, r := range batch {
			r.done <- err
		}
		clear(batch)
	}
}

// commitRound is what submitters got durable in one round.
type commitRound struct {
	records int64
	commits int64
	took    time.Duration
	latency []time.Duration // sampled
}

// run has submitters goroutines each append one record at a time and wait until it is durable,
// back to back for d; it keeps every sampleEvery-th latency of each submitter.
func (g *groupCommit) run(ctx context.Context, submitters int, d time.Duration, sampleEvery int) (commitRound, error) {
	var (
		records  atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		latency  []time.Duration
	)
	commits := g.commits.Load()
	start := time.Now()
	deadline := start.Add(d)
	for n := range submitters {
		wg.Go(func() {
			r := &commitRequest{rec: make([]byte, baselineRecordSize), done: make(chan error, 1)}
			for i := range r.rec {
				r.rec[i] = byte('a' + (n+i)%26)
			}
			var mine []time.Duration
			var err error
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				binary.BigEndian.PutUint64(r.rec, uint64(i))
				t0 := time.Now()
				g.reqs <- r
				if err = <-r.done; err != nil {
					break
				}
				if i%sampleEvery == 0 {
					mine = append(mine, time.Since(t0))
				}
				records.Add(1)
			}
			mu.Lock()
			defer mu.Unlock()
			latency = append(latency, mine...)
			firstErr = firstOf(firstErr, err)
		})
	}
	wg.Wait()
	round := commitRound{records: records.Load(), commits: g.commits.Load() - commits, took: time.Since(start),
		latency: latency}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return round, firstErr
}
