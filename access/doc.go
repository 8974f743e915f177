// Package access is factoryd's access-by-name model: Kobicha (Peios KACS
// v0.20) tokens, security descriptors, and the access check that decides
// what a caller may do to a named object, including application
// confinement of the programs a factory yields.
//
// # Model
//
// A Token says who the caller is (user and groups with attributes), what
// it may do regardless of ACLs (privileges), how far it is trusted
// (integrity level), and how it is narrowed: restricting SIDs, and a
// confinement SID with capability SIDs. A SecurityDescriptor protects an
// object: owner, DACL (nil is a NULL DACL, which grants everything; an
// empty DACL grants nothing) and SACL (mandatory label). AccessCheck
// combines them; SDDL is the text form administrators write.
//
// Tokens for unix-socket peers come from TokenForUnixPeer; a factory's
// yield runs under ConfinedToken(peer, ConfinementSID(factoryID), caps,
// strict), whose capabilities come from CapabilitySID.
//
// # Access check
//
// AccessCheck follows Kobicha v0.20 (shared/specs/access-check.md), in
// this order:
//
//  0. an impersonation token below Impersonation level is refused
//     (ErrAccessDenied);
//  1. a missing descriptor or owner is an error;
//  2. desired access is mapped; MAXIMUM_ALLOWED asks for every valid right;
//  3. privileges take effect only present and enabled, SeBackupPrivilege
//     only with IntentBackup, SeRestorePrivilege only with IntentRestore;
//  4. ACCESS_SYSTEM_SECURITY is decided before any ACE, so only
//     SeSecurityPrivilege or SeRestorePrivilege grants it; privilege
//     grants are decided and remembered;
//  5. integrity: a caller below the object's label keeps only
//     map(GENERIC_READ)|map(GENERIC_EXECUTE), less what the label's
//     NO_READ_UP/NO_WRITE_UP/NO_EXECUTE_UP forbid (bits numbered as in
//     Kobicha), plus WRITE_OWNER with SeRelabelPrivilege;
//  6. the normal pass walks the DACL as the full token, with the owner's
//     implicit READ_CONTROL|WRITE_DAC unless an ACE names OWNER_RIGHTS;
//  9. SeTakeOwnershipPrivilege grants WRITE_OWNER if asked and integrity
//     allows;
//  10. a restricted token's grant is intersected with a pass over its
//     restricting SIDs (write rights only when write-restricted), then
//     privilege grants are restored;
//  11. a confined token's grant is intersected with a pass over its
//     confinement SID and capabilities, by presence only, without owner
//     implicit rights; nothing is restored afterwards, so no privilege
//     bypasses confinement;
//  15. access is allowed if every desired right is granted.
//
// In each pass the DACL is read in its stored order; the first ACE to
// decide a right wins; the walk stops once every asked-for right is
// decided, except under MAXIMUM_ALLOWED. A group matches an allow ACE if
// enabled and not deny-only, a deny ACE if enabled or deny-only. Callback
// ACEs hold MS-DTYP conditional expressions evaluated in three-valued
// logic: an allow ACE applies only if its condition is TRUE, a deny ACE
// unless it is FALSE. The returned mask is the raw grant, which can hold
// rights not asked for.
//
// # Rules
//
//   - Denial is a result, not an error. Errors wrap one of the errors in
//     errors.go and are reserved for malformed input and the gates of
//     steps 0 and 1.
//   - Nothing here holds state, locks or goroutines: every function is
//     safe for concurrent use on values no goroutine is modifying.
//   - Inputs from outside (SDDL, conditional bytecode, token JSON) are
//     validated and bounded; malformed conditional bytecode evaluates to
//     UNKNOWN, never to a panic or an unbounded loop.
//   - Positive confinement is not a mechanism: a capability SID in a
//     token's ordinary groups is an ordinary group. It widens the normal
//     pass only; a confined token still meets the confinement pass.
package access
