package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The billing ledger: per factory, an append-only chain of entries, each holding the SHA-256 of
// its predecessor. The layout is drawn in the package comment. Rules:
//
//   - Entries are only appended, by a ledgerAppender, which every write path uses (AppendLedger
//     and LedgerWriter); nothing rewrites or deletes an entry, and destroying a factory leaves
//     its ledger in place: it is the payers' record as much as the payee's.
//   - An entry's record is its canonical encoding followed by its hash (below). The hash covers
//     every field, its sequence and the previous entry's hash, so that changing, removing,
//     reordering or inserting entries breaks the chain at that point; VerifyLedger finds it.
//   - Sequences are per factory: 1, 2, 3, ... without gaps. ledger-heads holds each chain's
//     newest (seq, hash); an append reads it, assigns Seq = seq+1 and Prev = hash, and updates
//     it in the same transaction.
//   - Records are written once, to ledger-log, keyed by their position n in commit order: one
//     place where every commit appends, so that a commit of many entries writes few pages.
//     Indexing them is deferred (ledger_append.go): a fold indexes, in one transaction, the
//     thousands of entries committed since the last fold — in blocks (ledger_blocks.go): per
//     factory, the positions of a run of consecutive seqs (each of which NextSequence must
//     yield), and per payer and factory, its (seq, position) pairs — and records how far it
//     went as the sequence of the ledger bucket. Every read merges the indexes with the
//     unfolded tail of the log: an entry is listed and verified from the moment its commit
//     returns. Positions n are internal: they order every tenant's entries, so they are never
//     shown to anyone.
//   - The chain proves order and integrity, not authorship. Removing the newest entries of a
//     chain, or appending well-formed ones, leaves a sound chain: a removal is caught by
//     ledger-heads (unless it is rewritten too) and, for sure, against anyone who remembers a
//     LedgerHead (VerifyLedger's checkpoints); an append by someone who can write the file is
//     not caught by anything here (that would take signatures, or heads published elsewhere).
//
// Canonical encoding of an entry (all integers big-endian; times are Unix nanoseconds, int64):
//
//	offset  size  field
//	0       4     magic and format version: "fdl1"
//	4       8     Seq          uint64
//	12      16    Factory      factory id
//	28      4     Payer.UID    uint32
//	32      4     Payer.GID    uint32
//	36      8     Units        uint64
//	44      8     PeriodStart  int64
//	52      8     PeriodEnd    int64
//	60      8     Time         int64
//	68      32    Prev         hash of entry Seq-1; 32 zero bytes for Seq 1
//	100     1     k = len(Kind),     1..MaxLedgerKind
//	101     k     Kind         printable ASCII
//	101+k   1     n = len(Instance), 1..MaxLedgerInstance
//	102+k   n     Instance     printable ASCII
//	102+k+n 32    Hash = SHA-256(bytes 0 .. 102+k+n), i.e. of everything above
//
// The stored record is exactly these 134+k+n bytes.

// Bucket names of the ledger. Each is documented in the package comment's tree.
var (
	bucketLedgerLog     = []byte("ledger-log")      // n -> entry record, in commit order
	bucketLedger        = []byte("ledger")          // factory id -> bucket: first seq -> chain block; sequence: folded up to n
	bucketLedgerHeads   = []byte("ledger-heads")    // factory id -> newest seq | hash
	bucketLedgerByPayer = []byte("ledger-by-payer") // uid|factory|first seq -> payer block
)

// Limits on the variable fields of a ledger entry.
const (
	MaxLedgerKind     = 64
	MaxLedgerInstance = 128
)

const (
	ledgerMagic     = "fdl1"
	ledgerFixedSize = 100 // bytes before the kind's length
	ledgerMinSize   = ledgerFixedSize + 2 + sha256.Size
)

// LedgerHash is the SHA-256 of an entry's canonical encoding.
type LedgerHash [sha256.Size]byte

// String returns the hex form.
func (h LedgerHash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hex form.
func (h LedgerHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form.
func (h *LedgerHash) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	if err != nil || len(v) != len(h) {
		return fmt.Errorf("%w: ledger hash %q", ErrInvalid, b)
	}
	copy(h[:], v)
	return nil
}

// LedgerEntry is one recorded charge. The caller of AppendLedger or LedgerWriter.Submit fills
// Factory through Time; the ledger assigns Seq, Prev and Hash.
type LedgerEntry struct {
	Seq      uint64    `json:"seq"`      // per factory: 1, 2, 3, ...
	Factory  FactoryID `json:"factory"`  // the payee
	Instance string    `json:"instance"` // the yield that charged
	Payer    Principal `json:"payer"`    // its requestor; the payer index uses the UID
	Kind     string    `json:"kind"`
	Units    uint64    `json:"units"`
	// PeriodStart and PeriodEnd bound the period the units were coalesced over.
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// Time is when the charge is recorded as due, as the caller states it: for a meter's entry,
	// its period end. The ledger never stamps its own clock, so that the commit latency (which
	// a yield can sway through load) does not reach the payee.
	Time time.Time  `json:"time"`
	Prev LedgerHash `json:"prev"`
	Hash LedgerHash `json:"hash"`
}

// Pos returns the entry's position, for resuming a listing after it.
func (e *LedgerEntry) Pos() LedgerPos { return LedgerPos{Factory: e.Factory, Seq: e.Seq} }

// LedgerHead names the newest entry of a factory's chain: someone who remembers it can later
// check that the chain still holds it (VerifyLedger's checkpoints). Seq 0 is the empty chain.
type LedgerHead struct {
	Seq  uint64     `json:"seq"`
	Hash LedgerHash `json:"hash"`
}

// ChainError reports where a factory's chain is broken. It wraps ErrCorrupt.
type ChainError struct {
	Factory FactoryID
	Seq     uint64 // the first sequence that is missing, malformed or does not link
	Reason  string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("%v: ledger of factory %s broken at entry %d: %s", ErrCorrupt, e.Factory, e.Seq, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *ChainError) Unwrap() error { return ErrCorrupt }

func chainError(f FactoryID, seq uint64, format string, args ...any) error {
	return &ChainError{Factory: f, Seq: seq, Reason: fmt.Sprintf(format, args...)}
}

// validate checks the fields a caller fills.
func (e *LedgerEntry) validate() error {
	switch {
	case e.Factory == FactoryID{}:
		return fmt.Errorf("%w: ledger entry without a factory", ErrInvalid)
	case !printable(e.Kind, MaxLedgerKind):
		return fmt.Errorf("%w: ledger kind %q: 1 to %d printable ASCII bytes", ErrInvalid, e.Kind, MaxLedgerKind)
	case !printable(e.Instance, MaxLedgerInstance):
		return fmt.Errorf("%w: ledger instance %q: 1 to %d printable ASCII bytes", ErrInvalid, e.Instance, MaxLedgerInstance)
	case !encodable(e.PeriodStart) || !encodable(e.PeriodEnd) || !encodable(e.Time):
		return fmt.Errorf("%w: ledger times must be set and within Unix nanoseconds", ErrInvalid)
	case e.PeriodEnd.Before(e.PeriodStart):
		return fmt.Errorf("%w: ledger period ends before it starts", ErrInvalid)
	}
	return nil
}

func printable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// encodable reports whether t is set and survives the round trip through Unix nanoseconds.
func encodable(t time.Time) bool {
	return !t.IsZero() && time.Unix(0, t.UnixNano()).Equal(t)
}

// ledgerRecordSize returns the size of e's record.
func ledgerRecordSize(e *LedgerEntry) int {
	return ledgerMinSize + len(e.Kind) + len(e.Instance)
}

// appendLedgerRecord appends e's canonical encoding and its hash to dst, sets e.Hash, and
// returns the extended slice. e must be valid.
func appendLedgerRecord(dst []byte, e *LedgerEntry) []byte {
	start := len(dst)
	dst = append(dst, ledgerMagic...)
	dst = binary.BigEndian.AppendUint64(dst, e.Seq)
	dst = append(dst, e.Factory[:]...)
	dst = binary.BigEndian.AppendUint32(dst, e.Payer.UID)
	dst = binary.BigEndian.AppendUint32(dst, e.Payer.GID)
	dst = binary.BigEndian.AppendUint64(dst, e.Units)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.PeriodStart.UnixNano()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.PeriodEnd.UnixNano()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time.UnixNano()))
	dst = append(dst, e.Prev[:]...)
	dst = append(dst, byte(len(e.Kind)))
	dst = append(dst, e.Kind...)
	dst = append(dst, byte(len(e.Instance)))
	dst = append(dst, e.Instance...)
	e.Hash = sha256.Sum256(dst[start:])
	return append(dst, e.Hash[:]...)
}

// checkLedgerRecord checks a record's format, not its hash.
func checkLedgerRecord(b []byte) error {
	if len(b) < ledgerMinSize || string(b[:4]) != ledgerMagic {
		return errors.New("not a ledger record")
	}
	k := int(b[ledgerFixedSize])
	if k == 0 || k > MaxLedgerKind || len(b) < ledgerMinSize+k {
		return errors.New("bad kind length")
	}
	n := int(b[ledgerFixedSize+1+k])
	if n == 0 || n > MaxLedgerInstance || len(b) != ledgerMinSize+k+n {
		return errors.New("bad instance length")
	}
	return nil
}

// Raw fields of a record that passed checkLedgerRecord, read without decoding or hashing it.
func recordSeq(rec []byte) uint64     { return binary.BigEndian.Uint64(rec[4:]) }
func recordFactory(rec []byte) []byte { return rec[12:28] }
func recordUID(rec []byte) uint32     { return binary.BigEndian.Uint32(rec[28:]) }
func recordTime(rec []byte) []byte    { return rec[60:68] }
func recordPrev(rec []byte) []byte    { return rec[68:100] }
func recordHash(rec []byte) []byte    { return rec[len(rec)-sha256.Size:] }
func recordInstance(rec []byte) []byte {
	k := int(rec[ledgerFixedSize])
	n := int(rec[ledgerFixedSize+1+k])
	return rec[ledgerFixedSize+2+k : ledgerFixedSize+2+k+n]
}

// decodeLedgerRecord parses a record, copying everything out of b. It checks the format and
// that the stored hash is the hash of the encoding, not how the entry links to others.
func decodeLedgerRecord(b []byte) (LedgerEntry, error) {
	var e LedgerEntry
	if err := checkLedgerRecord(b); err != nil {
		return e, err
	}
	k := int(b[ledgerFixedSize])
	be := binary.BigEndian
	e.Seq = recordSeq(b)
	copy(e.Factory[:], recordFactory(b))
	e.Payer = Principal{UID: recordUID(b), GID: be.Uint32(b[32:])}
	e.Units = be.Uint64(b[36:])
	e.PeriodStart = time.Unix(0, int64(be.Uint64(b[44:]))).UTC()
	e.PeriodEnd = time.Unix(0, int64(be.Uint64(b[52:]))).UTC()
	e.Time = time.Unix(0, int64(be.Uint64(recordTime(b)))).UTC()
	copy(e.Prev[:], recordPrev(b))
	e.Kind = string(b[ledgerFixedSize+1 : ledgerFixedSize+1+k])
	e.Instance = string(recordInstance(b))
	body := len(b) - sha256.Size
	copy(e.Hash[:], b[body:])
	if LedgerHash(sha256.Sum256(b[:body])) != e.Hash {
		return e, errors.New("hash does not match the entry")
	}
	if !printable(e.Kind, MaxLedgerKind) || !printable(e.Instance, MaxLedgerInstance) {
		return e, errors.New("unprintable kind or instance")
	}
	return e, nil
}

// seqKey is the key of entry seq in its factory's bucket, and of record n in the log.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// appendHead appends the ledger-heads value of h: seq (8, big-endian) | hash (32).
func appendHead(dst []byte, h LedgerHead) []byte {
	return append(binary.BigEndian.AppendUint64(dst, h.Seq), h.Hash[:]...)
}

func decodeHead(f FactoryID, v []byte) (LedgerHead, error) {
	var h LedgerHead
	if len(v) != 8+sha256.Size {
		return h, chainError(f, 0, "malformed head record")
	}
	h.Seq = binary.BigEndian.Uint64(v)
	copy(h.Hash[:], v[8:])
	return h, nil
}
