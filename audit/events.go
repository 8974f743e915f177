package audit

// The actions of the audit log. Instance events and compare/verify questions are visible only
// to the principal they concern (and the operator): when a yield ends is something the yield
// chooses, and its builder must never learn it. Factory events are public.
const (
	FactoryCreated       = "factory.created"
	ProgramSet           = "program.set"
	ComponentInstalled   = "component.installed"
	SyscallsAllowed      = "syscalls.allowed"
	ChargesDeclared      = "charges.declared"
	CapabilitiesDeclared = "capabilities.declared"
	DescriptorChanged    = "descriptor.changed"
	FactorySealed        = "factory.sealed"
	FactoryDestroyed     = "factory.destroyed"
	InstanceCreated      = "instance.created"
	InstanceEnded        = "instance.ended"
	CompareAsked         = "compare.asked"
	VerifyAsked          = "verify.asked"
	YieldOpened          = "yield.opened"
)
