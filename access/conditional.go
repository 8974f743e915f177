package access

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Conditional ACEs carry an MS-DTYP conditional expression (MS-DTYP
// 2.4.4.17) as postfix bytecode: the magic "artx", then tokens. This file
// decodes the bytecode and evaluates it with three-valued logic.
//
// Rules of the evaluator:
//   - Malformed bytecode evaluates to UNKNOWN: an allow ACE then grants
//     nothing and a deny ACE denies. Decoding never panics, makes progress
//     on every token, bounds composite nesting and the operand stack.
//   - Tokens carry no claims, so every attribute (@User., @Device.,
//     @Resource., @Local.) is absent: comparisons with it are UNKNOWN,
//     Exists is FALSE, Not_Exists is TRUE. A comparison with no attribute
//     operand is malformed, as MS-DTYP requires one.
//   - Member_of and its variants take a SID or a non-empty composite of
//     SIDs and ask the pass whether each SID is a member, with the polarity
//     of the ACE (deny-only groups count only for deny ACEs).
//   - Tokens carry no device groups: Device_Member_of and its variants are
//     UNKNOWN.

// Bytecode opcodes (MS-DTYP 2.4.4.17.4 - 2.4.4.17.8).
const (
	opPadding         = 0x00
	opInt8            = 0x01
	opInt16           = 0x02
	opInt32           = 0x03
	opInt64           = 0x04
	opString          = 0x10
	opOctetString     = 0x18
	opComposite       = 0x50
	opSID             = 0x51
	opEqual           = 0x80
	opNotEqual        = 0x81
	opLess            = 0x82
	opLessEqual       = 0x83
	opGreater         = 0x84
	opGreaterEqual    = 0x85
	opContains        = 0x86
	opExists          = 0x87
	opAnyOf           = 0x88
	opMemberOf        = 0x89
	opDevMemberOf     = 0x8a
	opMemberOfAny     = 0x8b
	opDevMemberOfAny  = 0x8c
	opNotExists       = 0x8d
	opNotContains     = 0x8e
	opNotAnyOf        = 0x8f
	opNotMemberOf     = 0x90
	opNotDevMemberOf  = 0x91
	opNotMemberOfAny  = 0x92
	opNotDevMemberAny = 0x93
	opAnd             = 0xa0
	opOr              = 0xa1
	opNot             = 0xa2
	opLocalAttr       = 0xf8
	opUserAttr        = 0xf9
	opResourceAttr    = 0xfa
	opDeviceAttr      = 0xfb
)

// Limits that keep evaluation bounded on hostile input.
const (
	// maxConditionLen is the most application data an ACE can hold.
	maxConditionLen = 0xFFFF
	// maxCompositeDepth bounds composites nested in composites.
	maxCompositeDepth = 4
	// maxStackDepth bounds the evaluation stack.
	maxStackDepth = 1024
)

var conditionMagic = []byte("artx")

var errMalformed = errors.New("malformed conditional expression")

// tri is a three-valued truth value.
type tri uint8

const (
	triUnknown tri = iota
	triFalse
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

func (t tri) and(u tri) tri {
	switch {
	case t == triFalse || u == triFalse:
		return triFalse
	case t == triTrue && u == triTrue:
		return triTrue
	}
	return triUnknown
}

func (t tri) or(u tri) tri {
	switch {
	case t == triTrue || u == triTrue:
		return triTrue
	case t == triFalse && u == triFalse:
		return triFalse
	}
	return triUnknown
}

// String returns TRUE, FALSE or UNKNOWN.
func (t tri) String() string {
	return [...]string{"UNKNOWN", "FALSE", "TRUE"}[t]
}

// condKind classifies decoded tokens and evaluation values.
type condKind uint8

const (
	kindOperator  condKind = iota
	kindLiteral            // integer, string or octet string literal
	kindSID                // SID literal
	kindComposite          // composite literal
	kindAttribute          // attribute reference (always absent)
	kindResult             // a truth value computed by an operator
)

// condToken is one decoded bytecode token.
type condToken struct {
	kind  condKind
	op    byte
	sid   SID         // kindSID
	elems []condToken // kindComposite
}

// decodeCondition splits bytecode into tokens. Padding (0x00) may only
// fill the end.
func decodeCondition(b []byte) ([]condToken, error) {
	if len(b) > maxConditionLen || !bytes.HasPrefix(b, conditionMagic) {
		return nil, errMalformed
	}
	return decodeTokens(b[len(conditionMagic):], 0)
}

// decodeTokens decodes every token of b; depth counts enclosing composites.
// At the top level a padding byte ends the program and must be followed
// only by padding.
func decodeTokens(b []byte, depth int) ([]condToken, error) {
	var toks []condToken
	for len(b) > 0 {
		if b[0] == opPadding && depth == 0 {
			if bytes.Count(b, []byte{opPadding}) != len(b) {
				return nil, errMalformed
			}
			break
		}
		tok, n, err := decodeToken(b, depth)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		b = b[n:]
	}
	return toks, nil
}

// decodeToken decodes the token at the start of b and returns its length,
// always at least 1.
func decodeToken(b []byte, depth int) (condToken, int, error) {
	op := b[0]
	switch op {
	case opInt8, opInt16, opInt32, opInt64:
		return decodeInteger(b)
	case opString, opOctetString:
		_, n, err := lengthPrefixed(b, op == opString)
		return condToken{kind: kindLiteral, op: op}, n, err
	case opLocalAttr, opUserAttr, opResourceAttr, opDeviceAttr:
		name, n, err := lengthPrefixed(b, true)
		if err == nil && len(name) == 0 {
			err = errMalformed
		}
		return condToken{kind: kindAttribute, op: op}, n, err
	case opSID:
		return decodeSIDToken(b)
	case opComposite:
		return decodeComposite(b, depth)
	}
	if isOperator(op) {
		return condToken{kind: kindOperator, op: op}, 1, nil
	}
	return condToken{}, 0, errMalformed
}

// decodeInteger checks an integer literal: 8 value bytes, a sign byte
// (1 +, 2 -, 3 none) and a base byte (1 octal, 2 decimal, 3 hex).
func decodeInteger(b []byte) (condToken, int, error) {
	const n = 1 + 8 + 1 + 1
	if len(b) < n || b[9] < 1 || b[9] > 3 || b[10] < 1 || b[10] > 3 {
		return condToken{}, 0, errMalformed
	}
	return condToken{kind: kindLiteral, op: b[0]}, n, nil
}

// lengthPrefixed returns the payload of a token made of the opcode, a
// 32-bit little-endian byte length and the payload; utf16 payloads must
// have an even length.
func lengthPrefixed(b []byte, utf16 bool) ([]byte, int, error) {
	if len(b) < 5 {
		return nil, 0, errMalformed
	}
	size := binary.LittleEndian.Uint32(b[1:5])
	if uint64(size) > uint64(len(b)-5) || (utf16 && size%2 != 0) {
		return nil, 0, errMalformed
	}
	return b[5 : 5+size], 5 + int(size), nil
}

func decodeSIDToken(b []byte) (condToken, int, error) {
	payload, n, err := lengthPrefixed(b, false)
	if err != nil {
		return condToken{}, 0, err
	}
	sid, err := SIDFromBinary(payload)
	if err != nil {
		return condToken{}, 0, errMalformed
	}
	return condToken{kind: kindSID, op: opSID, sid: sid}, n, nil
}

// decodeComposite decodes a composite literal, whose elements must be
// literals themselves.
func decodeComposite(b []byte, depth int) (condToken, int, error) {
	if depth >= maxCompositeDepth {
		return condToken{}, 0, errMalformed
	}
	payload, n, err := lengthPrefixed(b, false)
	if err != nil {
		return condToken{}, 0, err
	}
	elems, err := decodeTokens(payload, depth+1)
	if err != nil {
		return condToken{}, 0, err
	}
	for _, e := range elems {
		if e.kind == kindOperator || e.kind == kindAttribute {
			return condToken{}, 0, errMalformed
		}
	}
	return condToken{kind: kindComposite, op: opComposite, elems: elems}, n, nil
}

func isOperator(op byte) bool {
	return (op >= opEqual && op <= opNotDevMemberAny) || (op >= opAnd && op <= opNot)
}

// conditionEnv answers membership questions for the evaluator: whether a
// SID is a member of the caller as the current pass and ACE polarity see
// it.
type conditionEnv interface {
	memberOf(sid SID) bool
}

// condValue is an entry of the evaluation stack.
type condValue struct {
	kind  condKind
	truth tri   // kindResult
	sids  []SID // kindSID, or kindComposite made only of SIDs
}

// evaluateCondition evaluates bytecode against env. Malformed bytecode,
// including empty application data, is UNKNOWN.
func evaluateCondition(b []byte, env conditionEnv) tri {
	toks, err := decodeCondition(b)
	if err != nil {
		return triUnknown
	}
	t, err := runCondition(toks, env)
	if err != nil {
		return triUnknown
	}
	return t
}

// runCondition runs the postfix program and returns its single result.
func runCondition(toks []condToken, env conditionEnv) (tri, error) {
	var stack []condValue
	for _, tok := range toks {
		var err error
		if stack, err = step(stack, tok, env); err != nil {
			return triUnknown, err
		}
		if len(stack) > maxStackDepth {
			return triUnknown, errMalformed
		}
	}
	if len(stack) != 1 {
		return triUnknown, errMalformed
	}
	return truthOf(stack[0])
}

// step applies one token to the stack.
func step(stack []condValue, tok condToken, env conditionEnv) ([]condValue, error) {
	if tok.kind != kindOperator {
		return append(stack, valueOf(tok)), nil
	}
	arity := 1
	if isBinary(tok.op) {
		arity = 2
	}
	if len(stack) < arity {
		return nil, errMalformed
	}
	args := stack[len(stack)-arity:]
	v, err := apply(tok.op, args, env)
	if err != nil {
		return nil, err
	}
	return append(stack[:len(stack)-arity], v), nil
}

// valueOf turns a literal or attribute token into a stack value.
func valueOf(tok condToken) condValue {
	v := condValue{kind: tok.kind}
	switch tok.kind {
	case kindSID:
		v.sids = []SID{tok.sid}
	case kindComposite:
		v.sids = compositeSIDs(tok.elems)
	}
	return v
}

// compositeSIDs returns the SIDs of a composite made only of SIDs, nil
// otherwise.
func compositeSIDs(elems []condToken) []SID {
	sids := make([]SID, 0, len(elems))
	for _, e := range elems {
		if e.kind != kindSID {
			return nil
		}
		sids = append(sids, e.sid)
	}
	return sids
}

func isBinary(op byte) bool {
	switch op {
	case opEqual, opNotEqual, opLess, opLessEqual, opGreater, opGreaterEqual,
		opContains, opAnyOf, opNotContains, opNotAnyOf, opAnd, opOr:
		return true
	}
	return false
}

// apply evaluates one operator on its operands.
func apply(op byte, args []condValue, env conditionEnv) (condValue, error) {
	switch op {
	case opAnd, opOr:
		return logical(op, args[0], args[1])
	case opNot:
		t, err := truthOf(args[0])
		return result(t.not()), err
	case opExists, opNotExists:
		if args[0].kind != kindAttribute {
			return condValue{}, errMalformed
		}
		return result(triOf(op == opNotExists)), nil
	case opMemberOf, opMemberOfAny, opNotMemberOf, opNotMemberOfAny,
		opDevMemberOf, opDevMemberOfAny, opNotDevMemberOf, opNotDevMemberAny:
		return membership(op, args[0], env)
	}
	return compare(args[0], args[1])
}

func result(t tri) condValue { return condValue{kind: kindResult, truth: t} }

// truthOf converts an operand of a logical operator: a result is itself,
// an absent attribute is UNKNOWN, a literal is malformed.
func truthOf(v condValue) (tri, error) {
	switch v.kind {
	case kindResult:
		return v.truth, nil
	case kindAttribute:
		return triUnknown, nil
	}
	return triUnknown, errMalformed
}

func logical(op byte, l, r condValue) (condValue, error) {
	lt, err := truthOf(l)
	if err != nil {
		return condValue{}, err
	}
	rt, err := truthOf(r)
	if err != nil {
		return condValue{}, err
	}
	if op == opAnd {
		return result(lt.and(rt)), nil
	}
	return result(lt.or(rt)), nil
}

// compare evaluates a relational or set operator. One operand must be an
// attribute; it is absent, so the answer is UNKNOWN.
func compare(l, r condValue) (condValue, error) {
	if l.kind == kindResult || r.kind == kindResult {
		return condValue{}, errMalformed
	}
	if l.kind != kindAttribute && r.kind != kindAttribute {
		return condValue{}, errMalformed
	}
	return result(triUnknown), nil
}

// membership evaluates the Member_of family.
func membership(op byte, arg condValue, env conditionEnv) (condValue, error) {
	if (arg.kind != kindSID && arg.kind != kindComposite) || len(arg.sids) == 0 {
		return condValue{}, errMalformed
	}
	switch op {
	case opDevMemberOf, opDevMemberOfAny, opNotDevMemberOf, opNotDevMemberAny:
		return result(triUnknown), nil
	case opMemberOf:
		return result(triOf(allMembers(arg.sids, env))), nil
	case opNotMemberOf:
		return result(triOf(!allMembers(arg.sids, env))), nil
	case opMemberOfAny:
		return result(triOf(anyMember(arg.sids, env))), nil
	}
	return result(triOf(!anyMember(arg.sids, env))), nil
}

func allMembers(sids []SID, env conditionEnv) bool {
	for _, s := range sids {
		if !env.memberOf(s) {
			return false
		}
	}
	return true
}

func anyMember(sids []SID, env conditionEnv) bool {
	for _, s := range sids {
		if env.memberOf(s) {
			return true
		}
	}
	return false
}

// ValidateCondition reports whether b is well-formed conditional bytecode
// that this package can evaluate: it decodes, and running it with no
// memberships yields one truth value.
func ValidateCondition(b []byte) error {
	toks, err := decodeCondition(b)
	if err != nil {
		return fmt.Errorf("decode: %w", ErrInvalidCondition)
	}
	if _, err := runCondition(toks, noMembers{}); err != nil {
		return fmt.Errorf("evaluate: %w", ErrInvalidCondition)
	}
	return nil
}

// noMembers is the environment in which nothing is a member.
type noMembers struct{}

func (noMembers) memberOf(SID) bool { return false }
