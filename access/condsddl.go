package access

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The text form of conditional expressions, as written in the last field
// of an SDDL callback ACE. This package supports the membership operators
// and the logical operators:
//
//	expr       = and *( "||" and )
//	and        = unary *( "&&" unary )
//	unary      = "!" unary / "(" expr ")" / membership
//	membership = member-op ( sid-literal / "{" sid-literal *( "," sid-literal ) "}" )
//	member-op  = Member_of / Not_Member_of / Member_of_Any / Not_Member_of_Any
//	           / Device_Member_of / Not_Device_Member_of
//	           / Device_Member_of_Any / Not_Device_Member_of_Any
//	sid-literal = "SID(" ( SDDL alias / S-1-... ) ")"
//
// Operator names are matched without regard to case; spaces may separate
// tokens. A single SID literal compiles to a SID token, braces to a
// composite, so the two forms round-trip distinctly.

// maxConditionNesting bounds parentheses and "!" nesting in condition text.
const maxConditionNesting = 64

var memberOps = []struct {
	op   byte
	name string
}{
	{opMemberOf, "Member_of"},
	{opNotMemberOf, "Not_Member_of"},
	{opMemberOfAny, "Member_of_Any"},
	{opNotMemberOfAny, "Not_Member_of_Any"},
	{opDevMemberOf, "Device_Member_of"},
	{opNotDevMemberOf, "Not_Device_Member_of"},
	{opDevMemberOfAny, "Device_Member_of_Any"},
	{opNotDevMemberAny, "Not_Device_Member_of_Any"},
}

// CompileCondition compiles condition text (without the enclosing
// parentheses of the SDDL field) to bytecode starting with "artx".
func CompileCondition(text string) ([]byte, error) {
	p := &condParser{s: text, kind: ErrInvalidCondition}
	return p.compile(len(text))
}

// condParser compiles condition text found in s from pos on. kind is the
// error class of its syntax errors.
type condParser struct {
	s     string
	pos   int
	kind  error
	depth int
	out   []byte
}

func (p *condParser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...), kind: p.kind}
}

// compile parses one expression that must end at end.
func (p *condParser) compile(end int) ([]byte, error) {
	p.out = append([]byte(nil), conditionMagic...)
	if err := p.expr(); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != end {
		return nil, p.errorf("unexpected %q after the expression", p.rest(8))
	}
	if len(p.out) > maxConditionLen {
		return nil, p.errorf("expression compiles to %d bytes, at most %d", len(p.out), maxConditionLen)
	}
	return p.out, nil
}

// primaryInParens parses "(" expr ")", the form of the SDDL field.
func (p *condParser) primaryInParens() ([]byte, error) {
	p.out = append([]byte(nil), conditionMagic...)
	if !p.accept("(") {
		return nil, p.errorf("expected '(' to open the condition")
	}
	if err := p.nested(p.expr); err != nil {
		return nil, err
	}
	if !p.accept(")") {
		return nil, p.errorf("expected ')' to close the condition")
	}
	if len(p.out) > maxConditionLen {
		return nil, p.errorf("condition compiles to %d bytes, at most %d", len(p.out), maxConditionLen)
	}
	return p.out, nil
}

func (p *condParser) expr() error {
	if err := p.and(); err != nil {
		return err
	}
	for p.accept("||") {
		if err := p.and(); err != nil {
			return err
		}
		p.out = append(p.out, opOr)
	}
	return nil
}

func (p *condParser) and() error {
	if err := p.unary(); err != nil {
		return err
	}
	for p.accept("&&") {
		if err := p.unary(); err != nil {
			return err
		}
		p.out = append(p.out, opAnd)
	}
	return nil
}

func (p *condParser) unary() error {
	switch {
	case p.accept("!"):
		if err := p.nested(p.unary); err != nil {
			return err
		}
		p.out = append(p.out, opNot)
		return nil
	case p.accept("("):
		if err := p.nested(p.expr); err != nil {
			return err
		}
		if !p.accept(")") {
			return p.errorf("expected ')'")
		}
		return nil
	}
	return p.membership()
}

// nested runs f one nesting level deeper, refusing to go past the limit.
func (p *condParser) nested(f func() error) error {
	if p.depth >= maxConditionNesting {
		return p.errorf("expression nested deeper than %d", maxConditionNesting)
	}
	p.depth++
	defer func() { p.depth-- }()
	return f()
}

func (p *condParser) membership() error {
	p.skipSpace()
	start := p.pos
	word := p.word()
	for _, m := range memberOps {
		if strings.EqualFold(word, m.name) {
			if err := p.sidOperand(); err != nil {
				return err
			}
			p.out = append(p.out, m.op)
			return nil
		}
	}
	p.pos = start
	return p.errorf("expected a membership operator, '!' or '(', found %q", p.rest(16))
}

// sidOperand parses a SID literal or a braced list of them.
func (p *condParser) sidOperand() error {
	if !p.accept("{") {
		return p.sidLiteral()
	}
	at := len(p.out)
	p.out = append(p.out, opComposite, 0, 0, 0, 0)
	for {
		if err := p.sidLiteral(); err != nil {
			return err
		}
		if p.accept("}") {
			break
		}
		if !p.accept(",") {
			return p.errorf("expected ',' or '}' in the SID list")
		}
	}
	binary.LittleEndian.PutUint32(p.out[at+1:], uint32(len(p.out)-at-5))
	return nil
}

func (p *condParser) sidLiteral() error {
	p.skipSpace()
	if !strings.HasPrefix(strings.ToUpper(p.rest(4)), "SID(") {
		return p.errorf("expected SID(...)")
	}
	p.pos += len("SID(")
	end := strings.IndexByte(p.s[p.pos:], ')')
	if end < 0 {
		return p.errorf("SID( is not closed")
	}
	sid, err := parseSDDLSID(strings.TrimSpace(p.s[p.pos : p.pos+end]))
	if err != nil {
		return p.errorf("%v", err)
	}
	p.pos += end + 1
	raw := sid.Binary()
	p.out = append(p.out, opSID)
	p.out = binary.LittleEndian.AppendUint32(p.out, uint32(len(raw)))
	p.out = append(p.out, raw...)
	return nil
}

func (p *condParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// accept consumes tok after optional spaces if it comes next.
func (p *condParser) accept(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// word consumes a run of letters and underscores.
func (p *condParser) word() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// rest returns up to n bytes of the remaining input, for messages.
func (p *condParser) rest(n int) string {
	r := p.s[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

// FormatCondition writes bytecode as condition text that CompileCondition
// turns back into the same bytecode (less any trailing padding). It fails
// with ErrInvalidCondition on malformed bytecode and on operators or
// literals outside the supported subset (attributes, comparisons).
func FormatCondition(b []byte) (string, error) {
	toks, err := decodeCondition(b)
	if err != nil {
		return "", fmt.Errorf("decode: %w", ErrInvalidCondition)
	}
	var stack []condText
	for _, tok := range toks {
		if stack, err = formatStep(stack, tok); err != nil {
			return "", err
		}
	}
	if len(stack) != 1 || stack[0].operand {
		return "", fmt.Errorf("bytecode leaves %d values: %w", len(stack), ErrInvalidCondition)
	}
	return stack[0].text, nil
}

// condText is a formatted value: an operand of a membership operator or a
// truth-valued expression.
type condText struct {
	text    string
	operand bool
}

func formatStep(stack []condText, tok condToken) ([]condText, error) {
	switch {
	case tok.kind == kindSID:
		return append(stack, condText{text: formatSIDLiteral(tok.sid), operand: true}), nil
	case tok.kind == kindComposite:
		t, err := formatComposite(tok)
		return append(stack, t), err
	case tok.kind != kindOperator:
		return nil, fmt.Errorf("literal or attribute cannot be written: %w", ErrInvalidCondition)
	}
	return formatOperator(stack, tok.op)
}

func formatSIDLiteral(s SID) string { return "SID(" + formatSDDLSID(s) + ")" }

func formatComposite(tok condToken) (condText, error) {
	sids := compositeSIDs(tok.elems)
	if len(sids) == 0 {
		return condText{}, fmt.Errorf("composite is not a SID list: %w", ErrInvalidCondition)
	}
	parts := make([]string, len(sids))
	for i, s := range sids {
		parts[i] = formatSIDLiteral(s)
	}
	return condText{text: "{" + strings.Join(parts, ", ") + "}", operand: true}, nil
}

func formatOperator(stack []condText, op byte) ([]condText, error) {
	n := len(stack)
	for _, m := range memberOps {
		if m.op == op {
			if n < 1 || !stack[n-1].operand {
				return nil, fmt.Errorf("%s without a SID operand: %w", m.name, ErrInvalidCondition)
			}
			return append(stack[:n-1], condText{text: m.name + " " + stack[n-1].text}), nil
		}
	}
	switch op {
	case opNot:
		if n < 1 || stack[n-1].operand {
			return nil, fmt.Errorf("'!' without an expression: %w", ErrInvalidCondition)
		}
		return append(stack[:n-1], condText{text: "!(" + stack[n-1].text + ")"}), nil
	case opAnd, opOr:
		if n < 2 || stack[n-1].operand || stack[n-2].operand {
			return nil, fmt.Errorf("logical operator without two expressions: %w", ErrInvalidCondition)
		}
		sym := map[byte]string{opAnd: " && ", opOr: " || "}[op]
		text := "(" + stack[n-2].text + ")" + sym + "(" + stack[n-1].text + ")"
		return append(stack[:n-2], condText{text: text}), nil
	}
	return nil, fmt.Errorf("operator %#x cannot be written: %w", op, ErrInvalidCondition)
}
