package access

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseSDDL parses SDDL text (see sddl.go for what is supported) into a
// validated descriptor. Errors are *SyntaxError values that unwrap to
// ErrInvalidSDDL and carry the byte offset of the problem.
func ParseSDDL(s string) (*SecurityDescriptor, error) {
	p := &sddlParser{s: s}
	if len(s) > maxSDDLLen {
		return nil, p.errorf("SDDL of %d bytes, at most %d", len(s), maxSDDLLen)
	}
	return p.descriptor()
}

// sddlParser reads SDDL from s; pos is the offset of the next byte.
type sddlParser struct {
	s   string
	pos int
}

func (p *sddlParser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...), kind: ErrInvalidSDDL}
}

func (p *sddlParser) descriptor() (*SecurityDescriptor, error) {
	sd := &SecurityDescriptor{}
	seen := map[byte]bool{}
	for p.skipSpace(); p.pos < len(p.s); p.skipSpace() {
		c, err := p.componentTag()
		if err != nil {
			return nil, err
		}
		if seen[c] {
			return nil, p.errorf("%c: appears twice", c)
		}
		seen[c] = true
		if err := p.component(c, sd); err != nil {
			return nil, err
		}
	}
	if !seen['D'] {
		return nil, p.errorf("no DACL: write D:%s for a NULL DACL", sddlNullDACL)
	}
	return sd, nil
}

// componentTag reads "O:", "G:", "D:" or "S:".
func (p *sddlParser) componentTag() (byte, error) {
	if p.pos+1 >= len(p.s) || p.s[p.pos+1] != ':' || !strings.ContainsRune("OGDS", rune(p.s[p.pos])) {
		return 0, p.errorf("expected O:, G:, D: or S:")
	}
	c := p.s[p.pos]
	p.pos += 2
	return c, nil
}

func (p *sddlParser) component(c byte, sd *SecurityDescriptor) error {
	var err error
	switch c {
	case 'O':
		sd.Owner, err = p.componentSID()
	case 'G':
		sd.Group, err = p.componentSID()
	case 'D':
		sd.DACL, err = p.acl(daclKind, &sd.Control)
	case 'S':
		sd.SACL, err = p.acl(saclKind, &sd.Control)
	}
	return err
}

// componentSID reads the SID of O: or G:, which ends where the next
// component tag or a space begins.
func (p *sddlParser) componentSID() (SID, error) {
	start := p.pos
	for p.pos < len(p.s) && isSIDChar(p.s[p.pos]) && !p.atComponentTag(start) {
		p.pos++
	}
	return p.sidAt(start)
}

func isSIDChar(c byte) bool {
	return c == '-' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// atComponentTag reports whether a component tag starts at pos, past the
// first byte of the SID that began at start.
func (p *sddlParser) atComponentTag(start int) bool {
	return p.pos > start && p.pos+1 < len(p.s) && p.s[p.pos+1] == ':' &&
		strings.ContainsRune("OGDS", rune(p.s[p.pos]))
}

// sidAt parses s[start:pos] as an SDDL SID, reporting errors at start.
func (p *sddlParser) sidAt(start int) (SID, error) {
	text := p.s[start:p.pos]
	sid, err := parseSDDLSID(text)
	if err != nil {
		p.pos = start
		if text == "" {
			return SID{}, p.errorf("expected a SID")
		}
		return SID{}, p.errorf("%v", err)
	}
	return sid, nil
}

// acl reads ACL flags and ACEs up to the next component or the end.
func (p *sddlParser) acl(k aclKind, ctl *Control) (*ACL, error) {
	p.aclFlags(k, ctl)
	if strings.HasPrefix(p.s[p.pos:], sddlNullDACL) {
		if k.name != daclKind.name {
			return nil, p.errorf("%s applies to a DACL only", sddlNullDACL)
		}
		p.pos += len(sddlNullDACL)
		return nil, nil
	}
	acl := &ACL{ACEs: []ACE{}}
	for p.skipSpace(); p.pos < len(p.s) && p.s[p.pos] == '('; p.skipSpace() {
		ace, err := p.ace(k)
		if err != nil {
			return nil, err
		}
		acl.ACEs = append(acl.ACEs, ace)
	}
	return acl, nil
}

// aclFlags reads any of P, AR and AI.
func (p *sddlParser) aclFlags(k aclKind, ctl *Control) {
	for {
		switch {
		case strings.HasPrefix(p.s[p.pos:], "P"):
			*ctl |= k.protected
			p.pos++
		case strings.HasPrefix(p.s[p.pos:], "AI"):
			*ctl |= k.inherited
			p.pos += 2
		case strings.HasPrefix(p.s[p.pos:], "AR"):
			*ctl |= k.required
			p.pos += 2
		default:
			return
		}
	}
}

// ace reads one parenthesised ACE and validates it.
func (p *sddlParser) ace(k aclKind) (ACE, error) {
	start := p.pos
	p.pos++ // '('
	var ace ACE
	fields := []func() error{
		func() error { return p.aceType(&ace, k) },
		func() error { return p.aceFlags(&ace) },
		func() error { return p.aceRights(&ace) },
		func() error { return p.aceGUID(&ace, &ace.ObjectType) },
		func() error { return p.aceGUID(&ace, &ace.InheritedObjectType) },
	}
	for _, field := range fields {
		if err := field(); err != nil {
			return ACE{}, err
		}
		if err := p.expect(';'); err != nil {
			return ACE{}, err
		}
	}
	if err := p.aceSID(&ace); err != nil {
		return ACE{}, err
	}
	if err := p.aceCondition(&ace); err != nil {
		return ACE{}, err
	}
	if err := p.expect(')'); err != nil {
		return ACE{}, err
	}
	if err := ace.validate(); err != nil {
		p.pos = start
		return ACE{}, p.errorf("%v", err)
	}
	return ace, nil
}

func (p *sddlParser) expect(c byte) error {
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		return p.errorf("expected %q", c)
	}
	p.pos++
	return nil
}

// field returns the text up to the next ';' or ')', and moves past it.
func (p *sddlParser) field() (string, int) {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != ';' && p.s[p.pos] != ')' {
		p.pos++
	}
	return p.s[start:p.pos], start
}

func (p *sddlParser) aceType(ace *ACE, k aclKind) error {
	code, start := p.field()
	for _, t := range sddlACETypes {
		if t.code == code {
			if !k.allows(t.typ) {
				p.pos = start
				return p.errorf("ACE type %s does not belong in a %s", code, k.name)
			}
			ace.Type = t.typ
			return nil
		}
	}
	p.pos = start
	return p.errorf("unknown ACE type %q", code)
}

func (p *sddlParser) aceFlags(ace *ACE) error {
	text, start := p.field()
	for i := 0; i < len(text); i += 2 {
		f, ok := lookupFlag(text[i:min(i+2, len(text))])
		if !ok {
			p.pos = start + i
			return p.errorf("unknown ACE flag %q", text[i:min(i+2, len(text))])
		}
		ace.Flags |= f
	}
	return nil
}

func lookupFlag(code string) (ACEFlags, bool) {
	for _, c := range sddlACEFlags {
		if c.code == code {
			return c.flag, true
		}
	}
	return 0, false
}

// aceRights reads 0x hex or letter codes; a mandatory label takes only
// NR, NW and NX.
func (p *sddlParser) aceRights(ace *ACE) error {
	text, start := p.field()
	codes := sddlAccessRights
	if ace.Type == ACEMandatoryLabel {
		codes = sddlLabelRights
	}
	m, err := parseRights(text, codes)
	if err != nil {
		p.pos = start
		return p.errorf("rights %q: %v", text, err)
	}
	ace.Mask = m
	return nil
}

func parseRights(text string, codes []rightCode) (AccessMask, error) {
	if hex, ok := strings.CutPrefix(text, "0x"); ok {
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return 0, errors.New("not a 32-bit hex number")
		}
		return AccessMask(v), nil
	}
	var m AccessMask
	for i := 0; i < len(text); i += 2 {
		code := text[i:min(i+2, len(text))]
		found := false
		for _, c := range codes {
			if c.code == code {
				m |= c.bits
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown right %q", code)
		}
	}
	return m, nil
}

func (p *sddlParser) aceGUID(ace *ACE, g *GUID) error {
	text, start := p.field()
	if text == "" {
		return nil
	}
	if !ace.Type.IsObject() {
		p.pos = start
		return p.errorf("object GUID on a %v ACE", ace.Type)
	}
	v, err := ParseGUID(text)
	if err != nil || v == (GUID{}) {
		p.pos = start
		return p.errorf("bad object GUID %q", text)
	}
	*g = v
	return nil
}

func (p *sddlParser) aceSID(ace *ACE) error {
	_, start := p.field()
	sid, err := p.sidAt(start)
	ace.SID = sid
	return err
}

// aceCondition reads the optional ";(condition)" of a callback ACE.
func (p *sddlParser) aceCondition(ace *ACE) error {
	if p.pos >= len(p.s) || p.s[p.pos] != ';' {
		return nil
	}
	p.pos++
	if !ace.Type.IsCallback() {
		return p.errorf("condition on a %v ACE", ace.Type)
	}
	cp := &condParser{s: p.s, pos: p.pos, kind: ErrInvalidSDDL}
	cond, err := cp.primaryInParens()
	if err != nil {
		return err
	}
	p.pos = cp.pos
	ace.Condition = cond
	return nil
}

func (p *sddlParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n') {
		p.pos++
	}
}
