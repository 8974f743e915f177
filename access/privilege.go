package access

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Privileges is a set of privileges, one bit each. The bit of a privilege
// is 1 << its Windows LUID, so values match Kobicha's and the vector files'.
type Privileges uint64

// The privileges AccessCheck consults.
const (
	// SeSecurityPrivilege grants ACCESS_SYSTEM_SECURITY.
	SeSecurityPrivilege Privileges = 1 << 8
	// SeTakeOwnershipPrivilege grants WRITE_OWNER after the DACL walk
	// unless integrity forbids it.
	SeTakeOwnershipPrivilege Privileges = 1 << 9
	// SeBackupPrivilege grants map(GENERIC_READ), only with IntentBackup.
	SeBackupPrivilege Privileges = 1 << 17
	// SeRestorePrivilege grants map(GENERIC_WRITE), WRITE_DAC,
	// WRITE_OWNER, DELETE and ACCESS_SYSTEM_SECURITY, only with
	// IntentRestore.
	SeRestorePrivilege Privileges = 1 << 18
	// SeRelabelPrivilege lets a caller below an object's integrity label
	// keep WRITE_OWNER.
	SeRelabelPrivilege Privileges = 1 << 32
)

var privilegeNames = []struct {
	p    Privileges
	name string
}{
	{SeSecurityPrivilege, "SeSecurityPrivilege"},
	{SeTakeOwnershipPrivilege, "SeTakeOwnershipPrivilege"},
	{SeBackupPrivilege, "SeBackupPrivilege"},
	{SeRestorePrivilege, "SeRestorePrivilege"},
	{SeRelabelPrivilege, "SeRelabelPrivilege"},
}

// ParsePrivilege returns the privilege named name, with or without the
// "Privilege" suffix ("SeBackupPrivilege" or "SeBackup"), or written
// "Privilege<luid>" as Names writes privileges it has no name for.
func ParsePrivilege(name string) (Privileges, error) {
	if luid, ok := strings.CutPrefix(name, "Privilege"); ok {
		n, err := strconv.ParseUint(luid, 10, 6)
		if err != nil || strconv.FormatUint(n, 10) != luid {
			return 0, fmt.Errorf("unknown privilege %q: %w", name, ErrInvalidParameter)
		}
		return 1 << n, nil
	}
	full := name
	if !strings.HasSuffix(full, "Privilege") {
		full += "Privilege"
	}
	for _, n := range privilegeNames {
		if n.name == full {
			return n.p, nil
		}
	}
	return 0, fmt.Errorf("unknown privilege %q: %w", name, ErrInvalidParameter)
}

// Names returns the names of the privileges in p, unknown bits as
// "Privilege<luid>".
func (p Privileges) Names() []string {
	var names []string
	for _, n := range privilegeNames {
		if p&n.p != 0 {
			names = append(names, n.name)
			p &^= n.p
		}
	}
	for p != 0 {
		luid := bits.TrailingZeros64(uint64(p))
		names = append(names, fmt.Sprintf("Privilege%d", luid))
		p &^= 1 << luid
	}
	return names
}

// String joins Names with "|", "0" for the empty set.
func (p Privileges) String() string {
	if p == 0 {
		return "0"
	}
	return strings.Join(p.Names(), "|")
}

// PrivilegeSet is a token's privileges: those it holds, and which of them
// are enabled. Only present and enabled privileges take effect.
type PrivilegeSet struct {
	Present Privileges // held by the token
	Enabled Privileges // turned on; must be a subset of Present
}

// Effective returns the privileges that are both present and enabled.
func (s PrivilegeSet) Effective() Privileges { return s.Present & s.Enabled }
