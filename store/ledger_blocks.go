package store

import (
	"encoding/binary"
	"errors"
)

// Index blocks. A fold writes, per factory, one chain block and, per (payer, factory), one
// payer block, instead of one index key per entry: a fold of thousands of entries then costs a
// few hundred puts. Both are lists of ascending numbers, delta-encoded as uvarints:
//
//	chain block  (ledger/<factory>/<first seq>):      count, then for each consecutive seq
//	                                                  from the key on: n - previous n (the
//	                                                  first: n itself)
//	payer block  (ledger-by-payer/<uid><factory><first seq>): count, then per entry:
//	                                                  seq - previous seq (the first: 0, since
//	                                                  the key holds it), n - previous n (the
//	                                                  first: n itself)
//
// Both lists strictly increase after their first element: a decoder refuses anything else.

var errBadBlock = errors.New("malformed index block")

func appendChainBlock(dst []byte, ns []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	var prev uint64
	for _, n := range ns {
		dst = binary.AppendUvarint(dst, n-prev)
		prev = n
	}
	return dst
}

func decodeChainBlock(v []byte) ([]uint64, error) {
	count, v, err := uvarint(v)
	// Each number takes a byte at least: a corrupt count cannot make us allocate much.
	if err != nil || count == 0 || count > uint64(len(v)) {
		return nil, errBadBlock
	}
	ns := make([]uint64, 0, count)
	var n uint64
	for i := range count {
		var d uint64
		if d, v, err = uvarint(v); err != nil || (i > 0 && d == 0) || n+d < n {
			return nil, errBadBlock
		}
		n += d
		ns = append(ns, n)
	}
	if len(v) != 0 {
		return nil, errBadBlock
	}
	return ns, nil
}

func appendPayerBlock(dst []byte, seqs, ns []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	var ps, pn uint64 = seqs[0], 0
	for i := range ns {
		dst = binary.AppendUvarint(dst, seqs[i]-ps)
		dst = binary.AppendUvarint(dst, ns[i]-pn)
		ps, pn = seqs[i], ns[i]
	}
	return dst
}

func decodePayerBlock(first uint64, v []byte) (seqs, ns []uint64, err error) {
	count, v, err := uvarint(v)
	if err != nil || count == 0 || count > uint64(len(v))/2 {
		return nil, nil, errBadBlock
	}
	seqs, ns = make([]uint64, 0, count), make([]uint64, 0, count)
	s, n := first, uint64(0)
	for i := range count {
		var ds, dn uint64
		if ds, v, err = uvarint(v); err != nil || (i == 0) != (ds == 0) || s+ds < s {
			return nil, nil, errBadBlock
		}
		if dn, v, err = uvarint(v); err != nil || (i > 0 && dn == 0) || n+dn < n {
			return nil, nil, errBadBlock
		}
		s, n = s+ds, n+dn
		seqs, ns = append(seqs, s), append(ns, n)
	}
	if len(v) != 0 {
		return nil, nil, errBadBlock
	}
	return seqs, ns, nil
}

// uvarint reads a uvarint in its shortest form: one number, one encoding.
func uvarint(v []byte) (uint64, []byte, error) {
	x, k := binary.Uvarint(v)
	if k <= 0 || (k > 1 && v[k-1] == 0) {
		return 0, nil, errBadBlock
	}
	return x, v[k:], nil
}

// payerBlockKey appends uid (4) | factory id (16) | first seq (8) to dst.
func payerBlockKey(dst []byte, uid uint32, f []byte, first uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uid)
	dst = append(dst, f...)
	return binary.BigEndian.AppendUint64(dst, first)
}

const payerBlockKeySize = 4 + 16 + 8

// parsePayerBlockKey splits a payer block key.
func parsePayerBlockKey(k []byte) (uid uint32, f FactoryID, first uint64, ok bool) {
	if len(k) != payerBlockKeySize {
		return 0, f, 0, false
	}
	copy(f[:], k[4:20])
	return binary.BigEndian.Uint32(k), f, binary.BigEndian.Uint64(k[20:]), true
}
